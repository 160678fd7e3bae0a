#!/usr/bin/python3
"""Benchmark of the webhook sender (issue 5). Prints figures; asserts nothing about timing.

  A. Outage: 1,000 absences fall due (12-hour threshold, one due instant) while every authority
     endpoint is down (connection refused); the test clock then runs through an hour of outage
     in 5-minute steps with every retry failing. The receiver comes back; the clock moves on in
     30-second steps until the first retry succeeds. Reported: duplicates by event id (accepted
     requests minus distinct event ids; target 0), notifications lost (target 0), the simulated
     time from the receiver's return to the first success, and the wall time to drain the
     3,000-delivery backlog from then.
  B. Latency with a healthy receiver, from the instant a notification falls due to its arrival
     at the receiver: (1) immediate notifications (known departure), measured from the start of
     the staff request; (2) a burst of threshold notifications, measured from the start of the
     PUT /v1/clock that makes them due. p50 / p99 / max.

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/bench_notify.py [--absences 1000]
        [--centres 10] [--latency 200] [--burst 100]
It starts its own PostgreSQL cluster (scripts/pg.sh, --fast: fsync off), PKI, receiver and one
rollcalld (log_level info) under /tmp, and removes them afterwards (ROLLCALL_KEEP=1 keeps them).
"""

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness: cluster, PKI, daemons, world, webhooks)
from harness.webhooks import AUTHORITIES, WebhookReceiver, World, make_pki, notify_config  # noqa: E402

