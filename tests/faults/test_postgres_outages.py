"""Fault case 2 (issue 12): PostgreSQL stopped fast, stopped immediate, SIGSTOPped, and its
backends terminated mid-transaction, each under a load of idempotent observation POSTs."""

import signal
import threading
import time

import pytest

from harness import at, ok
from harness.faults import ObservationLoad, report
from harness.world import Centre

DAY = "2026-11-20"
REQUEST_TIMEOUT = 5  # the daemon's request_timeout here
RECOVERY = 5.0  # seconds after PostgreSQL is back within which requests succeed again
SIGSTOP_SECONDS = 60  # issue 12: a server frozen for a minute (every request deadline passes
# twelve times over while it is frozen)


def terminate_backends(cluster, dbname, seconds):
    """pg_terminate_backend on every backend of dbname, every 50 ms for seconds (so that some
    are cut in the middle of a transaction); returns how many were terminated."""
    import psycopg

    killed = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            killed += conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchone()[0]
            time.sleep(0.05)
    return killed


class HealthProbe:
    """GET /healthz every 100 ms in a thread while the outage lasts; keeps the slowest."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.stop_event = threading.Event()
        self.slowest = 0.0
        self.failures = []
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                status = self.daemon.admin.get("/healthz", timeout=10).status
                if status != 200:
                    self.failures.append(status)
            except OSError as exc:
                self.failures.append(repr(exc))
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.count += 1
            time.sleep(0.1)

    def stop(self):
        self.stop_event.set()
        self.thread.join(15)


@pytest.mark.parametrize("fault", ["stop_fast", "stop_immediate", "sigstop", "terminate"])
def test_postgresql_outage_under_load(daemon_factory, cluster, fault):
    """Injects, under a load of 4 threads posting observations with Idempotency-Keys (each
    retried with its key until acknowledged): `pg_ctl stop -m fast` (3 s, then start),
    `pg_ctl stop -m immediate` (3 s, then start: crash recovery), SIGSTOP of the postmaster and
    every backend for 10 s (then SIGCONT), or pg_terminate_backend of the daemon's backends
    every 50 ms for 3 s. Must hold: every attempt answered 2xx or 503 with the error JSON, none
    later than request_timeout (5 s) plus 1 s; /healthz answers within 1 s throughout; requests
    succeed again within 5 s of PostgreSQL being back; every acknowledged request stored
    exactly once, and none twice."""
    rc = daemon_factory(config={"request_timeout": str(REQUEST_TIMEOUT), "log_level": "info"})
    # Commits durable as in production (the session cluster runs with synchronous_commit off
    # for speed, which an immediate stop may undo): an acknowledged request must survive.
    rc.db.execute(f"ALTER DATABASE {rc.dbname} SET synchronous_commit = on")
    rc.stop()
    rc.start()
    rc.set_clock(at(DAY, "23:30"))
    centre = Centre(rc, staff=True)
    residents = centre.residents(16)
    load = ObservationLoad(centre.staff, centre.id, DAY, residents, threads=4, prefix=fault,
                           timeout=REQUEST_TIMEOUT * 4).start()
    probe = None
    try:
        load.wait_acked(20)
        probe = HealthProbe(rc)
        injected_at = time.monotonic()
        terminated = 0
        if fault == "stop_fast":
            cluster.stop_mode("fast")
            time.sleep(3)
            cluster.start()
        elif fault == "stop_immediate":
            cluster.stop_mode("immediate")
            time.sleep(3)
            cluster.start()
        elif fault == "sigstop":
            cluster.signal_all(signal.SIGSTOP)
            try:
                time.sleep(SIGSTOP_SECONDS)
            finally:
                cluster.signal_all(signal.SIGCONT)
        else:
            terminated = terminate_backends(cluster, rc.dbname, 3)
        back_at = time.monotonic()
        recovery = load.recovery_after(back_at, timeout=RECOVERY + REQUEST_TIMEOUT)
        load.wait_acked(20, timeout=60)
    finally:
        if probe:
            probe.stop()
        load.stop()
    acked, stored, duplicates = load.check_exactly_once(rc.db)
    answered_503, slowest = load.check_outage_answers(REQUEST_TIMEOUT + 1.0)
    report(f"postgres_{fault}", acked=acked, stored=stored, duplicates=duplicates,
           attempts=len(load.attempts), answered_503=answered_503, slowest_s=f"{slowest:.2f}",
           outage_s=f"{back_at - injected_at:.2f}", recovery_s=f"{recovery:.2f}",
           healthz_probes=probe.count, healthz_slowest_s=f"{probe.slowest:.2f}",
           backends_terminated=terminated)
    assert not probe.failures, f"/healthz failed during the outage: {probe.failures[:5]}"
    assert probe.slowest < 1.0, f"/healthz took {probe.slowest:.2f} s during the outage"
    assert recovery < RECOVERY, f"requests back {recovery:.2f} s after PostgreSQL"
    if fault != "terminate":
        assert answered_503 > 0, "no request met the outage: the case proved nothing"
    else:
        assert terminated > 0, "no backend was terminated"
    ok(rc.admin.get("/readyz"))
