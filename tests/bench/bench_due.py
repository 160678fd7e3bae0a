#!/usr/bin/python3
"""Benchmark of the timing engine and the alert stream (issue 4). Real rollcalld, real
PostgreSQL (a throwaway cluster), real mutual TLS. Prints figures; asserts nothing about time.

  1. Lateness: with 100,000 due rows pending, how late after its instant is a due event decided?
     (a) 100,000 rows falling due over 50 s (2,000/s); (b) 200 rows due every 50 ms while
     100,000 others wait for tomorrow. Measured with a bench-only handler due_bench() that
     records clock_timestamp() (the database's wall clock, same machine) when it runs.
  2. Restart: kill -9 with 10,000 absences whose notification fell due while the daemon was
     down; time from the new process's start until all 10,000 are decided.
  3. Watchers: resident memory (RSS) of the daemon with 10,000 idle SSE watchers over TLS, and
     the time to fan one alert out to 1,000 (and to 10,000) watchers: from the report request
     being sent to the last watcher reading the event. The watchers are held by
     tests/bench/bench_watchers (C, one epoll loop), not by Python.

Usage: /usr/bin/python3 tests/bench/bench_due.py [--build DIR] [--only lateness,restart,watchers]
(ROLLCALL_BUILD or --build names the build directory holding rollcalld; default build/).
"""

import argparse
import datetime
import os
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the harness package

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--build", help="build directory with rollcalld (default $ROLLCALL_BUILD or build/)")
parser.add_argument("--only", default="lateness,restart,watchers")
parser.add_argument("--watchers", type=int, default=10000)
parser.add_argument("--due-rows", type=int, default=100_000,
                    help="lateness (a): rows falling due, at --rate a second")
parser.add_argument("--rate", type=int, default=2000, help="lateness (a): rows due per second")
parser.add_argument("--pending", type=int, default=0,
                    help="lateness (a): rows due tomorrow, pending in the table meanwhile")
parser.add_argument("--overdue", type=int, default=10_000,
                    help="restart: absences overdue when the daemon is killed")
parser.add_argument("--keep", action="store_true", help="keep the work directory")
ARGS = parser.parse_args()
if ARGS.build:
    os.environ["ROLLCALL_BUILD"] = ARGS.build

if ARGS.keep:
    os.environ["ROLLCALL_KEEP"] = "1"

import harness  # noqa: E402  (after ROLLCALL_BUILD is set: it reads it on import)
from harness import Daemon, ok  # noqa: E402

