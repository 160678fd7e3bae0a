#!/usr/bin/python3
"""Benchmark of the foundation (issue 3): recording observations through rollcalld against
pgbench doing comparable durable writes on the same PostgreSQL, in one run. Prints figures and
ratios; asserts nothing about timing.

  1. One observation per POST (a correction of the same resident's observation, so every request
     writes: the old row is superseded, a new one inserted, an audit row and an idempotency row
     written, all in one transaction) over mutual TLS with keep-alive, at 1 and 8 concurrent
     clients; against pgbench running one durable single-row INSERT per transaction at the same
     concurrency. Each client is the terminal of its own centre (writers to one round queue
     behind each other by design, so eight clients on one round would measure that lock).
  2. A whole 78-resident round per POST, against a pgbench script inserting 78 rows in one
     transaction. Also p50/p99 latency of the round POST.

The cluster is durable (fsync on, synchronous_commit on): both sides pay for a WAL flush per
transaction, which is what the ratio compares. Each measurement runs --seconds (default 10) and
is repeated --repeats times (default 3) alternating rollcalld and pgbench; medians are quoted.

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/bench_foundation.py [--seconds 10]
        [--repeats 3]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness: cluster, PKI, daemons, world)
from harness import BENCH_HTTPS, Centre  # noqa: E402

PGBENCH = shutil.which("pgbench") or str(harness.common.PG_BIN / "pgbench")


def parse_bench(output):
    m = re.search(r"tps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) ok=(\d+) errors=(\d+)", output)
    if not m:
        raise RuntimeError(f"bench_https said: {output}")
    return {"tps": float(m[1]), "p50": float(m[2]), "p99": float(m[3]), "ok": int(m[4]),
            "errors": int(m[5])}


def run_pgbench(cluster, dbname, script, clients, seconds):
    out = subprocess.run(
        [PGBENCH, "-n", "-h", str(cluster.dir / "sock"), "-p", str(cluster.port), "-U",
         "postgres", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
         "-f", str(script), dbname],
        capture_output=True, text=True, check=True, cwd="/tmp")
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    return {"tps": float(m[1]), "avg_ms": float(lat[1]) if lat else 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not BENCH_HTTPS.exists():
        sys.exit(f"{BENCH_HTTPS} is missing: build first (cmake builds tests/bench/*.c)")

    # Durable (fast=False): commits are flushed as in production.
    with harness.Environment.create(prefix="rollcall-bench-foundation-", fast=False) as env:
        run(env, args)


def run(env, args):
    workdir, pki, cluster = env.workdir, env.pki, env.cluster
    rc = env.daemon("bench_foundation", config={"log_level": "warn", "db_pool_size": "8"})
    rc.set_clock("2026-11-20T12:00:00+01:00")
    # One centre per simulated terminal: 8 clients are 8 centres' staff, each on its own
    # round (writers to one round queue behind each other by design).
    cert, key = pki.client("bench-staff")
    centres = []
    for t in range(8):
        centre = Centre(rc, f"bench{t}").id
        ids = [rc.create_resident(centre)["id"] for _ in range(78)]
        centres.append(centre)
        (workdir / f"one-{t}.json").write_text(json.dumps({"observations": [
            {"resident": ids[0], "status": "present", "note": "bench @N@"}]}))
        (workdir / f"round-{t}.json").write_text(json.dumps({"observations": [
            {"resident": i, "status": "present", "note": "bench @N@"} for i in ids]}))
    rc.create_account("bench-staff", "staff", centres)
    one = workdir / "one-@T@.json"
    whole = workdir / "round-@T@.json"

    db = rc.dbname
    with rc.db.connect() as conn:
        conn.execute("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, resident bigint, "
                     "status text, note text, at timestamptz)")
    single_sql = workdir / "single.sql"
    single_sql.write_text(
        "INSERT INTO bench_rows (resident, status, note, at) "
        "VALUES (1, 'present', 'bench', '2026-11-20T12:00:00Z');\n")
    round_sql = workdir / "round.sql"
    round_sql.write_text(
        "BEGIN;\n" + "".join(
            f"INSERT INTO bench_rows (resident, status, note, at) VALUES ({i}, 'present', "
            "'bench', '2026-11-20T12:00:00Z');\n" for i in range(78)) + "COMMIT;\n")

    def rollcalld(path_body, clients):
        out = subprocess.run(
            [str(BENCH_HTTPS), "localhost", str(rc.port), str(pki.ca), str(cert), str(key),
             "POST", "/v1/centres/bench@T@/rounds/2026-11-20/1", str(path_body),
             str(clients), str(args.seconds)],
            capture_output=True, text=True, check=True)
        return parse_bench(out.stdout)

    print(f"rollcalld bench: {args.repeats} x {args.seconds} s per figure, medians; "
          f"durable commits; {os.cpu_count()} CPUs")
    results = {}
    for label, body, script, clients in (
            ("single observation, 1 client", one, single_sql, 1),
            ("single observation, 8 clients", one, single_sql, 8),
            ("78-resident round, 1 client", whole, round_sql, 1),
            ("78-resident round, 8 clients", whole, round_sql, 8)):
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(rollcalld(body, clients))
            theirs.append(run_pgbench(cluster, db, script, clients, args.seconds))
        tps = statistics.median(r["tps"] for r in ours)
        ref = statistics.median(r["tps"] for r in theirs)
        p50 = statistics.median(r["p50"] for r in ours)
        p99 = statistics.median(r["p99"] for r in ours)
        errors = sum(r["errors"] for r in ours)
        results[label] = (tps, ref)
        print(f"{label:32s} rollcalld {tps:8.1f} tps (p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"errors {errors})  pgbench {ref:8.1f} tps  ratio {tps / ref:.2f}")
    recorded = rc.db.scalar("SELECT count(*) FROM observations")
    print(f"observations recorded during the run: {recorded}")


if __name__ == "__main__":
    main()
