#!/usr/bin/python3
"""The one benchmark run of the performance issue: every figure of docs/performance.md side by
side with its reference and the ratio, in one invocation, medians of --repeats runs (default 3).
Starts its own durable PostgreSQL (fsync and synchronous_commit on), rollcalld, and nginx
(Debian's nginx-light: 2 workers, TLS 1.3, the daemon's certificate, mutual TLS, a static JSON);
prints; asserts nothing about timing.

  1. One observation POST over mutual TLS with keep-alive at 1 and 8 terminals (a centre each),
     against pgbench running the same durable writes as plain SQL in one transaction at the
     same concurrency: the idempotency row, the superseded observation, the new observation and
     the audit row, into the same tables.
  2. A whole 78-resident round POST at 1 and 8 terminals, against pgbench doing the same rows
     set-based in one transaction; p99 of the round POST.
  3. GET /healthz at 32 keep-alive connections, and new TLS connections per second (a full
     handshake per request, 8 at a time), against nginx on the same cores.
  4.-5. tests/bench/bench_due.py: alert lateness with --pending rows pending while --rate rows a
     second fall due; kill -9 with --overdue absences overdue, every due event decided.
  6. tests/bench/bench_statements.py: statements of 10,000 and 100,000 residents, JSON and CSV.
  7. bench_due.py again: RSS with --watchers idle TLS watchers, one alert to 1,000 and to all.

With --write, the table replaces the one between the markers in docs/performance.md, with the
machine, the date and the command. Run it on a quiet machine: it uses both cores for minutes.

Usage (from the repository root, after building; a Release build measures what is shipped):
    /usr/bin/python3 tests/bench/bench_performance.py --build build-release [--seconds 10]
        [--repeats 3] [--only http,due,statements,watchers] [--write]
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench_performance: begin -->", "<!-- bench_performance: end -->"

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--build", help="build directory (default $ROLLCALL_BUILD or build/)")
parser.add_argument("--seconds", type=int, default=10, help="length of each HTTP measurement")
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--only", default="http,due,statements,watchers")
parser.add_argument("--pending", type=int, default=1_000_000)
parser.add_argument("--rate", type=int, default=10_000)
parser.add_argument("--due-rows", type=int, default=100_000)
parser.add_argument("--overdue", type=int, default=100_000)
parser.add_argument("--watchers", type=int, default=10_000)
parser.add_argument("--write", action="store_true", help="write the table into docs/performance.md")
ARGS = parser.parse_args()
if ARGS.build:
    os.environ["ROLLCALL_BUILD"] = str(Path(ARGS.build).resolve())
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness)
from harness import BENCH_HTTPS, Centre  # noqa: E402

PGBENCH = shutil.which("pgbench") or str(harness.common.PG_BIN / "pgbench")
DAY, SLOT = "2026-11-20", 1
ROUND_AT = "2026-11-20T07:00:00+01:00"
ROWS = []  # (figure, rollcalld, reference, ratio or None, target)


def row(figure, ours, reference, ratio, target):
    ROWS.append((figure, ours, reference, ratio, target))
    ratio_text = f"  ratio {ratio:.2f}" if ratio is not None else ""
    print(f"{figure:48s} {ours:>26s}  {reference:>26s}{ratio_text}  (target {target})",
          flush=True)


def parse_bench(output):
    m = re.search(r"tps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) ok=(\d+) errors=(\d+)", output)
    if not m:
        raise RuntimeError(f"bench_https said: {output}")
    return {"tps": float(m[1]), "p50": float(m[2]), "p99": float(m[3]), "ok": int(m[4]),
            "errors": int(m[5])}


def bench_https(port, ca, cert, key, method, path, body, threads, seconds, new=False):
    args = [str(BENCH_HTTPS), "localhost", str(port), str(ca), str(cert), str(key), method, path,
            str(body), str(threads), str(seconds)] + (["new"] if new else [])
    return parse_bench(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def pgbench(cluster, dbname, script, clients, seconds, defines):
    out = subprocess.run(
        [PGBENCH, "-n", "-h", str(cluster.dir / "sock"), "-p", str(cluster.port), "-U",
         "postgres", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
         "-M", "prepared", *[f"-D{k}={v}" for k, v in defines.items()], "-f", str(script),
         dbname], capture_output=True, text=True, check=True, cwd="/tmp")
    return {"tps": float(re.search(r"tps = ([\d.]+)", out.stdout)[1])}


# The same durable writes as one observation (a correction: the resident already has one) and
# as a whole round, as plain SQL into rollcalld's own tables. :client_id is pgbench's (0-based)
# and names the terminal's centre, as each bench_https thread posts to its own.
OBSERVATION_SQL = f"""\\set r :base + :client_id * 78
BEGIN;
INSERT INTO idempotency (cn, key, req_hash, status, body, created_at)
  VALUES ('pgbench', 'pgb-' || :client_id || '-' || clock_timestamp(), 'h', 200,
          '{{"observations":1}}', now());
