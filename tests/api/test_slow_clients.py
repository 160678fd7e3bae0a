"""Slow and greedy clients (issue 12): 300 connections sending their headers one byte a second,
300 that ask for a large answer and never read it, and one certificate pipelining large
requests. The daemon closes the slow ones by its deadlines (request_timeout from accept, the
idle timeout on a write that does not drain), its memory stays bounded, and another terminal
keeps being answered; its latency with and without the load is printed (docs/decisions.md has
the figures measured). Timing is only asserted with a generous bound: tests must not fail on
a busy machine. The counts stay at 300 + 300 rather than the issue's 1,000 + 1,000: from this
process's own blocking sockets, 2,000 TLS handshakes under AddressSanitizer on two shared cores
take well over a minute; tests/bench/bench_slow_clients.py runs the full load."""

import json
import os
import re
import select
import socket
import ssl
import threading
import time

from alerts_helpers import Centre
from harness import client_context

SLOW = 300
NON_READERS = 300
TIMEOUT_S = 4  # request_timeout and idle_timeout of this daemon
PIPELINED = 40
BIG_FIELD = 600 * 1024  # each pipelined body: under max_body_bytes, refused as too long a name


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def connect(daemon, context):
    plain = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    tls = context.wrap_socket(plain, server_hostname="localhost")
    tls.setblocking(False)
    return tls


def closed_by_peer(tls):
    """True when the daemon has closed the connection (EOF, reset or a TLS alert)."""
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                return True
    except ssl.SSLWantReadError:
        return False
    except (OSError, ssl.SSLError):
        return True


def latencies(api, path, count):
    out = []
    with api.session() as s:
        for _ in range(count):
            start = time.monotonic()
            reply = s.get(path)
            out.append(time.monotonic() - start)
            assert reply.status == 200, reply
    return sorted(out)


