#!/usr/bin/python3
"""Figures for issue 12 (slow and greedy clients): one terminal's latency (its own staff
certificate, one kept-alive connection) for a simple GET (a resident) and a single observation
POST (a round), unloaded and then under the issue's load: 1,000 connections sending a head one
byte a second, 1,000 that ask for a ~300 kB page of GET /v1/audit and never read it, and one
certificate pipelining 40 PATCHes of 600 kB. The load runs as its own process
(slow_clients_load.py, asyncio), so that its CPU is not the measurement's. Prints p50/p99 of
each, the loaded/unloaded ratios and the daemon's RSS, per run and as medians of --runs runs
(a fresh daemon each); asserts nothing about timing.

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/bench_slow_clients.py [--runs 3]
        [--slow 1000] [--non-readers 1000] [--samples 300]
It starts its own PostgreSQL cluster (scripts/pg.sh, --fast: fsync off), PKI and rollcalld
(request_timeout and idle_timeout 10 s) under /tmp, and removes them afterwards.
"""

import argparse
import contextlib
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness)
from harness import ok  # noqa: E402
from harness.world import Centre  # noqa: E402

TIMEOUT_S = 10
DAY = "2026-11-20"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100.0))]


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(session, resident_path, round_path, observation, samples, rc=None, peak=None,
            errors=None):
    """samples requests in turn on one connection, every fifth an observation POST; statuses
    other than 200 are appended to errors."""
    errors = [] if errors is None else errors
    gets, posts = [], []
    for i in range(samples):
        started = time.monotonic()
        if i % 5 == 4:
            reply = session.post(round_path, json=observation)
            posts.append(time.monotonic() - started)
        else:
            reply = session.get(resident_path)
            gets.append(time.monotonic() - started)
        if reply.status != 200:
            # Not asserted: a refusal of the terminal under load is one of the figures.
            errors.append(reply.status)
        if peak is not None:
            peak[0] = max(peak[0], vm_kib(rc.pid, "VmRSS"))
    return gets, posts


