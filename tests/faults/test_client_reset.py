"""Fault case 7 (issue 12): clients that reset the connection (SO_LINGER 0, so close sends a
TCP RST) right after sending a POST, before the reply."""

import json
import random
import socket
import struct
import threading
import time

from harness import at, ok
from harness.faults import report
from harness.world import Centre

DAY = "2026-11-20"
RESETS = 600
THREADS = 6


def post_and_reset(daemon, context, centre, resident, slot, key, delay):
    """Sends one observation POST over mutual TLS and resets the connection delay seconds
    later, without reading anything."""
    body = json.dumps({"observations": [
        {"resident": resident, "status": "present", "note": key}]}).encode()
    head = (f"POST /v1/centres/{centre}/rounds/{DAY}/{slot} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    # wrap_socket takes the descriptor over: the TLS socket is the one to set and close.
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", daemon.port), timeout=10),
                               server_hostname="localhost")
    try:
        sock.sendall(head + body)
        if delay:
            time.sleep(delay)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()  # with SO_LINGER 0: RST, whatever the daemon was about to write


def test_resets_after_the_post_crash_nothing_and_the_retry_gets_the_stored_reply(
        daemon_factory):
    """Injects: 600 POSTs (6 threads), each followed by a TCP reset 0-30 ms after the request
    was sent (before the daemon's reply, or while it writes it). Must hold: the daemon stays up
    (no crash, no sanitizer report at teardown); a retry of each key gets a 2xx, and where the
    reset request had committed, the retry's answer is the stored reply (the same body, no
    second effect); every key is stored exactly once; a write committed for the reset client is
    seen in most cases (the daemon read the request before the reset)."""
    rc = daemon_factory(config={"log_level": "info"})
    rc.set_clock(at(DAY, "23:30"))
    centre = Centre(rc, staff=True)
    residents = centre.residents(THREADS * 4)
    context = centre.staff.context
    rng = random.Random(7)
    plan = [(f"reset-{i:05d}", residents[(i % THREADS) * 4 + (i // THREADS) % 4],
             1 + (i // (THREADS * 4)) % 3, rng.uniform(0, 0.03)) for i in range(RESETS)]
    errors = []

    def worker(index):
        for key, resident, slot, delay in plan[index::THREADS]:
            try:
                post_and_reset(rc, context, centre.id, resident, slot, key, delay)
            except OSError as exc:
                errors.append(f"{key}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    elapsed = time.monotonic() - started
    assert rc.alive(), "rollcalld died under the resets"
    ok(rc.admin.get("/healthz"))
    # Let requests the daemon read finish committing before the retries look.
    deadline = time.monotonic() + 20
    while rc.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                       " AND state = 'active' AND pid <> pg_backend_pid()", rc.dbname) > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stored = {k: (s, b) for k, s, b in rc.db.query(
        "SELECT key, status, body FROM idempotency WHERE key LIKE 'reset-%%'")}
    committed_before_retry = len(stored)
    same_reply = 0
    with centre.staff.session() as s:
        for key, resident, slot, _ in plan:
            reply = s.post(f"/v1/centres/{centre.id}/rounds/{DAY}/{slot}",
                           json={"observations": [{"resident": resident, "status": "present",
                                                   "note": key}]},
                           headers={"Idempotency-Key": key})
            assert 200 <= reply.status < 300, (key, reply)
            if key in stored:
                status, body = stored[key]
                assert reply.status == status and reply.body == body, (key, reply, stored[key])
                same_reply += 1
    effects = dict(rc.db.query("SELECT note, count(*) FROM observations WHERE note LIKE"
                               " 'reset-%%' GROUP BY note"))
    duplicates = sum(1 for n in effects.values() if n > 1)
    report("client_resets", resets=RESETS, threads=THREADS, seconds=f"{elapsed:.1f}",
           committed_before_retry=committed_before_retry, retry_got_stored_reply=same_reply,
           stored=len(effects), duplicates=duplicates, client_errors=len(errors))
    assert not errors, errors[:5]
    assert duplicates == 0
    assert len(effects) == RESETS
    assert committed_before_retry > RESETS // 2, (
        f"only {committed_before_retry} of {RESETS} reset requests committed")
    assert rc.alive()
