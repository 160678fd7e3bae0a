#!/usr/bin/python3
"""The load of issue 12 as its own process (bench_slow_clients.py starts it), so that its CPU is
not the measuring terminal's: SLOW connections sending a request head one byte a second,
NON_READERS that ask for a large answer and never read it, and one certificate pipelining large
requests on one connection. One asyncio loop, a coroutine per connection: cheap per
connection once the TLS handshakes are done. Prints "ready" when every connection is open and
every request sent, then a summary line (JSON) when the slow ones have been closed by the
daemon or --hold seconds have passed."""

import argparse
import asyncio
import json
import ssl
import sys
import time


def context(ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


async def open_tls(port, ctx, limit=1024):
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                         server_hostname="localhost", limit=limit)


async def slow_sender(port, ctx, stats):
    """The TLS handshake, then one byte of the head a second until the daemon closes it."""
    line = b"GET /v1/audit?limit=1000 HTTP/1.1\r\nHost: localhost\r\n"
    try:
        reader, writer = await open_tls(port, ctx)
    except (OSError, ssl.SSLError):
        stats["slow_refused"] += 1
        return
    stats["slow_open"] += 1
    opened = time.monotonic()
    eof = asyncio.ensure_future(reader.read(65536))
    i = 0
    while True:
        if eof.done():
            break
        try:
            writer.write(line[i % len(line):i % len(line) + 1])
            await writer.drain()
        except (OSError, ssl.SSLError, ConnectionError):
            break
        i += 1
        done, _ = await asyncio.wait([eof], timeout=1.0)
        if done:
            break
    stats["slow_closed"] += 1
    stats["slow_closed_after_max"] = max(stats["slow_closed_after_max"], time.monotonic() - opened)
    eof.cancel()
    writer.transport.abort()


async def non_reader(port, ctx, stats, hold):
    """Asks for the large page and never reads (a 1 KiB reader limit pauses the transport)."""
    try:
        reader, writer = await open_tls(port, ctx)
    except (OSError, ssl.SSLError):
        stats["reader_refused"] += 1
        return
    writer.write(b"GET /v1/audit?limit=1000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        await writer.drain()
    except (OSError, ConnectionError):
        pass
    stats["reader_open"] += 1
    await hold.wait()
    writer.transport.abort()


async def pipeliner(port, ctx, resident, count, size, stats):
    """count PATCHes of size bytes each written back to back on one connection, then read."""
    try:
        reader, writer = await open_tls(port, ctx, limit=1 << 20)
    except (OSError, ssl.SSLError):
        return
    body = json.dumps({"given_name": "x" * size}).encode()
    head = (f"PATCH /v1/residents/{resident} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    async def send():
        try:
            for _ in range(count):
                writer.write(head + body)
                await writer.drain()
        except (OSError, ConnectionError):
            pass

    sender = asyncio.ensure_future(send())
    received = b""
    try:
        while received.count(b"HTTP/1.1 ") < count:
            chunk = await asyncio.wait_for(reader.read(65536), 60)
            if not chunk:
                break
            received += chunk
    except (asyncio.TimeoutError, OSError, ssl.SSLError, ConnectionError):
        pass
    sender.cancel()
    stats["pipelined_answers"] = received.count(b"HTTP/1.1 ")
    writer.transport.abort()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--greedy-cert", required=True)
    p.add_argument("--greedy-key", required=True)
    p.add_argument("--resident", required=True)
    p.add_argument("--slow", type=int, default=1000)
    p.add_argument("--non-readers", type=int, default=1000)
    p.add_argument("--pipelined", type=int, default=40)
    p.add_argument("--pipelined-bytes", type=int, default=600 * 1024)
    p.add_argument("--hold", type=float, default=30.0)
    a = p.parse_args()
    ctx = context(a.ca, a.cert, a.key)
    greedy = context(a.ca, a.greedy_cert, a.greedy_key)
    stats = {k: 0 for k in ("slow_open", "slow_refused", "slow_closed", "reader_open",
                            "reader_refused", "pipelined_answers")}
    stats["slow_closed_after_max"] = 0.0
    hold = asyncio.Event()
    started = time.monotonic()
    # Handshakes in batches, so that opening 2,000 connections does not trip the daemon's
    # handshake deadline on the ones still waiting in this process.
    slow = []
    for i in range(0, a.slow, 50):
        batch = [asyncio.ensure_future(slow_sender(a.port, ctx, stats))
                 for _ in range(min(50, a.slow - i))]
        slow += batch
        while stats["slow_open"] + stats["slow_refused"] < i + len(batch):
            await asyncio.sleep(0.01)
    readers = []
    for i in range(0, a.non_readers, 50):
        batch = [asyncio.ensure_future(non_reader(a.port, ctx, stats, hold))
                 for _ in range(min(50, a.non_readers - i))]
        readers += batch
        while stats["reader_open"] + stats["reader_refused"] < i + len(batch):
            await asyncio.sleep(0.01)
    piper = asyncio.ensure_future(pipeliner(a.port, greedy, a.resident, a.pipelined,
                                            a.pipelined_bytes, stats))
    stats["opened_after"] = round(time.monotonic() - started, 2)
    print("ready", flush=True)
    deadline = time.monotonic() + a.hold
    while time.monotonic() < deadline and stats["slow_closed"] < stats["slow_open"]:
        await asyncio.sleep(0.2)
    hold.set()
    await asyncio.wait(slow + readers + [piper], timeout=70)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
