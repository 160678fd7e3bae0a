"""Alerting impaired (SPEC sections 4 and 8, v2): while the daemon cannot reach PostgreSQL every
open alert stream gets `event: status` {"database":"unreachable","since"} at once and keeps its
heartbeats; when PostgreSQL is back, {"database":"ok","since"} on the same stream, which then
carries on live. A stream opened during the outage gets the status at once and is authorised
when the database is back (or ended, if the account may not watch). Nothing is said on connect
while all is well."""

import json
import os
import select
import signal
import subprocess
import time

from alerts_helpers import Centre, SseStream, at, wait_until
from harness import ROLLCALL, ok

DAY = "2026-11-20"
NOTICE_SECONDS = 2.0  # "at once": the pool notices a stopped server within milliseconds
RECOVERY_SECONDS = 20


def status_events(stream, count, timeout):
    return [json.loads(e.data) for e in stream.collect(lambda evs: len(evs) >= count,
                                                       timeout=timeout, names=("status",))]


def wait_ready(daemon):
    wait_until(lambda: daemon.admin.get("/readyz").status == 200, timeout=RECOVERY_SECONDS,
               interval=0.25, what="readyz after PostgreSQL returned")


def test_streams_are_told_when_postgresql_goes_and_comes_back(daemon_factory, cluster):
    rc = daemon_factory(config={"sse_heartbeat": "1"})
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    resident = centre.resident()
    with centre.stream() as watcher, centre.stream(cn=f"manager-{centre.id}") as manager:
        wait_until(lambda: watcher.head is not None and manager.head is not None,
                   what="both streams' head comments")
        # All is well: no status line on connect.
        assert watcher.drain(quiet=0.5, names=("status",)) == []
        with cluster.stopped():
            stopped_at = time.monotonic()
            for stream in (watcher, manager):
                [down] = status_events(stream, 1, NOTICE_SECONDS)
                assert down["database"] == "unreachable"
                assert down["since"].startswith("2026-11-20T07:00:00")  # the daemon's clock
            assert time.monotonic() - stopped_at < NOTICE_SECONDS
            # Heartbeats keep flowing and the stream stays open.
            beats = watcher.comments.count("hb")
            wait_until(lambda: watcher.comments.count("hb") >= beats + 2, timeout=5,
                       what="heartbeats during the outage")
            assert not watcher.closed.is_set()
        for stream in (watcher, manager):
            [back] = status_events(stream, 1, RECOVERY_SECONDS)
            assert back["database"] == "ok" and "since" in back
        assert not watcher.closed.is_set() and not manager.closed.is_set()
        wait_ready(rc)
        # The same streams carry on live.
        rc.set_clock(at(DAY, "09:00"))
        absence = centre.report(resident, expect=(201,))
        for stream in (watcher, manager):
            ev = stream.next(timeout=10)
            assert ev.alert["kind"] == "resident_absent"
            assert ev.alert["absence"] == absence["id"]
        assert watcher.drain(quiet=0.5, names=("status",)) == []


def test_a_stream_opened_during_the_outage_is_told_at_once_and_authorised_later(
        daemon_factory, cluster):
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    other = Centre(rc, prefix="other")
    resident = centre.resident()
    centre.oncall  # noqa: B018  (the accounts exist before the outage)
    other.oncall  # noqa: B018
    with cluster.stopped():
        opened = SseStream(rc, centre.oncall_cn, centre.id)
        intruder = SseStream(rc, other.oncall_cn, centre.id)  # not this account's centre
        for stream in (opened, intruder):
            assert stream.status == 200
            [down] = status_events(stream, 1, NOTICE_SECONDS)
            assert down["database"] == "unreachable"
        # Not authorised yet: nothing of the centre's, not even its head.
        assert opened.head is None and intruder.head is None
    try:
        [back] = status_events(opened, 1, RECOVERY_SECONDS)
        assert back["database"] == "ok"
        # Authorised now: the stream reads its head and goes live.
        wait_until(lambda: opened.head is not None, timeout=RECOVERY_SECONDS,
                   what="the head once authorised")
        # The account of another centre is refused once it can be checked: its stream ends
        # without a single alert, and a reconnect gets the 403 as an answer.
        assert intruder.closed.wait(RECOVERY_SECONDS)
        assert intruder.head is None
        wait_ready(rc)
        rc.set_clock(at(DAY, "09:00"))
        absence = centre.report(resident, expect=(201,))
        ev = opened.next(timeout=10)
        assert ev.alert["absence"] == absence["id"]
        assert [e for e in intruder.drain(quiet=0.2) if e.name == "alert"] == []
        again = SseStream(rc, other.oncall_cn, centre.id)
        assert again.status == 403
    finally:
        opened.close()
        intruder.close()


