"""The request gate shares the database between certificates (issue 12, daemon/request_gate.c):
one certificate alone may have half the pool's connections running its calls, but while
another certificate has a call through, half of that (the one-second presence window is
covered by tests/unit/test_request_gate.c, on a fake clock). Driven through the real daemon with the
greedy certificate's queries held on a lock, so that what is asserted is which calls are
running (pg_stat_activity) and who is answered, never how long anything took."""

import threading
import time

from alerts_helpers import Centre

API_SQL = "SELECT status, body::text FROM api(%"
POOL = 8  # per certificate: 4 alone, 2 while another is present


def blocked_api_pids(daemon):
    """Backends of api() calls waiting on a lock, oldest first."""
    return [row[0] for row in daemon.db.query(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND wait_event_type = 'Lock' "
        "ORDER BY query_start", API_SQL)]


def wait_for(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_call_of_another_certificate_halves_a_greedy_ones_share(daemon_factory):
    daemon = daemon_factory(config={"db_pool_size": str(POOL), "request_timeout": "120"})
    centre = Centre(daemon)
    resident = centre.resident()
    daemon.create_account("greedy-auditor", "admin")
    greedy = daemon.api("greedy-auditor")
    answers = {"greedy": [], "staff": []}

    def ask(who, api, path):
        answers[who].append(api.get(path).status)

    lock = daemon.db.connect(autocommit=False)
    threads = []

    def spawn(*args):
        t = threading.Thread(target=ask, args=args)
        t.start()
        threads.append(t)

    try:
        # Every GET /v1/audit waits on this lock, and so does the staff read (it is audited).
        lock.execute("LOCK TABLE audit IN ACCESS EXCLUSIVE MODE")
        spawn("staff", centre.staff, f"/v1/residents/{resident}")
        wait_for("the staff call running", lambda: len(blocked_api_pids(daemon)) == 1)
        # With another certificate's call through, the greedy one gets half its share: 2 of
        # its 8 calls run (4 would alone), the other 6 wait at the gate.
        for _ in range(8):
            spawn("greedy", greedy, "/v1/audit?limit=10")
        wait_for("2 greedy calls running", lambda: len(blocked_api_pids(daemon)) == 3)
        for _ in range(20):  # a third would be sent at once: give it the time to show
            assert len(blocked_api_pids(daemon)) == 3, "more than 2 greedy calls running"
            time.sleep(0.05)
        greedy_pids = blocked_api_pids(daemon)[1:]
        # A greedy call that ends is replaced by the next in line: 2 running again.
        daemon.db.execute("SELECT pg_cancel_backend(%s)", greedy_pids[0])
        wait_for("greedy call 1 answered", lambda: len(answers["greedy"]) == 1)
        # (the cancelled call's answer is sent after its successor was sent, maybe on the
        # same connection and so the same backend)
        wait_for("the next greedy call started", lambda: len(blocked_api_pids(daemon)) == 3)
        assert len(blocked_api_pids(daemon)) == 3
        assert answers["staff"] == []
    finally:
        lock.rollback()
        lock.close()
        for t in threads:
            t.join(60)
    # Everything is answered once the lock is gone: the cancelled call as a failure.
    assert answers["staff"] == [200]
    assert sorted(answers["greedy"]) == [200] * 7 + [500], answers


WAITING_MAX = 64  # REQUEST_GATE_WAITING_MAX in daemon/request_gate.h


def test_beyond_64_waiting_calls_a_certificate_is_answered_429_at_once(daemon_factory):
    daemon = daemon_factory(config={"db_pool_size": str(POOL), "request_timeout": "120"})
    centre = Centre(daemon)
    resident = centre.resident()
    daemon.create_account("greedy-auditor", "admin")
    greedy = daemon.api("greedy-auditor")
    answers = {"greedy": [], "staff": []}
    refusals = []

    def ask(who, api, path):
        reply = api.get(path)
        answers[who].append(reply.status)
        if reply.status == 429:
            refusals.append(reply)

    lock = daemon.db.connect(autocommit=False)
    threads = []

    def spawn(*args):
        t = threading.Thread(target=ask, args=args)
        t.start()
        threads.append(t)

    extra = 3
    try:
        lock.execute("LOCK TABLE audit IN ACCESS EXCLUSIVE MODE")
        spawn("staff", centre.staff, f"/v1/residents/{resident}")
        wait_for("the staff call running", lambda: len(blocked_api_pids(daemon)) == 1)
        # The staff call through: the greedy certificate runs 2, 64 wait, the rest are refused
        # while everything else is still held on the lock.
        for _ in range(2 + WAITING_MAX + extra):
            spawn("greedy", greedy, "/v1/audit?limit=10")
        wait_for("the refusals", lambda: len(refusals) == extra, timeout=60)
        assert len(blocked_api_pids(daemon)) == 3
        assert answers["greedy"] == [429] * extra and answers["staff"] == []
    finally:
        lock.rollback()
        lock.close()
        for t in threads:
            t.join(120)
    for reply in refusals:
        assert reply.headers.get("retry-after") == "1"
        assert reply.body["error"]["code"] == "rate_limited"
    assert answers["staff"] == [200]
    assert sorted(answers["greedy"]) == [200] * (2 + WAITING_MAX) + [429] * extra
