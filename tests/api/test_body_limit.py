"""Issue 12, defect 3: a body over max_body_bytes is refused with 413 and the error JSON as soon
as its Content-Length (or, chunked, its chunks) show it, before the daemon reads it, so memory
stays bounded whatever clients send; and the errors evhttp answers itself carry SPEC section
8's JSON shape (daemon/evhttp_errors.c)."""

import json
import select
import socket
import ssl
import time

from harness import client_context

MIB = 1024 * 1024
DECLARED = 8 * MIB
PIECE = 64 * 1024


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def head(path, length, extra=()):
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json",
             f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response_of(data):
    """(status, error JSON) of a whole response in data, or None while it is incomplete."""
    head_, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = int(next(l.split(b":")[1] for l in head_.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")))
    if len(body) < length:
        return None
    assert b"application/json" in head_.lower(), head_
    return int(head_.split()[1]), json.loads(body[:length])


class Sender:
    """One TLS connection declaring an 8 MiB body and sending it (all but 10 bytes of it) a
    piece at a time until the daemon answers."""

    def __init__(self, daemon, context, path):
        plain = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
        self.tls = context.wrap_socket(plain, server_hostname="localhost")
        self.tls.sendall(head(path, DECLARED))
        self.sent = 0
        self.sending = True
        self.received = b""
        self.answer = None
        self.sent_when_answered = None

    def send_piece(self):
        if not self.sending:
            return
        n = min(PIECE, DECLARED - 10 - self.sent)
        try:
            self.tls.sendall(b"x" * n)
            self.sent += n
        except (OSError, ssl.SSLError):
            self.sending = False  # refused and closed: what it sent so far is counted
            return
        if self.sent >= DECLARED - 10:
            self.sending = False

    def read_ready(self, timeout=0.0):
        if self.answer is not None:
            return
        if not self.tls.pending() and not select.select([self.tls], [], [], timeout)[0]:
            return
        try:
            chunk = self.tls.recv(65536)
        except (ssl.SSLWantReadError, socket.timeout):
            return
        except (OSError, ssl.SSLError):
            chunk = b""
        if chunk:
            self.received += chunk
            self.answer = response_of(self.received)
        else:
            self.sending = False
        if self.answer is not None and self.sent_when_answered is None:
            self.sent_when_answered = self.sent
            self.sending = False

    def close(self):
        try:
            self.tls.close()
        except (OSError, ssl.SSLError):
            pass


def test_sixty_oversized_bodies_are_refused_early_and_memory_stays_bounded(daemon_factory):
    daemon = daemon_factory(config={"log_level": "info"})
    context = client_context(daemon.pki, *daemon.pki.client("admin"))
    before = vm_rss_kib(daemon.pid)
    peak = before
    senders = [Sender(daemon, context, "/v1/residents") for _ in range(60)]
    try:
        deadline = time.monotonic() + 60
        while any(s.sending for s in senders) and time.monotonic() < deadline:
            for s in senders:
                s.send_piece()
                s.read_ready()
            peak = max(peak, vm_rss_kib(daemon.pid))
        for s in senders:
            wait_until = time.monotonic() + 10
            while s.answer is None and time.monotonic() < wait_until:
                s.read_ready(timeout=0.2)
        peak = max(peak, vm_rss_kib(daemon.pid))
        answers = [s.answer for s in senders]
        sent = [s.sent_when_answered if s.sent_when_answered is not None else s.sent
                for s in senders]
    finally:
        for s in senders:
            s.close()
    assert all(a is not None for a in answers), f"{answers.count(None)} got no answer"
    for status, body in answers:
        assert status == 413, body
        assert body == {"error": {"code": "body_too_large",
                                  "message": "the request body exceeds the configured limit",
                                  "field": None}}
    # Early: each was answered long before its 8 MiB were sent (it is not read to the end).
    assert max(sent) <= 2 * MIB, f"sent before the answer: {sorted(sent)[-5:]}"
    growth_mib = (peak - before) / 1024
    assert growth_mib < 100, f"rollcalld grew by {growth_mib:.1f} MiB"
    print(f"60 x 8 MiB declared: 413 after at most {max(sent) / 1024:.0f} KiB sent each; "
          f"RSS {before / 1024:.1f} -> peak {peak / 1024:.1f} MiB (+{growth_mib:.1f} MiB)")


def test_oversized_content_length_alone_is_413_before_any_body(rc):
    # The head is enough: nothing of the body is sent at all.
    context = client_context(rc.pki, *rc.pki.client("admin"))
    with socket.create_connection(("127.0.0.1", rc.port), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname="localhost") as tls:
            tls.sendall(head("/v1/centres", 2 * MIB))
            data = b""
            while response_of(data) is None:
                chunk = tls.recv(65536)
                assert chunk, f"closed without an answer: {data!r}"
                data += chunk
    status, body = response_of(data)
    assert status == 413 and body["error"]["code"] == "body_too_large", body
    assert b"connection: close" in data.partition(b"\r\n\r\n")[0].lower()


def test_oversized_chunked_body_is_413_with_the_error_json(rc):
    chunk = b"x" * PIECE
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    request = (b"POST /v1/centres HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
               b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    status, response, _ = rc.raw(request, cn="admin")
    assert status == 413, response[:300]
    assert response_of(response)[1]["error"]["code"] == "body_too_large"


def test_errors_evhttp_answers_itself_carry_the_error_json(rc):
    # A request line evhttp cannot parse, and a method it does not serve: answered by evhttp
    # before any callback of the daemon's, in the same shape as every other error.
    for raw, status in ((b"NONSENSE\r\n\r\n", 400),
                        (b"BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", None)):
        got, response, _ = rc.raw(raw, cn="admin")
        assert got is not None and got >= 400, response[:300]
        if status is not None:
            assert got == status, response[:300]
        head_, _, _ = response.partition(b"\r\n\r\n")
        assert b"text/html" not in head_.lower(), head_
        parsed = response_of(response)
        assert parsed is not None, response[:300]
        assert set(parsed[1]["error"]) == {"code", "message", "field"}, parsed