UPDATE observations SET current = false
  WHERE centre = 'bench' || :client_id AND date = '{DAY}' AND slot = {SLOT} AND resident = :r
    AND current;
INSERT INTO observations (centre, date, slot, resident, status, note, round_at, recorded_at,
                          recorded_by, observed_at)
  VALUES ('bench' || :client_id, '{DAY}', {SLOT}, :r, 'present', 'pgbench', '{ROUND_AT}', now(),
          'pgbench', now());
INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome, detail)
  VALUES (now(), 'pgbench', 'staff', 'round_post', :r, 'pgbench', '127.0.0.1', 'ok', NULL);
COMMIT;
"""

ROUND_SQL = f"""\\set r :base + :client_id * 78
BEGIN;
INSERT INTO idempotency (cn, key, req_hash, status, body, created_at)
  VALUES ('pgbench', 'pgb-' || :client_id || '-' || clock_timestamp(), 'h', 200,
          '{{"observations":78}}', now());
UPDATE observations SET current = false
  WHERE centre = 'bench' || :client_id AND date = '{DAY}' AND slot = {SLOT} AND current;
INSERT INTO observations (centre, date, slot, resident, status, note, round_at, recorded_at,
                          recorded_by, observed_at)
  SELECT 'bench' || :client_id, '{DAY}', {SLOT}, r, 'present', 'pgbench', '{ROUND_AT}', now(),
         'pgbench', now()
  FROM generate_series(:r, :r + 77) AS r;
INSERT INTO audit (at, cn, role, action, resident, request_id, remote, outcome, detail)
  SELECT now(), 'pgbench', 'staff', 'round_post', r, 'pgbench', '127.0.0.1', 'ok', NULL
  FROM generate_series(:r, :r + 77) AS r;
