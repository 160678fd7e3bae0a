"""Database outage and shutdown (SPEC sections 8 and 10): with PostgreSQL stopped mid-test the
daemon answers 503 with the error JSON and changes nothing, /readyz says 503, and when PostgreSQL
returns the daemon recovers by itself, without a restart. SIGTERM drains and exits 0."""

import http.client
import threading
import time

from harness import error_of, ok

RECOVERY_SECONDS = 20


def wait_ready(daemon, seconds=RECOVERY_SECONDS):
    deadline = time.monotonic() + seconds
    while True:
        reply = daemon.admin.get("/readyz")
        if reply.status == 200:
            return
        assert time.monotonic() < deadline, f"not ready {seconds} s after PostgreSQL returned"
        time.sleep(0.25)


def test_postgresql_stopped_gives_503_and_the_daemon_recovers(daemon_factory, cluster):
    daemon = daemon_factory()
    daemon.set_clock("2026-11-20T10:00:00+01:00")
    centre = daemon.create_centre()["id"]
    daemon.create_account("outage-staff", "staff", [centre])
    resident = daemon.create_resident(centre)["id"]
    manager = daemon.manager_of(centre)
    staff = daemon.api("outage-staff")
    ok(daemon.admin.get("/readyz"))
    new_resident = {
        "case_number": "OUTAGE-1",
        "given_name": "Oksana",
        "family_name": "Kovalenko",
        "date_of_birth": "2012-04-02",
        "centre": centre,
        "arrival_date": "2026-11-01",
        "phase": 1,
    }
    key = {"Idempotency-Key": "outage-1"}

    with cluster.stopped():
        err = error_of(staff.get(f"/v1/residents/{resident}"), 503)
        assert err["code"] == "database_unavailable"
        error_of(daemon.admin.get("/readyz"), 503)
        # Alive, though: the process answers without the database.
        ok(daemon.admin.get("/healthz"))
        error_of(manager.post("/v1/residents", json=new_resident, headers=key), 503)
        error_of(
            staff.post(
                f"/v1/centres/{centre}/rounds/2026-11-20/1",
                json={"observations": [{"resident": resident, "status": "present"}]},
            ),
            503,
        )
        assert daemon.alive()

    wait_ready(daemon)
    assert daemon.alive()
    ok(staff.get(f"/v1/residents/{resident}"))
    # Nothing the refused requests carried was stored, and the key was not spent on a 503.
    assert daemon.db.count("residents", "case_number = 'OUTAGE-1'") == 0
    assert daemon.db.count("observations") == 0
    created = ok(manager.post("/v1/residents", json=new_resident, headers=key), 201)
    assert created["case_number"] == "OUTAGE-1"
    assert daemon.db.count("residents", "case_number = 'OUTAGE-1'") == 1
    ok(daemon.admin.get("/readyz"))


def test_outage_twice_in_a_row(daemon_factory, cluster):
    # Reconnection must work more than once (backoff state reset after success).
    daemon = daemon_factory()
    for _ in range(2):
        with cluster.stopped():
            error_of(daemon.admin.get("/v1/accounts"), 503)
        wait_ready(daemon)
        ok(daemon.admin.get("/v1/accounts"))


def test_sigterm_drains_and_exits_zero(daemon_factory):
    daemon = daemon_factory()
    outcomes = []
    stop = threading.Event()

    def load():
        # Requests on fresh connections until the daemon is gone. Each must either be answered
        # in full or fail to connect; an accepted request must never be cut off or get a 5xx.
        while not stop.is_set():
            try:
                reply = daemon.admin.get("/v1/accounts", timeout=10)
                outcomes.append(reply.status)
            except (ConnectionRefusedError, ConnectionResetError):
                outcomes.append("refused")
                if not daemon.alive():
                    return
            except (OSError, http.client.HTTPException) as exc:
                outcomes.append(f"error: {exc!r}")
            time.sleep(0.01)

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(1.0)
    code = daemon.stop(timeout=10)
    stop.set()
    thread.join(20)
    assert code == 0, daemon.log_text()[-3000:]
    answered = [o for o in outcomes if isinstance(o, int)]
    assert answered and set(answered) == {200}, outcomes
    assert not [o for o in outcomes if isinstance(o, str) and o.startswith("error")], outcomes
    # The port is closed afterwards.
    assert daemon.tls_refused(*daemon.pki.client("admin")) is None
