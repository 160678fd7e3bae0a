"""The harness's own teardown checks (tests/harness/daemon.py): a sanitizer report in a daemon's
log, or a daemon exiting non-zero after SIGTERM, fails the test that used it."""

import os

import pytest


def test_sanitizer_report_in_log_fails_teardown(daemon_factory):
    rc = daemon_factory()
    with open(rc.log_path, "a") as log:
        log.write("==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n")
    with pytest.raises(AssertionError, match="sanitizer report in rollcalld's log"):
        rc.stop_and_check()


def test_nonzero_exit_fails_teardown(daemon_factory):
    rc = daemon_factory()
    os.kill(rc.pid, 9)  # no clean drain: exit status -9, not 0
    rc.proc.wait()
    with pytest.raises(AssertionError, match="exited -9 after SIGTERM"):
        rc.stop_and_check()
