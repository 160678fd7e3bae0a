#!/usr/bin/python3
"""Benchmark of allowance statements (issue 6): a whole period's statements of a centre with
10,000 and with 100,000 residents, as JSON and as the finance CSV, through rollcalld over mutual
TLS; and the daemon's peak resident memory during the CSV export. Prints figures; asserts
nothing about timing.

The data is generated in SQL: residents with stays (some arriving or leaving mid-period), phases
(some changing mid-period, some phase 3), birthdays (some turning 18 mid-period), absences (some
covering whole days, some still open), sanctions. Two scenarios per size:
  fresh          nothing paid yet;
  steady state   the two periods before were paid (with the change counters a payout keeps);
                 then came this period's absences, sanctions and phase changes, and for 5 % of
                 the residents a late absence reaching back into a paid period. A statement
                 looks at the paid periods of the correction window for corrections: those
                 nothing has changed since are taken at their payout's worth, the 5 % are
                 recomputed;
  every paid period recomputed   the same data with allowance_reuse_paid off: what the steady
                 state costs after a change that reaches back into every paid period (a
                 backdated rate), and what it cost before paid periods were reused.
Each figure is the median of --repeats runs (default 3): the time from sending the request to
the last byte received, the body read and discarded as it arrives. The CPU time the daemon and
the PostgreSQL cluster spent during the JSON export shows where the time goes (2 cores shared).

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/bench_statements.py [--repeats 3]
        [--sizes 10000,100000]
"""

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness: cluster, PKI, daemons, world)
from harness import Centre  # noqa: E402

PERIOD = "2026-03-02"            # the 5th period from the anchor 2026-01-05
EARLIER = ("2026-02-02", "2026-02-16")
CLOCK = "2026-03-20T12:00:00+01:00"

GENERATE = """
WITH r AS (
    INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)
    SELECT %(centre)s || '-' || g, 'Given' || g, 'Family' || g,
           CASE WHEN g %% 100 = 0 THEN date '2008-03-08'          -- 18 mid-period
                ELSE date '2009-01-01' + (g %% 2500) END,
           '2026-01-01'
    FROM generate_series(1, %(n)s) AS g
    RETURNING id
), s AS (
    INSERT INTO stays (resident, centre, from_date, to_date)
    SELECT id, %(centre)s,
           CASE WHEN id %% 25 = 0 THEN date '2026-03-06' ELSE date '2026-01-05' + (id %% 20)::int END,
           CASE WHEN id %% 10 = 0 AND id %% 25 <> 0 THEN date '2026-03-05' + (id %% 9)::int END
    FROM r RETURNING resident, from_date
), p AS (
    INSERT INTO phases (resident, phase, from_date)
    SELECT resident, CASE WHEN resident %% 10 = 1 THEN 3 ELSE 1 END, from_date FROM s
    RETURNING resident
)
INSERT INTO phases (resident, phase, from_date)
SELECT resident, 2, date '2026-03-02' + (resident %% 14)::int FROM p WHERE resident %% 3 = 0
ON CONFLICT DO NOTHING
"""

ABSENCES = """
INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                      reason, recipients, returned_at, closed_at, closed_by)
SELECT r.id, %(centre)s, t.since, t.since, 'bench', 14, t.since, 'threshold_12h',
       ARRAY['municipality','police','immigration'], t.back, t.back,
       CASE WHEN t.back IS NOT NULL THEN 'bench' END
FROM residents r
CROSS JOIN LATERAL (SELECT timestamptz '2026-03-04 14:00+01' + (r.id %% 5) * interval '1 day'
                           AS since,
                           CASE WHEN r.id %% 100 <> 7
                                THEN timestamptz '2026-03-07 09:00+01' + (r.id %% 5) * interval '1 day'
                           END AS back) AS t
WHERE r.case_number LIKE %(prefix)s AND r.id %% 10 = 7
"""

SANCTIONS = """
INSERT INTO sanctions (resident, centre, from_date, to_date, percent, reason, heard_at,
                       decided_at, decided_by, in12_outbox)
SELECT r.id, %(centre)s, date '2026-03-03', date '2026-03-06', 25 + (r.id %% 4) * 25, 'bench',
       timestamptz '2026-03-01 10:00+01', timestamptz '2026-03-01 11:00+01', 'bench', %(outbox)s
FROM residents r WHERE r.case_number LIKE %(prefix)s AND r.id %% 50 = 3
"""

# Paid with the counters a real payout keeps (those of the facts it paid; the amount is a
# stand-in: a period taken at its payout's worth has no correction whatever the amount).
PAYOUTS = """
INSERT INTO payouts (resident, period_start, centre, collected_by, paid_at, paid_by, net_ore,
                     adjustment_ore, amount_ore, statement, inputs_version, rules_version)
SELECT r.id, e.p, %(centre)s, 'self', e.p + interval '14 days', 'bench', 90000, 0, 90000, '{}',
       coalesce((SELECT v.version FROM allowance_input_versions v WHERE v.resident = r.id), 0),
       (SELECT version FROM allowance_rules_version)
FROM residents r CROSS JOIN (VALUES (%(p1)s::date), (%(p2)s::date)) AS e(p)
WHERE r.case_number LIKE %(prefix)s
"""

# After the payouts, 5 % of the residents get an absence recorded late that covers a whole day
# of the second paid period: their paid periods are recomputed.
LATE_ABSENCES = """
INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since, notify_at,
                      reason, recipients, returned_at, closed_at, closed_by)
SELECT r.id, %(centre)s, timestamptz '2026-02-18 10:00+01', timestamptz '2026-03-20 10:00+01',
       'bench', 14, timestamptz '2026-02-18 22:00+01', 'threshold_12h',
       ARRAY['municipality','police','immigration'], timestamptz '2026-02-20 09:00+01',
       timestamptz '2026-03-20 10:00+01', 'bench'
FROM residents r WHERE r.case_number LIKE %(prefix)s AND r.id %% 20 = 11
"""


