"""Fault case 3 (issue 12): three rollcalld instances on one database, 1,000 absences falling
due at one instant of the test clock, one instance killed while they are decided."""

import socket
import threading
import time

from harness import assert_no_sanitizer_report, at, ok
from harness.faults import bulk_residents, report
from harness.sse import SseStream
from harness.webhooks import World, notify_config

DAY = "2026-11-20"
NEXT = "2026-11-21"
ABSENCES = 1000


class BlackHole:
    """A TCP listener that accepts and never answers: instance A's webhook_proxy, so that
    whatever A has in flight when it is killed never reached the receiver (what a killed
    sender had delivered unrecorded is case 4's subject, a redelivery by design)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def report_absences(instances, staff_cn, residents):
    """Reports each resident absent, spread over the instances (2 threads each)."""
    chunks = [residents[i::2 * len(instances)] for i in range(2 * len(instances))]
    errors = []

    def worker(daemon, chunk):
        with daemon.api(staff_cn).session() as s:
            for r in chunk:
                reply = s.post(f"/v1/residents/{r}/absences", json={})
                if reply.status != 201:
                    errors.append(reply)

    threads = [threading.Thread(target=worker, args=(instances[i % len(instances)], chunk))
               for i, chunk in enumerate(chunks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]


def test_three_instances_one_killed_mid_way(daemon_factory, receiver):
    """Injects: 1,000 absences whose notifications all fall due at 03:00; three instances (A,
    B, C) on one database; the test clock moved past 03:00 through A, and A killed with
    SIGKILL as soon as the first of them is committed, while the rest are being decided (A's webhooks go to a proxy
    that never answers, so that nothing A had in flight reached the receiver). Must hold:
    every due event decided once (each absence notified, 3 deliveries each, no due row left),
    every notification delivered once per authority (duplicates by event id at the receiver:
    0), and the alert streams on B and C each see every alert event of the centre (by id,
    reconnecting with Last-Event-ID if an instance ends a stream)."""
    hole = BlackHole()
    try:
        a = daemon_factory(config=notify_config(
            receiver.ca, instance_name="inst-a", webhook_proxy=f"http://127.0.0.1:{hole.port}",
            log_level="info"))
        world = World(a, receiver, clock=at(DAY, "15:00"))
        b = daemon_factory(database=a.dbname, config=notify_config(
            receiver.ca, instance_name="inst-b", log_level="info"))
        c = daemon_factory(database=a.dbname, config=notify_config(
            receiver.ca, instance_name="inst-c", log_level="info"))
        residents = bulk_residents(a, world.id, ABSENCES)
        world.round(DAY, 2, {r: "present" for r in residents})
        world.set_clock(at(DAY, "16:00"))
        for d in (b, c):  # every instance on the one clock
            d.set_clock(at(DAY, "16:00"))
        report_absences([a, b, c], world.staff_cn, residents)
        assert a.db.count("absences", "notified_at IS NULL") == ABSENCES
        head = a.db.scalar("SELECT coalesce(max(seq), 0) FROM alert_events")
        streams = {d.name: SseStream(d, world.oncall_cn, world.id, last_event_id=head)
                   for d in (b, c)}

        def put_clock():
            try:
                a.admin.put("/v1/clock", json={"now": at(NEXT, "03:30")}, timeout=120)
            except OSError:
                pass  # A dies under it: that is the point

        putter = threading.Thread(target=put_clock)
        started = time.monotonic()
        putter.start()
        # Mid-way: as soon as the first decisions are committed.
        deadline = time.monotonic() + 60
        while a.db.count("absences", "notified_at IS NOT NULL") == 0:
            assert time.monotonic() < deadline, "nothing was decided"
            time.sleep(0.01)
        a.kill()
        a.proc = None  # killed for good: teardown has nothing to stop (its log is checked)
        putter.join(60)
        decided_by_a = a.db.scalar("SELECT count(*) FROM absences WHERE notified_at IS NOT NULL")
        in_flight_a = a.db.scalar("SELECT count(*) FROM deliveries WHERE lease_owner = 'inst-a'"
                                  " AND delivered_at IS NULL")
        # The survivors carry on; B's PUT answers once everything due is committed.
        ok(b.admin.put("/v1/clock", json={"now": at(NEXT, "03:30")}, timeout=120))
        decided = time.monotonic() - started
        assert b.db.count("absences", "notified_at IS NULL") == 0
        assert b.db.count("due_events", "kind = 'absence_notify'") == 0
        per_absence = b.db.query("SELECT count(*) FROM deliveries WHERE type = 'absence.reported'"
                                 " GROUP BY absence")
        assert len(per_absence) == ABSENCES and {n for (n,) in per_absence} == {3}
        # What A had in flight comes back when its leases expire (webhook_timeout + 15 s).
        receiver.wait_delivered(3 * ABSENCES, timeout=120)
        deadline = time.monotonic() + 30
        while b.db.count("deliveries", "delivered_at IS NULL") > 0:
            assert time.monotonic() < deadline, "deliveries received but not recorded"
            time.sleep(0.1)
        delivered_s = time.monotonic() - started
        ids = [(r.authority, r.event_id) for r in receiver.delivered()]
        duplicates = len(ids) - len(set(ids))

        expected = {s for (s,) in b.db.query("SELECT seq FROM alert_events WHERE centre = %s"
                                             " AND seq > %s", world.id, head)}
        seen_counts, reconnects = {}, 0
        for name, stream in streams.items():
            d = b if name == b.name else c
            seen, last = set(), head
            deadline = time.monotonic() + 60
            while not expected <= seen:
                assert time.monotonic() < deadline, (
                    f"{name}'s stream missed {len(expected - seen)} of {len(expected)} events")
                try:
                    ev = stream.next(timeout=0.5, names=None)
                    seen.add(ev.id)
                    last = max(last, ev.id)
                except AssertionError:
                    if stream.closed.is_set():
                        reconnects += 1
                        stream = SseStream(d, world.oncall_cn, world.id, last_event_id=last)
            seen_counts[name] = len(seen & expected)
            stream.close()
        report("three_instances", absences=ABSENCES, decided_before_kill=decided_by_a,
               a_in_flight_at_kill=in_flight_a, deliveries=len(ids), duplicates=duplicates,
               alert_events=len(expected), seen_by_b=seen_counts[b.name],
               seen_by_c=seen_counts[c.name], stream_reconnects=reconnects,
               decided_s=f"{decided:.1f}", delivered_s=f"{delivered_s:.1f}")
        assert_no_sanitizer_report(a.log_text(), "the killed instance's log")
        assert duplicates == 0, f"{duplicates} notifications delivered twice"
        assert len(set(ids)) == 3 * ABSENCES
    finally:
        hole.close()