COMMIT;
"""

NGINX_CONF = """\
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;
        ssl_client_certificate {ca};
        ssl_verify_client on;
        location = /healthz {{
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}
    }}
}}
"""


def start_nginx(workdir, pki):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        if os.geteuid() != 0:
            sys.exit("nginx is missing: apt-get install nginx-light")
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx-light"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       stdout=subprocess.DEVNULL)
        # The package starts its own server on port 80: not ours.
        subprocess.run(["systemctl", "stop", "nginx"], capture_output=True)
    d = workdir / "nginx"
    d.mkdir(exist_ok=True)
    port = harness.free_port()
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=d, port=port, cert=pki.server_cert,
                                      key=pki.server_key, ca=pki.ca))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(d)], stdout=subprocess.DEVNULL,
                            stderr=open(d / "stderr.log", "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            import socket
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"nginx did not start: {(d / 'stderr.log').read_text()}")


def medians(runs, key):
    return statistics.median(r[key] for r in runs)


def bench_http(env):
    workdir, pki, cluster = env.workdir, env.pki, env.cluster
    # The per-certificate request budget protects terminals from each other; the benchmark's
    # one certificate stands for many terminals, so it is raised out of the way (else the
    # figures measure 429s, not throughput). See docs/performance.md.
    rc = env.daemon("bench_performance", config={"log_level": "warn", "db_pool_size": "8",
                                                 "request_rate": "1000000",
                                                 "request_burst": "1000000"})
    rc.set_clock("2026-11-20T12:00:00+01:00")
    cert, key = pki.client("bench-staff")
    # Each terminal has a certificate of its own, as at a centre: rollcalld lets one
    # certificate use only half of its database pool at once (docs/config.md, db_pool_size), so
    # eight terminals behind one certificate would measure that rule, not the daemon.
    for t in range(8):
        tcert, tkey = pki.client(f"bench-staff-{t}")
        for src, dst in ((tcert, f"cert-{t}.pem"), (tkey, f"key-{t}.pem")):
            (workdir / dst).unlink(missing_ok=True)
            (workdir / dst).symlink_to(src)
    term_cert, term_key = workdir / "cert-@T@.pem", workdir / "key-@T@.pem"
    centres, firsts = [], []
    for t in range(8):
        centre = Centre(rc, f"bench{t}").id
        ids = [rc.create_resident(centre)["id"] for _ in range(78)]
        assert ids == list(range(ids[0], ids[0] + 78)), "residents of a centre are contiguous"
        centres.append(centre)
        firsts.append(ids[0])
        (workdir / f"one-{t}.json").write_text(json.dumps({"observations": [
            {"resident": ids[0], "status": "present", "note": "bench @N@"}]}))
        (workdir / f"round-{t}.json").write_text(json.dumps({"observations": [
            {"resident": i, "status": "present", "note": "bench @N@"} for i in ids]}))
    assert firsts == [firsts[0] + 78 * t for t in range(8)], "the pgbench scripts' :base"
    rc.create_account("bench-staff", "staff", centres)
    for t, centre in enumerate(centres):
        rc.create_account(f"bench-staff-{t}", "staff", [centre])
    # Every resident has an observation: both sides then write a correction.
    for t in range(8):
        subprocess.run([str(BENCH_HTTPS), "localhost", str(rc.port), str(pki.ca), str(cert),
                        str(key), "POST", f"/v1/centres/bench{t}/rounds/{DAY}/{SLOT}",
                        str(workdir / f"round-{t}.json"), "1", "1"], check=True,
                       capture_output=True)
    # A fresh database has no statistics until autovacuum's first pass (about a minute), and
    # PL/pgSQL keeps plans made for empty tables until then: analyse once, as a site with data
    # has statistics (docs/performance.md).
    subprocess.run([str(harness.common.PG_BIN / "psql"), "-h", str(cluster.dir / "sock"), "-p",
                    str(cluster.port), "-U", "postgres", "-d", rc.dbname, "-qXc", "ANALYZE"],
                   check=True, capture_output=True)
    (workdir / "observation.sql").write_text(OBSERVATION_SQL)
    (workdir / "round.sql").write_text(ROUND_SQL)
    defines = {"base": firsts[0]}
    path = f"/v1/centres/bench@T@/rounds/{DAY}/{SLOT}"

    for label, body, script, clients, target in (
            ("observation POST, 1 terminal", "one-@T@.json", "observation.sql", 1, "≥ 0.7"),
            ("observation POST, 8 terminals", "one-@T@.json", "observation.sql", 8, "≥ 0.7"),
            ("78-resident round POST, 1 terminal", "round-@T@.json", "round.sql", 1, "≥ 0.7"),
            ("78-resident round POST, 8 terminals", "round-@T@.json", "round.sql", 8,
             "≥ 0.7, p99 < 10 ms")):
        ours, theirs = [], []
        for _ in range(ARGS.repeats):
            ours.append(bench_https(rc.port, pki.ca, term_cert, term_key, "POST", path,
                                    workdir / body, clients, ARGS.seconds))
            theirs.append(pgbench(cluster, rc.dbname, workdir / script, clients, ARGS.seconds,
                                  defines))
        tps, ref = medians(ours, "tps"), medians(theirs, "tps")
        errors = sum(r["errors"] for r in ours)
        row(label, f"{tps:.0f}/s p99 {medians(ours, 'p99'):.1f} ms ({errors} errors)",
            f"pgbench {ref:.0f}/s", tps / ref, target)

    nginx, nginx_port = start_nginx(workdir, pki)
    try:
        for label, threads, new, target in (("GET /healthz, 32 keep-alive connections", 32,
                                             False, "≥ 0.8"),
                                            ("new TLS connections (/healthz), 8 at a time", 8,
                                             True, "reported")):
            ours, theirs = [], []
            for _ in range(ARGS.repeats):
                ours.append(bench_https(rc.port, pki.ca, cert, key, "GET", "/healthz", "-",
                                        threads, ARGS.seconds, new))
                theirs.append(bench_https(nginx_port, pki.ca, cert, key, "GET", "/healthz", "-",
                                          threads, ARGS.seconds, new))
            tps, ref = medians(ours, "tps"), medians(theirs, "tps")
            errors = sum(r["errors"] for r in ours)
            row(label, f"{tps:.0f}/s p99 {medians(ours, 'p99'):.2f} ms ({errors} errors)",
                f"nginx {ref:.0f}/s ({sum(r['errors'] for r in theirs)} errors)", tps / ref,
                target)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def run_script(script, *args):
    """Runs another bench of this directory; its output is shown and returned."""
    cmd = [sys.executable, str(HERE / script), *map(str, args)]
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr)
        print(f"{script} failed ({proc.returncode})")
    return proc.stdout


def figure(pattern, text):
    m = re.search(pattern, text, re.M)
    return m if m else None


def bench_due():
    out = run_script("bench_due.py", "--only", "lateness,restart", "--pending", ARGS.pending,
                     "--rate", ARGS.rate, "--due-rows", ARGS.due_rows, "--overdue", ARGS.overdue)
    m = figure(r"\[lateness a\] (\d+) due rows .*?lateness median (\S+ ms), p99 (\S+ ms)", out)
    row(f"alert lateness, {ARGS.pending:,} pending, {ARGS.rate:,}/s due",
        f"p99 {m[3]} (median {m[2]})" if m else "failed", "bench_due 2026-12-02: p99 4 ms "
        "at 100,000 / 2,000/s", None, "p99 ≤ 20 ms")
    m = figure(r"\[restart\] .*?every due event decided after (\S+ \S+) \((\d+) absences/s\); "
               r"absences not notified exactly once: (\d+)", out)
    row(f"kill -9 with {ARGS.overdue:,} overdue absences", f"all decided in {m[1]}, doubled {m[3]}"
        if m else "failed", "10,000 in 1.5 s (2026-12-02)", None, "< 10 s, none twice")


def bench_statements():
    out = run_script("bench_statements.py", "--repeats", ARGS.repeats, "--sizes", "10000,100000")
    for size, target in (("10,000", "< 0.3 s"), ("100,000", "< 2.5 s")):
        for kind in ("fresh", "steady state"):
            m = figure(rf"^\s*{size} residents, {kind}\s+JSON\s+(\S+ s).*?CSV\s+(\S+ s)", out)
            row(f"statements, {size} residents, {kind}",
                f"JSON {m[1]}, CSV {m[2]}" if m else "failed", "-", None, target)


def bench_watchers():
    out = run_script("bench_due.py", "--only", "watchers", "--watchers", ARGS.watchers)
    m = figure(r"with (\d+) idle TLS SSE watchers (\S+ MiB)", out)
    row(f"{ARGS.watchers:,} idle TLS watchers", f"RSS {m[2]}" if m else "failed", "-", None,
        "< 200 MB")
    m1 = figure(r"one alert to 1,000 watchers .*?median (\S+ ms)", out)
    mall = figure(r"one alert to ([\d,]+) watchers: median (\S+ ms)", out)
    row("one alert to 1,000 / all watchers",
        f"{m1[1] if m1 else '?'} / {mall[2] if mall else '?'}", "-", None, "< 30 ms / < 200 ms")


def write_doc(command):
    lines = [BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {platform.node()} "
             f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}), with:",
             "", "```", command, "```", "",
             "| figure | rollcalld | reference | ratio | target |", "|---|---|---|---|---|"]
    for fig, ours, ref, ratio, target in ROWS:
        lines.append(f"| {fig} | {ours} | {ref} | {'' if ratio is None else f'{ratio:.2f}'} "
                     f"| {target} |")
    lines += ["", END]
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + "\n".join(lines) + tail)
    print(f"wrote the table into {DOC}")


def main():
    if not BENCH_HTTPS.exists():
        sys.exit(f"{BENCH_HTTPS} is missing: build first (cmake builds tests/bench/*.c)")
    only = set(ARGS.only.split(","))
    command = "/usr/bin/python3 " + " ".join([str(Path(sys.argv[0]))] + sys.argv[1:])
    print(f"bench_performance: {ARGS.repeats} x {ARGS.seconds} s per HTTP figure, medians; "
          f"{os.cpu_count()} CPUs; rollcalld {harness.ROLLCALLD}", flush=True)
    if "http" in only:
        with harness.Environment.create(prefix="rollcall-bench-performance-", fast=False) as env:
            bench_http(env)
    if "due" in only:
        bench_due()
    if "statements" in only:
        bench_statements()
    if "watchers" in only:
        bench_watchers()
    print("\nsummary:")
    for fig, ours, ref, ratio, target in ROWS:
        print(f"  {fig}: {ours} | {ref} | {'' if ratio is None else f'{ratio:.2f}'} | {target}")
    if ARGS.write:
        write_doc(command.replace(" --write", ""))


if __name__ == "__main__":
    main()
