"""PostgreSQL failover (SPEC section 8, v2; issue 12): two clusters on loopback, a primary and a
streaming standby with synchronous replication (synchronous_standby_names, synchronous_commit =
on; the standby made with pg_basebackup -R), and one rollcalld whose `database` names both hosts
with target_session_attrs=read-write. Set-up documented in docs/operations.md, "PostgreSQL high
availability"."""

import contextlib
import shutil
import signal
import time

import pytest

import harness
from harness import TEMPLATE_DB, Environment, at, ok
from harness.cluster import (
    Cluster,
    configure_synchronous_primary,
    make_standby,
    promote,
    wait_synchronous,
)
from harness.faults import ObservationLoad, report
from harness.sse import SseStream
from harness.webhooks import World, notify_config

DAY = "2026-11-20"
REQUEST_TIMEOUT = 8  # the daemon's request_timeout here: no answer may take longer
RECOVERY = 5.0  # seconds from the promotion within which everything must work again
GAP = 6.0  # seconds between the crash and the promotion (a failover manager takes some)


@pytest.fixture
def pair(workdir, pki):
    """(environment on the primary, primary, standby, database name): the template migrated on
    the primary, a database cloned from it, and a synchronous standby streaming from it."""
    base = harness.make_workdir("rollcall-failover-")
    primary = Cluster(base / "primary")
    standby = None
    try:
        env = Environment(base, pki, primary).migrate_template()
        primary.create_database("failover", TEMPLATE_DB)
        configure_synchronous_primary(primary)
        standby = make_standby(primary, base / "standby")
        wait_synchronous(primary)
        yield env, primary, standby, "failover"
    finally:
        with contextlib.suppress(Exception):
            primary.signal_all(signal.SIGCONT)  # a frozen primary must be able to stop
        for c in (primary, standby):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.stop_mode("immediate")
        if not harness.keep():
            shutil.rmtree(base, ignore_errors=True)


def first_success(call, deadline):
    """Calls call() until it returns a 2xx Reply; returns (reply, monotonic instant)."""
    last = None
    while time.monotonic() < deadline:
        try:
            last = call()
            if 200 <= last.status < 300:
                return last, time.monotonic()
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"no success by the deadline: {last}")


