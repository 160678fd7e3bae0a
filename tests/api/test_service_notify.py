"""rollcalld under systemd (Type=notify, daemon/service.c): READY=1 once listening with the
database reachable, RELOADING=1 (with MONOTONIC_USEC) and READY=1 around SIGHUP, STOPPING=1 on
SIGTERM, WATCHDOG=1 from the event loop at half of WATCHDOG_USEC, and a STATUS= line. The test
plays systemd's part: a datagram socket named by $NOTIFY_SOCKET."""

import os
import re
import select
import signal
import socket
import tempfile
import time

import pytest


@pytest.fixture
def notify_socket(monkeypatch):
    directory = tempfile.mkdtemp(prefix="rc-notify-", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield sock
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


def receive_until(sock, wanted, timeout=10):
    """Messages (each a dict of its assignments) up to and including the first holding all of
    `wanted` (key=value)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], deadline - time.monotonic())
        if not ready:
            break
        text = sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        seen.append(fields)
        if all(fields.get(k) == v for k, v in wanted.items()):
            return seen
    raise AssertionError(f"no message with {wanted} within {timeout} s; got {seen}")


def test_service_notify_ready_reload_watchdog_stopping(daemon_factory, notify_socket):
    daemon = daemon_factory(start=False)
    daemon.start()  # returns once /readyz answers 200
    seen = receive_until(notify_socket, {"READY": "1"})
    assert not any("STOPPING" in m for m in seen)
    status = receive_until(notify_socket, {})[-1]
    while "STATUS" not in status:
        status = receive_until(notify_socket, {})[-1]
    assert "connections" in status["STATUS"] and "alert streams" in status["STATUS"]

    # The watchdog is pinged from the loop at half of WATCHDOG_USEC (1 s): several a second.
    started = time.monotonic()
    pings = 0
    while pings < 3:
        receive_until(notify_socket, {"WATCHDOG": "1"}, timeout=3)
        pings += 1
    assert time.monotonic() - started < 3

    daemon.signal(signal.SIGHUP)
    seen = receive_until(notify_socket, {"RELOADING": "1"})
    reloading = seen[-1]
    assert int(reloading["MONOTONIC_USEC"]) > 0
    receive_until(notify_socket, {"READY": "1"})

    daemon.signal(signal.SIGTERM)
    receive_until(notify_socket, {"STOPPING": "1"})
    assert daemon.proc.wait(timeout=30) == 0


def status_lines(sock, count, timeout=10):
    """The next `count` STATUS= values."""
    found = []
    while len(found) < count:
        message = receive_until(sock, {}, timeout)[-1]
        if "STATUS" in message:
            found.append(message["STATUS"])
    return found


def undelivered_in(status):
    match = re.search(r"(\d+) notifications undelivered \(oldest (\d+) s\)", status)
    return (int(match.group(1)), int(match.group(2))) if match else None


def test_status_shows_the_outbox_backlog(notify_socket, world):
    # Nothing due yet: 0 undelivered, once the first reading has come back.
    deadline = time.monotonic() + 10
    figures = None
    while figures is None and time.monotonic() < deadline:
        figures = undelivered_in(status_lines(notify_socket, 1)[0])
    assert figures == (0, 0)

    # The police endpoint refuses: the known departure's police notification stays undelivered
    # and is counted (the backlog is re-read every 10 s; the watchdog ticks twice a second).
    world.receiver.set_default("police", "500")
    res = world.resident()
    world.report(res["id"], known_departure=True)
    world.receiver.wait_delivered(2)
    world.advance(minutes=5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        figures = undelivered_in(status_lines(notify_socket, 1)[0])
        if figures and figures[0] == 1:
            break
    assert figures[0] == 1, figures
    assert figures[1] >= 300, "the oldest is aged on the daemon's clock"