def read_lines_until(proc, predicate, timeout):
    """Lines of proc's stdout until one satisfies predicate. Reads the pipe's bytes itself: a
    text readline would take several lines into Python's buffer, where select cannot see
    them (watch prints the open alerts as it starts)."""
    lines = []
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    pending = getattr(proc, "_pending_bytes", b"")
    while True:
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            line = raw.decode("utf-8", "replace") + "\n"
            lines.append(line)
            if predicate(line):
                proc._pending_bytes = pending
                return lines
        if time.monotonic() >= deadline:
            break
        ready, _, _ = select.select([fd], [], [], 0.25)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
    proc._pending_bytes = pending
    raise AssertionError(f"watch printed no such line within {timeout} s: {lines}")


def test_watch_says_loudly_when_alerting_is_impaired_and_when_it_is_back(daemon_factory,
                                                                        cluster):
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc, prefix="watch")
    centre.oncall  # noqa: B018
    proc = subprocess.Popen(
        [str(ROLLCALL), "watch", "--centre", centre.id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(rc.client_env(centre.oncall_cn), NO_PROXY="*", no_proxy="*"), cwd=rc.dir)
    try:
        rc.wait_for_log(f"{centre.oncall_cn} watches {centre.id}", timeout=10)
        with cluster.stopped():
            lines = read_lines_until(proc, lambda line: "ALERTING IMPAIRED" in line,
                                     NOTICE_SECONDS + 1)
            assert "08:00" in lines[-1]  # since, in the centre's local time
        lines = read_lines_until(proc, lambda line: "alerting restored" in line,
                                 RECOVERY_SECONDS)
        assert proc.poll() is None  # still watching, on the same stream
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()



def test_a_lost_listener_keeps_the_streams_and_they_miss_nothing(daemon_factory):
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    residents = [centre.resident() for _ in range(3)]
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        rc.set_clock(at(DAY, "09:00"))
        first = centre.report(residents[0], expect=(201,))
        assert watcher.next(timeout=10).alert["absence"] == first["id"]
        # Only the LISTEN connection goes: NOTIFYs sent until it is back are lost to it.
        killed = rc.db.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE '%%LISTEN%%' "
            "AND pid <> pg_backend_pid()")
        assert killed == 1
        missed = [centre.report(r, expect=(201,))["id"] for r in residents[1:]]
        got = watcher.collect(lambda evs: {e.alert["absence"] for e in evs
                                           if e.name == "alert"} >= set(missed),
                              timeout=RECOVERY_SECONDS, names=("alert", "status"))
        alerts = [e for e in got if e.name == "alert"]
        assert [e.alert["absence"] for e in alerts] == missed  # in order, once each
        assert not watcher.closed.is_set()
        states = [json.loads(e.data)["database"] for e in got if e.name == "status"]
        states += [json.loads(e.data)["database"]
                   for e in watcher.drain(quiet=1.0, names=("status",))]
        assert states in ([], ["unreachable", "ok"]), states
        assert watcher.drain(quiet=0.5, names=("alert",)) == []


def test_an_account_disabled_while_the_listener_is_away_loses_its_stream(daemon_factory):
    # The rc_account NOTIFY may be lost with the listener: the streams kept across its
    # reconnect are re-checked then, so the account is cut off either way.
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    resident = centre.resident()
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        rc.db.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND query LIKE '%%LISTEN%%' "
                     "AND pid <> pg_backend_pid()")
        ok(rc.admin.patch(f"/v1/accounts/{centre.oncall_cn}", json={"disabled": True}))
        rc.set_clock(at(DAY, "09:00"))
        centre.report(resident, expect=(201,))
        assert watcher.closed.wait(RECOVERY_SECONDS), "the disabled account still streams"
        assert [e for e in watcher.drain(quiet=0.2) if e.name == "alert"] == []