def one_run(env, args, run):
    rc = env.daemons(f"bench_slow_{run}").make(config={
        "request_timeout": str(TIMEOUT_S), "idle_timeout": str(TIMEOUT_S),
        "log_level": "warn"})
    centre = Centre(rc, prefix="slow-", staff=True)
    resident = centre.resident_id(given_name="Bench", family_name="Slow",
                                  date_of_birth="2012-03-10", arrival_date="2026-01-05")
    rc.db.execute(
        "INSERT INTO audit (at, cn, role, action, outcome, detail) "
        "SELECT now(), 'admin', 'admin', 'bulk', 'ok', "
        "jsonb_build_object('pad', repeat('p', 200)) FROM generate_series(1, 1000)")
    rc.set_clock("2026-11-20T06:30:00+01:00")
    greedy_cn = "greedy-pipeliner"
    rc.create_account(greedy_cn, "manager", [centre.id])
    admin_cert, admin_key = rc.pki.client("admin")
    greedy_cert, greedy_key = rc.pki.client(greedy_cn)
    resident_path = f"/v1/residents/{resident}"
    round_path = f"/v1/centres/{centre.id}/rounds/{DAY}/1"
    observation = {"observations": [{"resident": resident, "status": "present"}]}
    with contextlib.ExitStack() as stack:
        s = stack.enter_context(centre.staff.session())
        measure(s, resident_path, round_path, observation, 50)  # warm up
        unloaded = measure(s, resident_path, round_path, observation, args.samples)
        rss_before = vm_kib(rc.pid, "VmRSS")
        load = subprocess.Popen(
            [sys.executable, str(HERE / "slow_clients_load.py"), "--port", str(rc.port),
             "--ca", str(rc.pki.ca), "--cert", str(admin_cert), "--key", str(admin_key),
             "--greedy-cert", str(greedy_cert), "--greedy-key", str(greedy_key),
             "--resident", str(resident), "--slow", str(args.slow),
             "--non-readers", str(args.non_readers), "--hold", str(TIMEOUT_S)],
            stdout=subprocess.PIPE, text=True)
        try:
            # Measured for as long as the load lasts: from its first handshake until the
            # generator has seen the slow senders closed (and held the rest --hold seconds).
            peak = [rss_before]
            gets, posts, refused = [], [], []
            reader = threading.Thread(target=lambda: lines.extend(load.stdout), daemon=True)
            lines = []
            reader.start()
            while load.poll() is None or len(gets) + len(posts) < args.samples:
                try:
                    g, p = measure(s, resident_path, round_path, observation, 20, rc, peak,
                                   refused)
                except (OSError, http.client.HTTPException):
                    # The kept connection may have passed idle_timeout while the load's
                    # handshakes held the loop: reconnect, as a terminal would.
                    s = stack.enter_context(centre.staff.session())
                    continue
                gets += g
                posts += p
            reader.join(10)
            loaded = (gets, posts)
            summary = json.loads(next((x for x in lines if x.startswith("{")), "{}"))
        finally:
            load.wait(120)
    hwm = vm_kib(rc.pid, "VmHWM")
    # Why a terminal's request was refused, from the daemon's own account (log_level warn).
    causes = {}
    for row in Path(rc.log_path).read_text(errors="replace").splitlines():
        lost = re.search(r"db: pool connection lost: (.*)", row)
        if lost:
            key = "pool connection lost: " + lost.group(1)[:30]
            causes[key] = causes.get(key, 0) + 1
            continue
        if centre.staff_cn not in row and "api(" not in row:
            continue
        m = re.search(r"api\(\w+\)(?: failed)?:? ([a-z ]+)", row)
        if m:
            causes[m.group(1)[:40]] = causes.get(m.group(1)[:40], 0) + 1
    return {
        "get_p50": (percentile(unloaded[0], 50), percentile(loaded[0], 50)),
        "get_p99": (percentile(unloaded[0], 99), percentile(loaded[0], 99)),
        "post_p50": (percentile(unloaded[1], 50), percentile(loaded[1], 50)),
        "post_p99": (percentile(unloaded[1], 99), percentile(loaded[1], 99)),
        "rss": (rss_before / 1024, max(peak[0], hwm) / 1024),
        "refused": refused,
        "causes": causes,
        "samples": len(loaded[0]) + len(loaded[1]),
        "load": summary,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--non-readers", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    env = harness.Environment.create(prefix="rollcall-bench-slow-")
    try:
        runs = []
        for run in range(args.runs):
            r = one_run(env, args, run)
            runs.append(r)
            print(f"run {run + 1}: " + "  ".join(
                f"{k} {r[k][0] * 1000:.1f}->{r[k][1] * 1000:.1f} ms"
                for k in ("get_p50", "get_p99", "post_p50", "post_p99")) +
                f"  RSS {r['rss'][0]:.1f}->{r['rss'][1]:.1f} MiB  {r['samples']} loaded samples, "
                f"not 200: {r['refused']} {r['causes']}  load {r['load']}", flush=True)
        print(f"medians of {args.runs} runs ({args.slow} slow senders, {args.non_readers} "
              f"non-readers, 1 pipeliner; {args.samples} samples, every fifth a POST):")
        for k in ("get_p50", "get_p99", "post_p50", "post_p99"):
            un = statistics.median(r[k][0] for r in runs) * 1000
            lo = statistics.median(r[k][1] for r in runs) * 1000
            ratio = statistics.median(r[k][1] / r[k][0] for r in runs)
            print(f"  {k:9s} unloaded {un:7.1f} ms  loaded {lo:7.1f} ms  ratio {ratio:5.2f}")
        print(f"  RSS before {statistics.median(r['rss'][0] for r in runs):.1f} MiB, "
              f"peak {statistics.median(r['rss'][1] for r in runs):.1f} MiB")
    finally:
        env.close()


if __name__ == "__main__":
    main()
