"""The real rollcall client binary, run against a daemon as one client certificate."""

import os
import subprocess
from pathlib import Path

from .common import ROLLCALL, assert_no_sanitizer_report, require


def write_config(path, url, cert, key, ca):
    """Writes a rollcall client config file and returns its path."""
    path = Path(path)
    path.write_text(
        "# rollcall client configuration written by the test harness (tests/harness)\n"
        f"url = {url}\ncert = {cert}\nkey = {key}\nca = {ca}\n"
    )
    return path


def environment(config, home):
    """The environment the client runs in: its config, a HOME of its own (never the developer's
    ~/.config/rollcall), Copenhagen time and a UTF-8 locale unless set."""
    env = dict(os.environ)
    env["ROLLCALL_CONFIG"] = str(config)
    env["HOME"] = str(home)
    env.setdefault("TZ", "Europe/Copenhagen")
    env.setdefault("LANG", "C.UTF-8")
    return env


def run_client(args, env, cwd, input=None, timeout=60, binary=None):
    """Runs rollcall with args; returns (exit status, stdout, stderr). Fails on a sanitizer
    report in stderr."""
    binary = binary or ROLLCALL
    require(binary)
    proc = subprocess.run(
        [str(binary), *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    assert_no_sanitizer_report(proc.stderr, "rollcall's stderr")
    return proc.returncode, proc.stdout, proc.stderr