UTC = datetime.timezone.utc


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(round(p / 100.0 * len(ordered) + 0.5)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


class Bench:
    def __init__(self, args):
        self.args = args
        self.env = harness.Environment.create(prefix="rollcall-bench-notify-")
        self.workdir = self.env.workdir
        self.daemons = self.env.daemons("bench_notify")
        try:
            # HTTP/1.1 with keep-alive, as an authority's real server answers.
            self.receiver = WebhookReceiver(make_pki(self.workdir / "webhook-pki"),
                                            keep_alive=True)
        except BaseException:
            self.env.close()
            raise

    def close(self):
        self.receiver.close()
        self.env.close()  # stops and checks the daemons, the cluster; ROLLCALL_KEEP=1 keeps all

    def daemon(self):
        return self.daemons.make(config=notify_config(self.receiver.ca, log_level="info"))

    # -- set-up ------------------------------------------------------------------------------

    @staticmethod
    def residents(world, count, date_of_birth="2012-03-10"):
        """count residents at world's centre, over one kept-alive connection."""
        return world.residents(count, given_name="Bench", family_name="Resident",
                               date_of_birth=date_of_birth)

    @staticmethod
    def round(world, day, slot, ids, status):
        world.round(day, slot, {i: status for i in ids}, timeout=300)

    # -- A. outage ---------------------------------------------------------------------------

    def outage(self):
        args = self.args
        rc = self.daemon()
        rcv = self.receiver
        rcv.clear()
        per_centre = args.absences // args.centres
        worlds, residents = [], []
        t0 = time.monotonic()
        for _ in range(args.centres):
            world = World(rc, rcv, clock="2026-11-20T06:00:00+00:00")  # 07:00 in Copenhagen
            ids = self.residents(world, per_centre)
            self.round(world, "2026-11-20", 1, ids, "present")
            worlds.append(world)
            residents.append(ids)
        # Present at the 07:00 check, absent at 15:00: all due at 19:00 (12 hours, under 15).
        worlds[0].set_clock("2026-11-20T14:05:00+00:00")
        for world, ids in zip(worlds, residents):
            self.round(world, "2026-11-20", 2, ids, "absent")
        total = per_centre * args.centres * len(AUTHORITIES)
        print(f"A. set-up: {args.centres} centres x {per_centre} absences in "
              f"{time.monotonic() - t0:.1f} s", flush=True)

        rcv.stop()  # every endpoint refuses connections from now on
        due = datetime.datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 19:00 local
        world = worlds[0]
        retrying = 0.0  # wall time with retries due and not yet made
        started = time.monotonic()
        world.set_clock(due)
        outage_steps = [time.monotonic() - started]
        self.wait_attempted(rc, total, minimum=1)
        self.wait_idle(rc)
        retrying += time.monotonic() - started
        for minute in range(5, 61, 5):
            started = time.monotonic()
            world.set_clock(due + datetime.timedelta(minutes=minute))
            outage_steps.append(time.monotonic() - started)
            self.wait_idle(rc)  # every retry due at this instant has been made
            retrying += time.monotonic() - started
        attempts = rc.db.scalar("SELECT sum(attempts) FROM deliveries")
        print(f"A. outage: {total} deliveries due at once with the receiver down; one hour in "
              f"5-minute clock steps: {attempts} failed attempts ({attempts / retrying:.0f}/s "
              f"while retries were due), PUT /v1/clock took median "
              f"{ms(statistics.median(outage_steps))}, max {ms(max(outage_steps))}", flush=True)

        rcv.start()
        back = due + datetime.timedelta(minutes=60)
        offset = 0
        while not rcv.delivered():
            offset += 30
            world.set_clock(back + datetime.timedelta(seconds=offset))
            time.sleep(0.2)
            assert offset < 3600, "no retry succeeded within an hour of simulated time"
        first_ok = min(r.received_mono for r in rcv.delivered())
        rcv.wait_delivered(total, timeout=600)
        accepted = rcv.delivered()
        drained = max(r.received_mono for r in accepted) - first_ok
        time.sleep(1.0)
        world.set_clock(back + datetime.timedelta(minutes=30))  # anything left would go now
        time.sleep(1.0)
        accepted = rcv.delivered()
        ids = [r.event_id for r in accepted]
        undelivered = [i for w in worlds for i in w.notifications() if not i["delivered_at"]]
        print(f"A. recovery: first retry succeeded {offset} s (test clock) after the receiver "
              f"came back; {len(accepted)} accepted requests, {len(set(ids))} distinct event "
              f"ids, duplicates by event id: {len(ids) - len(set(ids))}, undelivered: "
              f"{len(undelivered)}, backlog drained in {drained:.2f} s wall "
              f"({len(accepted) / max(drained, 1e-6):.0f} deliveries/s)", flush=True)
        failing = sum(len(w.alerts("notification_failing")) for w in worlds)
        open_failing = sum(len(w.alerts("notification_failing", state="open")) for w in worlds)
        print(f"A. alerts: notification_failing raised {failing}, still open after recovery "
              f"{open_failing}", flush=True)
        return {"duplicates": len(ids) - len(set(ids)), "undelivered": len(undelivered),
                "drain_s": drained, "first_success_after_s": offset}

    @staticmethod
    def wait_attempted(rc, total, minimum, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count, least = rc.db.query(
                "SELECT count(*), coalesce(min(attempts), 0) FROM deliveries")[0]
            if count == total and least >= minimum:
                return
            time.sleep(0.2)
        raise AssertionError("the first attempts did not finish")

    @staticmethod
    def wait_idle(rc, timeout=300):
        """Until no undelivered row is due on the test clock (every due retry was made)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            due = rc.db.scalar(
                "SELECT count(*) FROM deliveries d, clock_state c WHERE d.delivered_at IS NULL"
                " AND greatest(d.due_at, d.next_attempt_at) <= c.now")
            if due == 0:
                return
            time.sleep(0.1)
        raise AssertionError("the due retries were not all made")

    # -- B. latency --------------------------------------------------------------------------

    def latency(self):
        args = self.args
        rc = self.daemon()
        rcv = self.receiver
        rcv.clear()
        world = World(rc, rcv, clock="2026-11-20T22:00:00+00:00")
        ids = self.residents(world, args.latency)
        latencies = []
        with world.staff.session() as s:
            for rid in ids:
                seen = len(rcv.requests())
                started = time.time()
                reply = s.post(f"/v1/residents/{rid}/absences", json={"known_departure": True})
                assert reply.status == 201, reply
                reqs = rcv.wait_for(lambda reqs, n=seen: len(reqs) >= n + 3, timeout=30)
                latencies += [r.received_wall - started for r in reqs[seen:seen + 3]]
                time.sleep(0.01)
        print(f"B1. immediate notifications, staff request -> receiver ({len(latencies)} "
              f"deliveries): p50 {ms(percentile(latencies, 50))}, "
              f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies))}", flush=True)

        burst = World(rc, rcv, clock="2026-11-21T06:00:00+00:00")
        ids = self.residents(burst, args.burst)
        self.round(burst, "2026-11-21", 1, ids, "present")
        burst.set_clock("2026-11-21T14:05:00+00:00")
        self.round(burst, "2026-11-21", 2, ids, "absent")
        rcv.clear()
        started = time.time()
        burst.set_clock("2026-11-21T18:00:00+00:00")
        put_done = time.time() - started
        reqs = rcv.wait_for(lambda reqs: len(reqs) >= args.burst * 3, timeout=120)
        burst_lat = [r.received_wall - started for r in reqs]
        print(f"B2. {args.burst} absences due at one instant ({len(burst_lat)} deliveries), "
              f"PUT /v1/clock start -> receiver: p50 {ms(percentile(burst_lat, 50))}, "
              f"p99 {ms(percentile(burst_lat, 99))}, max {ms(max(burst_lat))} "
              f"(the PUT itself took {ms(put_done)})", flush=True)
        return {"p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--absences", type=int, default=1000)
    parser.add_argument("--centres", type=int, default=10)
    parser.add_argument("--latency", type=int, default=200,
                        help="immediate notifications measured one at a time")
    parser.add_argument("--burst", type=int, default=100,
                        help="threshold notifications falling due together")
    parser.add_argument("--skip-outage", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    if not harness.ROLLCALLD.exists():
        sys.exit(f"{harness.ROLLCALLD} is missing: build first (or set ROLLCALL_BUILD)")
    bench = Bench(args)
    try:
        print(f"rollcalld: {harness.ROLLCALLD}", flush=True)
        if not args.skip_latency:
            bench.latency()
        if not args.skip_outage:
            bench.outage()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