def generate(rc, centre, n, paid):
    with rc.db.connect() as conn:
        conn.execute(GENERATE, {"centre": centre, "n": n})
        if paid:
            conn.execute(PAYOUTS, {"centre": centre, "prefix": centre + "-%",
                                   "p1": EARLIER[0], "p2": EARLIER[1]})
            conn.execute(LATE_ABSENCES, {"centre": centre, "prefix": centre + "-%"})
        conn.execute(ABSENCES, {"centre": centre, "prefix": centre + "-%"})
        outbox = conn.execute(
            "INSERT INTO outbox (centre, type, payload, due_at, created_at) VALUES"
            " (%s, 'sanction.in12', '{}', %s, %s) RETURNING id", (centre, CLOCK, CLOCK)
        ).fetchone()[0]
        conn.execute(SANCTIONS, {"centre": centre, "prefix": centre + "-%", "outbox": outbox})
        # VACUUM too: otherwise autovacuum processes the freshly inserted rows during the
        # measurement, competing for the same two cores.
        conn.execute("VACUUM ANALYZE")


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pids):
    """{pid: user plus system CPU seconds} of those of the processes still running."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def cpu_delta(before, after):
    """CPU seconds spent between two cpu_seconds() of the same processes (one started in
    between counts from 0; one that ended is left out)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def cluster_pids(cluster):
    """The cluster's processes: the postmaster (first line of postmaster.pid) and its children."""
    try:
        master = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def fetch(api, path, accept):
    """Seconds to the last byte, bytes received, and the number of lines (CSV) or None."""
    conn = api.connect(timeout=600)
    started = time.monotonic()
    conn.request("GET", path, headers={"Accept": accept})
    resp = conn.getresponse()
    size, lines = 0, 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.monotonic() - started
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{path}: {resp.status}")
    return elapsed, size, lines


class PeakSampler:
    """Samples the daemon's VmRSS every 10 ms while running (VmHWM, reset first, is the
    kernel's own peak; both are reported)."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid, "VmRSS"))
            time.sleep(0.01)

    def __enter__(self):
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM
        except OSError:
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(rc, api, cluster, centre, n, repeats, label, gen):
    """Prints one line of figures: the centre's period as JSON and as CSV, medians of
    `repeats` runs, with the daemon's memory and the CPU both sides spent."""
    pid = rc.proc.pid
    path = f"/v1/centres/{centre}/statements/{PERIOD}"
    json_runs, csv_runs, peaks, hwms = [], [], [], []
    daemon_cpu, pg_cpu = [], []
    base_rss = rss_kib(pid, "VmRSS")
    for _ in range(repeats):
        before = cpu_seconds([pid]), cpu_seconds(cluster_pids(cluster))
        json_runs.append(fetch(api, path, "application/json"))
        daemon_cpu.append(cpu_delta(before[0], cpu_seconds([pid])))
        pg_cpu.append(cpu_delta(before[1], cpu_seconds(cluster_pids(cluster))))
        with PeakSampler(pid) as sampler:
            csv_runs.append(fetch(api, path, "text/csv"))
        peaks.append(sampler.peak)
        hwms.append(rss_kib(pid, "VmHWM"))
    rows = csv_runs[0][2] - 1
    assert rows == n, f"{rows} CSV rows for {n} residents"
    print(f"{label} JSON {statistics.median(r[0] for r in json_runs):6.2f} s "
          f"({json_runs[0][1] / 1e6:6.1f} MB)  CSV "
          f"{statistics.median(r[0] for r in csv_runs):6.2f} s "
          f"({csv_runs[0][1] / 1e6:5.1f} MB, {rows} rows)  daemon RSS before "
          f"{base_rss / 1024:5.1f} MiB, peak during CSV {max(peaks) / 1024:5.1f} "
          f"MiB (VmHWM {max(hwms) / 1024:5.1f} MiB)  CPU during JSON: daemon "
          f"{statistics.median(daemon_cpu):5.2f} s, PostgreSQL "
          f"{statistics.median(pg_cpu):5.2f} s  [data generated in {gen:.1f} s]", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    # SIGTERM runs the clean-up below too (stopping the daemon and the cluster).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    with harness.Environment.create(prefix="rollcall-bench-statements-") as env:
        cluster = env.cluster
        rc = env.daemon("bench_statements", config={"log_level": "warn"})
        rc.set_clock(CLOCK)

        print(f"allowance statements bench: period {PERIOD}, medians of {args.repeats} runs, "
              f"{os.cpu_count()} CPUs, build {harness.BUILD}")
        for n in sizes:
            for paid in (False, True):
                centre = f"bench{n}{'p' if paid else ''}"
                api = Centre(rc, centre).manager
                t0 = time.monotonic()
                generate(rc, centre, n, paid)
                gen = time.monotonic() - t0
                variants = [("steady state" if paid else "fresh", "on")]
                if paid:
                    variants.append(("every paid period recomputed", "off"))
                for name, reuse in variants:
                    rc.db.execute("UPDATE settings SET value = %s"
                                  " WHERE key = 'allowance_reuse_paid'", reuse)
                    measure(rc, api, cluster, centre, n, args.repeats,
                            f"{n:>7,} residents, {name:28s}", gen)
                rc.db.execute("UPDATE settings SET value = 'on' WHERE key = 'allowance_reuse_paid'")


if __name__ == "__main__":
    main()
