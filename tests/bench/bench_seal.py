#!/usr/bin/python3
"""Benchmark of the audit sealer (issue 16): how fast audit_seal chains audit rows written the
way a round POST writes them (audit_many: one row per resident, 78 a request, detail NULL).
A throwaway cluster migrated by the build's rollcalld (no daemon runs, so nothing else seals).
Prints figures; asserts nothing about time.

  backlog:  --rows rows inserted 78 per transaction, then audit_seal(2000) called until it seals
            nothing; rows/s and µs per row of the sealing alone.
  steady:   --posts times: one 78-row "POST", then audit_seal(2000); µs per row of the sealing,
            as the daemon's once-a-second sealer meets it under load.
  idle:     audit_seal(2000) with nothing to seal (caught up), with the rows above in the table.
  vacuum:   then VACUUM of audit (and audit_seals where it exists): what the sealing left for
            autovacuum to clean, per row; and the bytes of audit + audit_seals (heap, indexes,
            TOAST) per row.

Each figure is the median of --runs runs, each on a fresh database. Times are the CPU time of
the PostgreSQL backend doing the work (utime + stime from /proc, the cluster being local), so that
other work on a shared machine does not count; the wall-clock figure is printed beside the
backlog's.

Usage: /usr/bin/python3 tests/bench/bench_seal.py [--build DIR] [--rows 39000] [--posts 200]
(ROLLCALL_BUILD or --build names the build directory holding rollcalld; default build/).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the harness package

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--build", help="build directory with rollcalld (default $ROLLCALL_BUILD or build/)")
parser.add_argument("--rows", type=int, default=39_000, help="backlog rows (a multiple of 78)")
parser.add_argument("--posts", type=int, default=200, help="steady state: 78-row posts")
parser.add_argument("--runs", type=int, default=3)
ARGS = parser.parse_args()
if ARGS.build:
    os.environ["ROLLCALL_BUILD"] = ARGS.build

import harness  # noqa: E402  (after ROLLCALL_BUILD is set: it reads it on import)
from harness import Daemon  # noqa: E402

RESIDENTS = 78

# What audit_many(ctx, 'round_post', seen) inserts for one POST of a 78-resident round.
POST_SQL = (
    "INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome)"
    " SELECT now(), 'staff-terminal-3', 'staff', 'round_post', r,"
    " 'req-' || %s::text, '10.0.4.17:51234', 'ok' FROM generate_series(1, 78) AS r"
)


def post(conn, n):
    with conn.transaction():
        conn.execute(POST_SQL, (n,))


def backend_cpu(pid):
    """CPU seconds (user + system) of one local process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seal_all(conn):
    """Calls audit_seal until it seals nothing; returns (rows sealed, backend CPU seconds)."""
    pid = conn.info.backend_pid
    total = 0
    t = backend_cpu(pid)
    while True:
        sealed = conn.execute("SELECT sealed FROM audit_seal(2000)").fetchone()[0]
        if sealed == 0:
            return total, backend_cpu(pid) - t
        total += sealed


def one_run(env, run):
    d = Daemon(env, f"seal{run}", start=False)
    with d.db.connect() as conn:
        seal_all(conn)  # the bootstrap rows of the template, if any
        for n in range(ARGS.rows // RESIDENTS):
            post(conn, n)
        conn.execute("VACUUM ANALYZE audit")
        wall = time.perf_counter()
        backlog, backlog_s = seal_all(conn)
        wall = time.perf_counter() - wall
        steady_s = 0.0
        steady = 0
        for n in range(ARGS.posts):
            post(conn, 1_000_000 + n)
            sealed, s = seal_all(conn)
            steady += sealed
            steady_s += s
        idle_calls = 200
        t = backend_cpu(conn.info.backend_pid)
        for _ in range(idle_calls):
            conn.execute("SELECT sealed FROM audit_seal(2000)").fetchone()
        idle_s = (backend_cpu(conn.info.backend_pid) - t) / idle_calls
        rows = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        tables = [t for (t,) in conn.execute(
            "SELECT relname::text FROM pg_class WHERE relname IN ('audit', 'audit_seals')"
            " AND relkind = 'r' ORDER BY 1")]
        t = backend_cpu(conn.info.backend_pid)
        conn.execute(f"VACUUM {', '.join(tables)}")
        vacuum_s = backend_cpu(conn.info.backend_pid) - t
        size = sum(conn.execute("SELECT pg_total_relation_size(%s::regclass)", (t,)).fetchone()[0]
                   for t in tables)
    return {
        "backlog_us_per_row": backlog_s / max(backlog, 1) * 1e6,
        "backlog_rows_per_s": backlog / backlog_s if backlog_s else 0.0,
        "backlog_wall_us_per_row": wall / max(backlog, 1) * 1e6,
        "steady_us_per_row": steady_s / max(steady, 1) * 1e6,
        "idle_ms": idle_s * 1e3,
        "vacuum_us_per_row": vacuum_s / rows * 1e6,
        "bytes_per_row": size / rows,
        "rows": rows,
    }


def main():
    env = harness.Environment.create(prefix="rollcall-bench-seal-")
    try:
        results = []
        for run in range(ARGS.runs):
            r = one_run(env, run)
            results.append(r)
            print(f"run {run + 1}: backlog {r['backlog_rows_per_s']:.0f} rows/s "
                  f"({r['backlog_us_per_row']:.1f} µs/row CPU, "
                  f"{r['backlog_wall_us_per_row']:.1f} wall), steady {r['steady_us_per_row']:.1f}"
                  f" µs/row, idle call {r['idle_ms']:.2f} ms, vacuum {r['vacuum_us_per_row']:.2f}"
                  f" µs/row, {r['bytes_per_row']:.0f} bytes/row, {r['rows']} audit rows",
                  flush=True)
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"median of {ARGS.runs}: backlog {med['backlog_rows_per_s']:.0f} rows/s "
              f"({med['backlog_us_per_row']:.1f} µs/row CPU, "
              f"{med['backlog_wall_us_per_row']:.1f} wall), steady {med['steady_us_per_row']:.1f}"
              f" µs/row, idle call {med['idle_ms']:.2f} ms, vacuum {med['vacuum_us_per_row']:.2f}"
              f" µs/row, {med['bytes_per_row']:.0f} bytes/row")
    finally:
        env.close()


if __name__ == "__main__":
    main()