def p99(values):
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def pipeline(daemon, context, results):
    """One connection, PIPELINED large POSTs written back to back while every answer is read.
    One thread does both: an SSL object used by two threads at once (one in sendall, one in
    recv) is not safe in OpenSSL, and broke this connection now and then on a busy machine."""
    plain = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
    tls = context.wrap_socket(plain, server_hostname="localhost")
    tls.setblocking(False)
    body = json.dumps({"given_name": "x" * BIG_FIELD}).encode()
    head = (f"PATCH /v1/residents/{results['resident']} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    out = memoryview((head + body) * PIPELINED)
    received = b""
    ended = "deadline"
    deadline = time.monotonic() + 60
    while received.count(b"HTTP/1.1 ") < PIPELINED and time.monotonic() < deadline:
        select.select([tls], [tls] if out else [], [], 0.5)
        try:
            if out:
                out = out[tls.send(out[:256 * 1024]):]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except (OSError, ssl.SSLError) as e:
            ended = f"send: {e!r}"
            break
        try:
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    ended = "closed by the daemon"
                    break
                received += chunk
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        except (OSError, ssl.SSLError) as e:
            ended = f"recv: {e!r}"
        break
    tls.close()
    results["statuses"] = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    results["ended"] = ended if len(results["statuses"]) < PIPELINED else "all answered"
    results["unsent"] = len(out)


def test_slow_and_greedy_clients_are_bounded_and_others_are_served(daemon_factory, monkeypatch):
    # Under AddressSanitizer, freed memory waits in its quarantine (256 MiB by default) and
    # counts in RSS: a small quarantine keeps the figure the daemon's own (without ASan the
    # option is ignored).
    if os.environ.get("ASAN_OPTIONS") is not None:
        monkeypatch.setenv("ASAN_OPTIONS", os.environ["ASAN_OPTIONS"] +
                           ":quarantine_size_mb=8:thread_local_quarantine_size_kb=64")
    daemon = daemon_factory(config={"request_timeout": str(TIMEOUT_S),
                                    "idle_timeout": str(TIMEOUT_S), "log_level": "info"})
    centre = Centre(daemon)
    resident = centre.resident_id()
    # A large answer: a page of 1,000 audit rows with some detail each (about 300 kB).
    daemon.db.execute(
        "INSERT INTO audit (at, cn, role, action, outcome, detail) "
        "SELECT now(), 'admin', 'admin', 'bulk', 'ok', jsonb_build_object('pad', repeat('p', 200)) "
        "FROM generate_series(1, 1000)"
    )
    staff_path = f"/v1/residents/{resident}"
    unloaded = latencies(centre.staff, staff_path, 100)

    admin_ctx = client_context(daemon.pki, *daemon.pki.client("admin"))
    greedy_cn = "greedy-pipeliner"
    centre.account("manager", cn=greedy_cn)
    greedy_ctx = client_context(daemon.pki, *daemon.pki.client(greedy_cn))
    rss_before = vm_kib(daemon.pid, "VmRSS")

    # 300 slow senders: the TLS handshake, then one byte of the head a second.
    slow = [connect(daemon, admin_ctx) for _ in range(SLOW)]
    slow_started = time.monotonic()
    line = b"GET /v1/audit?limit=1000 HTTP/1.1\r\nHost: localhost\r\n"
    # 300 that never read: each asks for the large page and then only sits there.
    non_readers = [connect(daemon, admin_ctx) for _ in range(NON_READERS)]
    for tls in non_readers:
        tls.setblocking(True)
        tls.sendall(b"GET /v1/audit?limit=1000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        tls.setblocking(False)
    readers_started = time.monotonic()
    piped = {"resident": resident}
    piper = threading.Thread(target=pipeline, args=(daemon, greedy_ctx, piped))
    piper.start()

    loaded = []
    closed = set()
    i = 0
    peak_rss = rss_before
    deadline = slow_started + TIMEOUT_S + 20
    while len(closed) < SLOW and time.monotonic() < deadline:
        for n, tls in enumerate(slow):
            if n in closed:
                continue
            try:
                tls.send(line[i % len(line):i % len(line) + 1])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except (OSError, ssl.SSLError):
                closed.add(n)
                continue
            if closed_by_peer(tls):
                closed.add(n)
        i += 1
        start = time.monotonic()
        reply = centre.staff.get(staff_path)
        loaded.append(time.monotonic() - start)
        assert reply.status == 200, reply
        peak_rss = max(peak_rss, vm_kib(daemon.pid, "VmRSS"))
        select.select([], [], [], 1.0)  # one byte a second
    slow_closed_after = time.monotonic() - slow_started
    loaded += latencies(centre.staff, staff_path, 60)
    loaded.sort()

    # The non-readers' answers cannot drain: the idle timeout on the write closes them.
    metrics_deadline = readers_started + TIMEOUT_S + 30
    open_now = None
    while time.monotonic() < metrics_deadline:
        text = daemon.admin.get("/metrics").body
        text = text if isinstance(text, str) else str(text)
        for row in text.splitlines():
            if row.startswith("rollcall_http_connections "):
                open_now = int(row.split()[1])
        if open_now is not None and open_now <= 5:
            break
        peak_rss = max(peak_rss, vm_kib(daemon.pid, "VmRSS"))
        time.sleep(0.5)
    piper.join(90)
    hwm = vm_kib(daemon.pid, "VmHWM")
    for tls in slow + non_readers:
        tls.close()

    growth_mib = (max(peak_rss, hwm) - rss_before) / 1024
    print(f"\nother terminal: unloaded p50 {unloaded[len(unloaded) // 2] * 1000:.1f} ms "
          f"p99 {p99(unloaded) * 1000:.1f} ms; loaded p50 {loaded[len(loaded) // 2] * 1000:.1f} ms "
          f"p99 {p99(loaded) * 1000:.1f} ms ({len(loaded)} requests); slow senders closed "
          f"after {slow_closed_after:.1f} s; connections open at the end {open_now}; RSS "
          f"{rss_before / 1024:.1f} MiB, peak {max(peak_rss, hwm) / 1024:.1f} MiB "
          f"(+{growth_mib:.1f}); pipelined answers {len(piped.get('statuses', []))}")
    assert len(closed) == SLOW, f"{SLOW - len(closed)} slow senders still open"
    assert slow_closed_after < TIMEOUT_S + 20
    assert open_now is not None and open_now <= 5, f"{open_now} connections still open"
    # Every pipelined request answered, in order, on its one connection: 413, since each body is
    # far longer than any PATCH /v1/residents/{id} accepts, and so refused unparsed.
    assert len(piped.get("statuses", [])) == PIPELINED, (piped.get("ended"), piped.get("unsent"),
                                                         piped.get("statuses"))
    assert set(piped["statuses"]) == {413}, piped["statuses"]
    assert growth_mib < 400, f"rollcalld grew by {growth_mib:.1f} MiB"
    # Generous: the other terminal is served, and not starved (shared cores, other builds).
    assert p99(loaded) < max(5.0, 20 * p99(unloaded)), (p99(unloaded), p99(loaded))