@pytest.mark.parametrize("crash", ["kill", "freeze"])
def test_failover_loses_nothing_and_every_part_carries_on(pair, receiver, crash):
    """Injects: kill -9 of the primary's postmaster (crash=kill: its connections close), or
    SIGSTOP of the primary and all its processes (crash=freeze: a hung or vanished machine,
    whose connections never fail by themselves and whose port accepts TCP but never answers),
    under a load of idempotent observation POSTs (4 threads, each key retried with the same
    Idempotency-Key), then, 6 s later (9 s, past request_timeout, for a freeze), pg_ctl
    promote of the standby. Must hold: every request answered 2xx is on the new primary exactly once (no key
    twice); every attempt in the gap got 503 with the error JSON, none took longer than
    request_timeout; within 5 s of the promotion requests succeed again, the timing engine
    decides a due event (an absence's notification, set up before the failover), the sender
    delivers it to all three authorities once each, and an alert raised after the failover
    reaches the on-call stream that was open before it (or its reconnection with
    Last-Event-ID, without a gap) - all without restarting the daemon."""
    env, primary, standby, dbname = pair
    conninfo = (f"host=127.0.0.1,127.0.0.1 port={primary.port},{standby.port} user=postgres "
                f"dbname={dbname} target_session_attrs=read-write connect_timeout=2")
    with env.daemons("failover") as daemons:
        rc = daemons.make(database=dbname, config={
            "database": conninfo, "request_timeout": str(REQUEST_TIMEOUT),
            **notify_config(receiver.ca)})
        world = World(rc, receiver, clock=at(DAY, "15:00"))
        # A due event that falls after the failover: present at 15:00, reported at 16:00, so
        # the authorities are notified at 03:00 the next day (age 14).
        due_resident = world.resident_id()
        world.round(DAY, 2, {due_resident: "present"})
        world.set_clock(at(DAY, "16:00"))
        absence = world.report(due_resident)["id"]
        world.set_clock(at(DAY, "23:30"))  # every round of DAY has begun
        residents = world.residents(16)
        stream = SseStream(rc, world.oncall_cn, world.id)
        load = ObservationLoad(world.staff, world.id, DAY, residents, threads=4,
                               prefix=f"failover-{crash}", timeout=REQUEST_TIMEOUT * 3).start()
        try:
            load.wait_acked(40)
            killed_at = time.monotonic()
            if crash == "kill":
                primary.kill9()
            else:
                primary.signal_all(signal.SIGSTOP)
            # No primary at all, as while a failover manager decides. A frozen primary holds
            # the statements in flight until their deadline (request_timeout): a manager
            # that waits that long finds them all given up.
            time.sleep(GAP if crash == "kill" else REQUEST_TIMEOUT + 1)
            promote(standby)
            promoted_at = time.monotonic()
            deadline = promoted_at + RECOVERY
            request_back = load.recovery_after(promoted_at, timeout=RECOVERY + REQUEST_TIMEOUT)
            # The timing engine and the sender: 03:05 is after the notification instant.
            first_success(lambda: rc.admin.put("/v1/clock", json={"now": at("2026-11-21",
                                                                             "03:05")}),
                          deadline + REQUEST_TIMEOUT)
            engine_back = time.monotonic() - promoted_at
            receiver.wait_delivered(3, timeout=max(0.1, deadline - time.monotonic()) + 2)
            sender_back = time.monotonic() - promoted_at
            load.wait_acked(40, timeout=60)
        finally:
            load.stop()
            if crash == "freeze":
                # The frozen primary is dead to us: gone for good, so that nothing (the
                # teardown's DROP DATABASE) waits on it.
                primary.signal_all(signal.SIGKILL)
        new_db = standby.database(dbname)
        # The due event was decided once, and each authority got it once.
        assert new_db.scalar("SELECT notified_at IS NOT NULL FROM absences WHERE id = %s",
                             absence)
        delivered = receiver.delivered()
        ids = [r.event_id for r in delivered]
        assert len(delivered) == 3, delivered
        assert len({(r.path, r.event_id) for r in delivered}) == 3, ids
        # Alerts raised after the failover (the 03:00 notification and the overdue 23:00
        # round) reach the stream opened before it, or its reconnection without a gap.
        raised_after = {a["id"] for a in world.alerts() if a["raised_at"] > at(DAY, "23:30")}
        assert raised_after, "the clock move raised no alert"
        seen, reconnects = set(), 0
        stream_deadline = time.monotonic() + 15
        last_id = stream.head  # ": head N" on connect: where a reconnect resumes
        while not raised_after <= seen:
            assert time.monotonic() < stream_deadline, (
                f"alerts {sorted(raised_after - seen)} never reached a stream")
            try:
                ev = stream.next(timeout=0.5)
                seen.add(ev.alert["id"])
                last_id = ev.id
            except AssertionError:
                if stream.closed.is_set():
                    reconnects += 1
                    stream = SseStream(rc, world.oncall_cn, world.id, last_event_id=last_id)
        stream_back = time.monotonic() - promoted_at
        stream.close()
        acked, stored, duplicates = load.check_exactly_once(new_db)
        gap_503, slowest = load.check_outage_answers(REQUEST_TIMEOUT + 1.0)
        statuses = load.statuses()
        report(f"failover_{crash}", acked=acked, stored=stored, duplicates=duplicates,
               attempts=len(load.attempts), answered_503=gap_503,
               slowest_s=f"{slowest:.2f}", gap_s=f"{promoted_at - killed_at:.2f}",
               requests_back_s=f"{request_back:.2f}", engine_back_s=f"{engine_back:.2f}",
               sender_back_s=f"{sender_back:.2f}", stream_back_s=f"{stream_back:.2f}",
               stream_reconnects=reconnects, statuses=statuses)
        assert gap_503 > 0, "no request fell into the gap: the test proved nothing"
        assert request_back < RECOVERY, f"requests back {request_back:.2f} s after promotion"
        assert engine_back < RECOVERY, f"timing engine back {engine_back:.2f} s after promotion"
        assert sender_back < RECOVERY + 2, f"sender back {sender_back:.2f} s after promotion"
        assert rc.alive(), "the daemon died"
        ok(rc.admin.get("/readyz"))
