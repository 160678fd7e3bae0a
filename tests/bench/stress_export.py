#!/usr/bin/python3
"""Stress of a centre's streamed statements export: the same export of a steady-state centre
fetched again and again, alternating JSON and CSV, each checked to arrive whole (every chunk of
the chunked reply well formed, the end marker received, the same size every time) within a
deadline. Prints what it saw and exits non-zero when an export did not arrive whole; asserts
nothing about timing.

This is how the lost tail of long exports was reproduced (libevent 2.1 finishing a reply on a
stale deferred write callback, docs/decisions.md "The centre export"): without the guard in
daemon/evhttp_stream_fix.c, 4 of 46 exports of 100,000 residents stopped a few bytes short of their end
(with the export's high-water mark at 128 KiB, which made the race likelier).

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/stress_export.py [--residents 100000]
        [--runs 16] [--deadline 30]
"""

import argparse
import signal
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_statements as bench  # noqa: E402  (data generation and the period)
import harness  # noqa: E402  (tests/harness: cluster, PKI, daemons, world)
from harness import Centre  # noqa: E402


def fetch_whole(api, path, accept, deadline):
    """(seconds, body bytes) of one export; raises when it does not arrive whole in time."""
    conn = api.connect(timeout=deadline)
    started = time.monotonic()
    conn.request("GET", path, headers={"Accept": accept})
    data = bytearray()
    conn.sock.settimeout(deadline)
    try:
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = conn.sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        pass
    elapsed = time.monotonic() - started
    conn.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"no 200 answer: {head[:60]!r}")
    pos, size = 0, 0
    while True:
        nl = body.find(b"\r\n", pos)
        if nl < 0:
            raise RuntimeError(f"stopped after {size} bytes of body, {elapsed:.1f} s: no end "
                               f"marker (last bytes {body[-40:]!r})")
        length = int(body[pos:nl], 16)
        if length == 0:
            return elapsed, size
        if body[nl + 2 + length:nl + 4 + length] != b"\r\n":
            raise RuntimeError(f"chunk at {pos} of {length} bytes is cut short")
        size += length
        pos = nl + 4 + length


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=30.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    failures = 0
    with harness.Environment.create(prefix="rollcall-stress-export-") as env:
        rc = env.daemon("stress_export", config={"log_level": "warn"})
        rc.set_clock(bench.CLOCK)
        centre = f"stress{args.residents}"
        api = Centre(rc, centre).manager
        bench.generate(rc, centre, args.residents, True)
        path = f"/v1/centres/{centre}/statements/{bench.PERIOD}"
        sizes = {}
        for run in range(args.runs):
            accept = "application/json" if run % 2 == 0 else "text/csv"
            try:
                elapsed, size = fetch_whole(api, path, accept, args.deadline)
                if sizes.setdefault(accept, size) != size:
                    raise RuntimeError(f"{size} bytes, earlier runs {sizes[accept]}")
                print(f"run {run:3d} {accept:16s} whole  {size:>10,} bytes {elapsed:6.2f} s",
                      flush=True)
            except (RuntimeError, OSError, ValueError) as e:
                failures += 1
                print(f"run {run:3d} {accept:16s} BROKEN {e}", flush=True)
        print(f"{args.runs - failures} of {args.runs} exports arrived whole "
              f"({args.residents:,} residents)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