UTC = datetime.timezone.utc


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User and system CPU time the process has used (/proc/PID/stat, clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup():
    env = harness.Environment.create(prefix="rollcall-bench-")
    return env.workdir, env


# --------------------------------------------------------------------------------------------
# 1. Lateness

BENCH_SQL = """
CREATE TABLE bench_plan (ref bigint PRIMARY KEY, due_at timestamptz NOT NULL);
CREATE TABLE bench_log (ref bigint PRIMARY KEY, decided_at timestamptz NOT NULL);
-- Bench only: the wall clock of the decision, to measure lateness. Product SQL never does this.
CREATE FUNCTION due_bench(p_ref bigint, p_now timestamptz) RETURNS void
LANGUAGE sql AS $$ INSERT INTO bench_log VALUES (p_ref, clock_timestamp()) $$;
"""


def schedule(db, first_ref, count, start, spacing_us):
    db.execute(
        "INSERT INTO bench_plan SELECT %s + n, %s::timestamptz + n * %s * interval '1 microsecond'"
        " FROM generate_series(0, %s - 1) AS n", first_ref, start, spacing_us, count)
    db.execute(
        "INSERT INTO due_events (kind, ref, due_at) SELECT 'bench', ref, due_at FROM bench_plan"
        " WHERE ref >= %s AND ref < %s + %s", first_ref, first_ref, count)
    # Statistics for the planner, as autovacuum would gather them after a load this size.
    db.execute("ANALYZE due_events")
    db.execute("SELECT pg_notify('rc_due', %s)", start.isoformat())


def lateness(db, first_ref, count):
    rows = db.query(
        "SELECT extract(epoch FROM l.decided_at - p.due_at)::float8 FROM bench_plan p"
        " JOIN bench_log l USING (ref) WHERE p.ref >= %s AND p.ref < %s + %s",
        first_ref, first_ref, count)
    return [r[0] for r in rows]


def wait_logged(db, first_ref, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = db.scalar("SELECT count(*) FROM bench_log WHERE ref >= %s AND ref < %s + %s",
                      first_ref, first_ref, count)
        if n >= count:
            return n
        time.sleep(0.25)
    return n


def bench_lateness(env):
    d = Daemon(env, "lateness", config={"test_clock": "false", "log_level": "warn"})
    try:
        d.db.execute(BENCH_SQL)
        now = datetime.datetime.now(UTC)

        # (a) --due-rows rows (100,000) due at --rate (2,000) a second, with --pending others
        # waiting for tomorrow.
        count, spacing = ARGS.due_rows, max(1, round(1e6 / ARGS.rate))  # µs between rows
        if ARGS.pending:
            t = time.monotonic()
            schedule(d.db, 10_000_000, ARGS.pending,
                     now + datetime.timedelta(days=1), 1000)
            print(f"[lateness a] loading {ARGS.pending} rows due tomorrow took "
                  f"{time.monotonic() - t:.1f} s")
        # Far enough ahead that loading the rows is over before the first falls due.
        start = datetime.datetime.now(UTC) + datetime.timedelta(seconds=15 + count / 20_000)
        t = time.monotonic()
        schedule(d.db, 1, count, start, spacing)
        print(f"[lateness a] loading {count} due rows took {time.monotonic() - t:.1f} s")
        got = wait_logged(d.db, 1, count, count * spacing / 1e6 + 120)
        late = lateness(d.db, 1, count)
        pending = f", {ARGS.pending} more pending" if ARGS.pending else ""
        print(f"[lateness a] {count} due rows over {count * spacing / 1e6:.0f} s "
              f"({1e6 / spacing:.0f}/s{pending}): decided {got}; lateness median {ms(statistics.median(late))}, "
              f"p99 {ms(pct(late, 99))}, max {ms(max(late))}")

        # (b) 200 sparse rows while 100,000 others are pending for tomorrow: first with the
        # rows of (a) deleted still dead in the table, then after the vacuum autovacuum
        # runs within a minute (done here at once).
        tomorrow = datetime.datetime.now(UTC) + datetime.timedelta(days=1)
        schedule(d.db, 1_000_000, 100_000, tomorrow, 1000)
        for label, first in (("dead rows of (a) not yet vacuumed", 2_000_000),
                             ("after VACUUM", 3_000_000)):
            if first == 3_000_000:
                d.db.execute("VACUUM ANALYZE due_events")
            pending = d.db.scalar("SELECT count(*) FROM due_events")
            start = datetime.datetime.now(UTC) + datetime.timedelta(seconds=2)
            # Scheduled through due_schedule, as the daemon's SQL does (each with its NOTIFY).
            d.db.execute("INSERT INTO bench_plan SELECT %s + n, %s::timestamptz"
                         " + n * interval '50 milliseconds' FROM generate_series(0, 199) AS n",
                         first, start)
            d.db.execute("SELECT due_schedule('bench', ref, NULL, due_at) FROM bench_plan"
                         " WHERE ref >= %s AND ref < %s + 200", first, first)
            got = wait_logged(d.db, first, 200, 60)
            late = lateness(d.db, first, 200)
            print(f"[lateness b] 200 rows every 50 ms with {pending} rows pending, {label}: "
                  f"decided {got}; lateness median {ms(statistics.median(late))}, "
                  f"p99 {ms(pct(late, 99))}, max {ms(max(late))}")
    finally:
        d.stop()


# --------------------------------------------------------------------------------------------
# 2. Restart after kill -9 with 10,000 overdue absences

def bench_restart(env):
    d = Daemon(env, "restart", config={"log_level": os.environ.get("BENCH_LOG_LEVEL", "info")})
    try:
        t0 = datetime.datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
        d.set_clock(t0)
        centre = d.create_centre("bench", name="Bench")["id"]
        count = ARGS.overdue
        d.db.execute(
            "INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)"
            " SELECT 'B-' || n, 'Bench', 'Resident', '2012-03-10', %s FROM generate_series(1, %s) n",
            t0, count)
        d.db.execute("INSERT INTO stays (resident, centre, from_date) SELECT id, %s, '2026-01-05'"
                     " FROM residents WHERE case_number LIKE 'B-%%'", centre)
        # Opened at 15:00 with since 14:00: the 12-hour threshold falls due at 02:00. In
        # statements of 5,000 with ANALYZE between: in one statement the plans PL/pgSQL cached
        # while the tables were empty scan them whole on every call (12 minutes for 100,000,
        # where a daemon's own transactions meet tables autovacuum has analysed).
        ids = [r[0] for r in d.db.query("SELECT id FROM residents WHERE case_number LIKE 'B-%%'"
                                        " ORDER BY id")]
        loading = time.monotonic()
        for i in range(0, len(ids), 5000):
            d.db.execute("SELECT absence_open(id, %s, %s, NULL, false, NULL, NULL, 'bench', %s)"
                         " FROM residents WHERE id >= %s AND id <= %s AND case_number LIKE 'B-%%'",
                         centre, t0 - datetime.timedelta(hours=1), t0, ids[i],
                         ids[min(i + 4999, len(ids) - 1)])
            d.db.execute("ANALYZE absences, alerts, alert_events, due_events")
        print(f"[restart] opening {count} absences took {time.monotonic() - loading:.1f} s")
        pending = d.db.scalar("SELECT count(*) FROM due_events")
        d.proc.kill()
        d.proc.wait()
        d.db.execute("UPDATE clock_state SET now = %s", t0 + datetime.timedelta(hours=12))
        started = time.monotonic()
        d.start()
        up = time.monotonic() - started
        while d.db.scalar("SELECT count(*) FROM absences WHERE notified_at IS NULL") > 0:
            time.sleep(0.05)
        done = time.monotonic() - started
        # Everything else due meanwhile (escalations, repeats) as well.
        while d.db.scalar("SELECT count(*) FROM due_events WHERE due_at <= %s",
                          t0 + datetime.timedelta(hours=12)) > 0:
            time.sleep(0.05)
        all_done = time.monotonic() - started
        doubled = d.db.scalar("SELECT count(*) FROM (SELECT absence FROM deliveries WHERE"
                              " type = 'absence.reported' GROUP BY absence"
                              " HAVING count(*) <> 3) x")
        print(f"[restart] kill -9 with {count} absences overdue ({pending} due rows pending): "
              f"answering /healthz after {ms(up)}, all {count} notifications decided after "
              f"{ms(done)}, every due event decided after {ms(all_done)} "
              f"({count / done:.0f} absences/s); absences not notified exactly once: {doubled}")
    finally:
        d.stop()


# --------------------------------------------------------------------------------------------
# 3. Idle watchers and fan-out

class Watchers:
    """tests/bench/bench_watchers (C, one epoll loop) holding the SSE streams open: a Python
    asyncio client spent about 30 µs of CPU on each TLS read, so with 10,000 watchers the
    fan-out it measured was mostly its own. The program answers one line per command."""

    def __init__(self, daemon, cn, centre):
        cert, key = daemon.pki.client(cn)
        binary = harness.BUILD / "bench_watchers"
        harness.common.require(binary)
        self.proc = subprocess.Popen(
            [str(binary), "localhost", str(daemon.port), str(daemon.pki.ca), str(cert), str(key),
             f"/v1/centres/{centre}/alerts/stream"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.refused = 0  # stream requests answered other than 200 (then tried again)
        self.report_times = []  # how long each report request took to be answered
        self.cpu_per_watcher = []  # the daemon's CPU seconds per watcher per alert, each fan_out

    def command(self, line, timeout=300):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        answer = self.proc.stdout.readline().strip() if ready else ""
        if not answer or answer.startswith("error"):
            raise AssertionError(f"bench_watchers, after {line!r}: {answer or 'no answer'}")
        return answer.split()

    def open(self, count):
        # One certificate opens them all: rollcalld holds at most 64 of its calls waiting for
        # the database and answers the rest 429 with Retry-After (docs/config.md), which the
        # program honours and tries again a second later.
        answer = self.command(f"open {count}")
        self.refused += int(answer[3])
        return float(answer[5])

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def fan_out(watchers, count, report, pid, rounds=5):
    """From just before the report is sent to when the count-th watcher read the alert. Also
    the daemon's CPU time per watcher, over all rounds (the report's own work included)."""
    times = []
    cpu = cpu_seconds(pid)
    for _ in range(rounds):
        watchers.command("arm")
        sent = time.monotonic()
        report()
        answered = time.monotonic()
        done = float(watchers.command(f"wait {count}", timeout=60)[1])
        times.append(done - sent)
        watchers.report_times.append(answered - sent)
        time.sleep(0.2)
    watchers.cpu_per_watcher.append((cpu_seconds(pid) - cpu) / rounds / count)
    return times


def bench_watchers(env):
    d = Daemon(env, "watchers", config={"log_level": "warn", "max_connections": "20000"})
    try:
        d.set_clock(datetime.datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        centre = d.create_centre("watch", name="Watch")["id"]
        d.create_account("bench-oncall", "oncall", [centre])
        d.create_account("bench-staff", "staff", [centre])
        staff = d.api("bench-staff")
        residents = [d.create_resident(centre)["id"] for _ in range(20)]
        queue = list(residents)

        def report():
            ok(staff.post(f"/v1/residents/{queue.pop()}/absences", json={}), 201)

        idle_rss = rss_kib(d.proc.pid)

        w = Watchers(d, "bench-oncall", centre)
        try:
            w.open(1)
            times_1 = fan_out(w, 1, report, d.proc.pid)
            opened_1k = w.open(999)
            times_1k = fan_out(w, 1000, report, d.proc.pid)
            opened_rest = w.open(ARGS.watchers - 1000)
            time.sleep(2)
            rss = rss_kib(d.proc.pid)
            times_all = fan_out(w, ARGS.watchers, report, d.proc.pid, rounds=3)
        finally:
            w.close()
        refused, report_times, cpu = w.refused, w.report_times, w.cpu_per_watcher
        n = ARGS.watchers
        print(f"[watchers] daemon RSS idle {idle_rss / 1024:.1f} MiB; with {n} idle TLS SSE "
              f"watchers {rss / 1024:.1f} MiB: {(rss - idle_rss) / n:.1f} KiB per watcher "
              f"(connecting 1,000 took {opened_1k:.1f} s, the other {n - 1000} {opened_rest:.1f} s;"
              f" {refused} stream requests refused and tried again)")
        print(f"[fan-out] one alert to 1 watcher (the reference: the report, its NOTIFY, the "
              f"fetch and one write): median {ms(statistics.median(times_1))}, runs "
              + ", ".join(ms(x) for x in times_1))
        print(f"[fan-out] one alert to 1,000 watchers (report sent to last watcher reading it): "
              f"median {ms(statistics.median(times_1k))}, runs "
              + ", ".join(ms(x) for x in times_1k))
        print(f"[fan-out] one alert to {n} watchers: median {ms(statistics.median(times_all))}, "
              f"runs " + ", ".join(ms(x) for x in times_all)
              + f"; ratio to 1,000: {statistics.median(times_all) / statistics.median(times_1k):.1f}")
        print(f"[fan-out] the report request itself (POST, answered after its commit): median "
              f"{ms(statistics.median(report_times))} of {len(report_times)}; the daemon's CPU "
              f"per watcher and alert {cpu[1] * 1e6:.1f} µs (1,000), {cpu[2] * 1e6:.1f} µs ({n})")
    finally:
        d.stop()


def main():
    workdir, env = setup()
    try:
        only = set(ARGS.only.split(","))
        print(f"rollcalld: {harness.ROLLCALLD}; {os.cpu_count()} CPUs; work directory {workdir}")
        if "lateness" in only:
            bench_lateness(env)
        if "restart" in only:
            bench_restart(env)
        if "watchers" in only:
            bench_watchers(env)
    finally:
        env.close()  # the work directory stays with --keep or ROLLCALL_KEEP=1


if __name__ == "__main__":
    main()
