"""The webhook transfer (daemon/webhook_transfer.c on curl_loop.c; DESIGN.md "Outgoing
transfers"): every address of a name is tried, the final status line is the verdict and the rest
is read only to keep the connection, connections kept and reused (never across a CA reload), the
plain-words last_error texts, webhook_ca reloaded on SIGHUP (a broken file keeps the
running one), and SIGTERM with attempts in flight exits at once and cleanly."""

import socket
import ssl
import threading
import time

import pytest
from harness.webhooks import (
    AUTHORITIES,
    WebhookReceiver,
    World,
    _Server,
    by_authority,
    notify_config,
)


def all_attempted(items):
    return len(items) == 3 and all(i["attempts"] >= 1 for i in items)


# --------------------------------------------------------------------------------------------
# Every address of a name


class _Server6(_Server):
    address_family = socket.AF_INET6


class Receiver6(WebhookReceiver):
    """The receiver on ::1 only."""

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.pki_dir / "server.crt"),
                                str(self.pki_dir / "server.key"))
        self._release.clear()
        self._server = _Server6((self.host, self.port), self, context)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()


def port_free_on_both():
    """A port free on ::1 and on 127.0.0.1, or None without IPv6."""
    for _ in range(20):
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", 0))
                port = s6.getsockname()[1]
        except OSError:
            return None
        with socket.socket() as s4:
            try:
                s4.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    return None


def test_every_address_of_a_name_is_tried_until_one_answers(daemon_factory, receiver_pki):
    # libcurl resolves "localhost" itself, to 127.0.0.1 and then ::1 (the system's hosts file
    # here has only the first). The receiver listens on ::1 alone, so the first address refuses
    # and the attempt must go on to the second, within the one attempt.
    port = port_free_on_both()
    if port is None:
        pytest.skip("no IPv6 loopback")
    live = Receiver6(receiver_pki, port=port, host="::1")
    try:
        rc = daemon_factory(config=notify_config(live.ca))
        world = World(rc, live)  # URLs https://localhost:PORT/<authority>
        res = world.resident()
        world.report(res["id"], known_departure=True)
        live.wait_delivered(3)
        items = world.wait_notifications(lambda items: all(i["delivered_at"] for i in items))
        assert [i["attempts"] for i in items] == [1, 1, 1]
    finally:
        live.close()


def test_a_name_that_does_not_resolve_fails_that_endpoint_only(daemon_factory, receiver):
    # The lookup runs in curl's resolver thread: the loop goes on serving meanwhile. Whether the
    # name server says "no such name" at once or never answers depends on the machine.
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver, urls={"police": "https://no-such-host.invalid/police"})
    world.report(world.resident()["id"], known_departure=True)
    receiver.wait_delivered(1, "municipality")
    receiver.wait_delivered(1, "immigration")
    police = by_authority(world.wait_notifications(all_attempted, timeout=15))["police"]
    assert police["last_error"] in (
        "cannot resolve no-such-host.invalid",
        "no answer within 2 s (resolving the host name)",
    ), police


# --------------------------------------------------------------------------------------------
# What an attempt reports


def test_last_error_texts_for_status_close_and_timeout(world):
    world.receiver.script("municipality", ["503"])
    world.receiver.script("police", ["close"])
    world.receiver.script("immigration", ["hang"])
    res = world.resident()
    world.report(res["id"], known_departure=True)
    items = by_authority(world.wait_notifications(all_attempted, timeout=15))
    # The status line's reason phrase is kept; the timeout names how far the attempt got.
    assert items["municipality"]["last_error"] == "HTTP 503 Service Unavailable"
    assert items["police"]["last_error"] == (
        "the endpoint closed the connection waiting for the response")
    assert items["immigration"]["last_error"] == (
        "no answer within 2 s (waiting for the response)")
    world.receiver.release_hanging()


class RawEndpoint:
    """A TLS server answering each path with fixed bytes, for the answers http.server cannot
    give: a head whose body never comes, endless interim heads, not HTTP at all."""

    def __init__(self, pki_dir, answers):
        self.answers = answers  # path -> bytes written after the request, None: close
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(pki_dir / "server.crt"), str(pki_dir / "server.key"))
        self.ca = pki_dir / "ca.crt"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.paths = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, authority):
        return f"https://localhost:{self.port}/{authority}"

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines
                           if line.lower().startswith("content-length:")), 0)
            while len(body) < length:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                body += chunk
            path = lines[0].split(" ")[1]
            self.paths.append(path)
            answer = self.answers[path.strip("/")]
            if answer is not None:
                tls.sendall(answer)
                self.stop.wait(30)  # kept open: the daemon must not wait for more
            tls.close()
        except (OSError, ssl.SSLError):
            pass

    def close(self):
        self.stop.set()
        self.sock.close()


def test_the_status_is_the_verdict_and_the_body_is_not_waited_for(daemon_factory,
                                                                   receiver_pki):
    filler = b"X-Filler: " + b"x" * 20000 + b"\r\n"
    endpoint = RawEndpoint(receiver_pki, {
        # 100 Continue first, then a 200 whose headers and promised body never arrive.
        "a/municipality": (b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                           b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n"),
        # Interim heads that go on and on.
        "a/police": b"HTTP/1.1 100 Continue\r\n" + filler,
        "a/immigration": b"hello, this is not HTTP\r\n\r\n",
        # The final status line is the verdict, whatever follows it.
        "b/municipality": b"HTTP/1.1 500 Oops\r\n" + filler,
        "b/police": b"HTTP/1.1 204 No Content\r\n",
        "b/immigration": None,  # closed without a word
    })
    try:
        rc = daemon_factory(config=notify_config(endpoint.ca))
        worlds = [World(rc, receiver=None, urls={k: endpoint.url(f"{w}/{k}") for k in AUTHORITIES})
                  for w in "ab"]
        for w in worlds:
            w.report(w.resident()["id"], known_departure=True)
        a, b = (by_authority(w.wait_notifications(all_attempted, timeout=15)) for w in worlds)
        # Had the daemon waited for more than the status line, these would read "no answer
        # within 2 s (waiting for the response)".
        assert a["municipality"]["delivered_at"], a
        assert a["police"]["last_error"] == "response head longer than 16384 bytes"
        assert a["immigration"]["last_error"].startswith("not an HTTP response")
        assert b["municipality"]["last_error"] == "HTTP 500 Oops"
        assert b["police"]["delivered_at"] and b["police"]["last_error"] is None, b
        assert b["immigration"]["last_error"] == (
            "the endpoint closed the connection waiting for the response")
    finally:
        endpoint.close()


def test_what_follows_the_verdict_never_changes_it(daemon_factory, receiver_pki):
    chunk = b"%x\r\n" % 8192 + b"y" * 8192 + b"\r\n"
    endpoint = RawEndpoint(receiver_pki, {
        # A body too long to be worth reading: given up at the end of the head.
        "c/municipality": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100,
        # A chunked body past 64 KiB: given up while counting it.
        "c/police": b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 10,
        # A small body read to its end (the connection could serve again).
        "c/immigration": b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello",
    })
    try:
        rc = daemon_factory(config=notify_config(endpoint.ca))
        world = World(rc, receiver=None, urls={k: endpoint.url(f"c/{k}") for k in AUTHORITIES})
        world.report(world.resident()["id"], known_departure=True)
        c = by_authority(world.wait_notifications(all_attempted, timeout=15))
        assert c["municipality"]["delivered_at"] and c["municipality"]["last_error"] is None, c
        assert c["police"]["last_error"] == "HTTP 503 Busy", c
        assert not c["police"]["delivered_at"]
        assert c["immigration"]["delivered_at"] and c["immigration"]["last_error"] is None, c
    finally:
        endpoint.close()


# --------------------------------------------------------------------------------------------
# Reload and shutdown


def test_sighup_reloads_webhook_ca_and_a_broken_file_keeps_the_running_one(daemon_factory,
                                                                           receiver, pki):
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver)
    world.report(world.resident()["id"], known_departure=True)
    receiver.wait_delivered(3)

    def reload(webhook_ca, expect):
        rc.settings["webhook_ca"] = str(webhook_ca)
        rc.write_config()
        since = len(rc.log_text())
        rc.sighup()
        rc.wait_for_log(expect, since=since)

    # A file that is no CA bundle: refused, the receiver's CA stays in force.
    broken = rc.dir / "broken-ca.pem"
    broken.write_text("not a certificate\n")
    reload(broken, r"webhook CA bundle could not be reloaded")
    world.report(world.resident()["id"], known_departure=True)
    receiver.wait_delivered(6)

    # Another CA: endpoints signed by the receiver's CA are refused from now on.
    reload(pki.ca, r"webhook CA reloaded")
    third = world.resident()
    world.report(third["id"], known_departure=True)
    items = world.wait_notifications(
        lambda items: len(items) == 9 and all(i["attempts"] >= 1 for i in items))
    refused = [i for i in items if not i["delivered_at"]]
    assert len(refused) == 3
    assert all("certificate" in i["last_error"] for i in refused), refused
    assert len(receiver.requests()) == 6

    # And back: the retries go through.
    reload(receiver.ca, r"webhook CA reloaded")
    world.advance(minutes=11)
    receiver.wait_delivered(9)


def test_connections_are_reused_but_never_across_a_ca_reload(daemon_factory, receiver_pki, pki):
    receiver = WebhookReceiver(receiver_pki, keep_alive=True)
    try:
        rc = daemon_factory(config=notify_config(receiver.ca))
        world = World(rc, receiver)
        for n in range(1, 5):
            world.report(world.resident()["id"], known_departure=True)
            # Recorded by the daemon, not only received: its transfers have ended and their
            # connections are free for the next.
            world.wait_notifications(
                lambda items: len(items) == 3 * n and all(i["delivered_at"] for i in items))
        connections = {r.peer for r in receiver.requests()}
        # Three authorities at once open at most three connections; the later notifications
        # ride on them. Before, every one of the 12 had a connection of its own.
        assert len(receiver.requests()) == 12
        assert len(connections) <= 3, connections

        def reload(webhook_ca):
            rc.settings["webhook_ca"] = str(webhook_ca)
            rc.write_config()
            since = len(rc.log_text())
            rc.sighup()
            rc.wait_for_log(r"webhook CA reloaded", since=since)

        # Another CA: the kept connections were verified against the old one and must not
        # carry a single request more.
        reload(pki.ca)
        world.report(world.resident()["id"], known_departure=True)
        items = world.wait_notifications(
            lambda items: len(items) == 15 and all(i["attempts"] >= 1 for i in items))
        refused = [i for i in items if not i["delivered_at"]]
        assert len(refused) == 3, refused
        assert all("certificate" in i["last_error"] for i in refused), refused
        assert len(receiver.requests()) == 12

        # Back: the retries go through, on new connections.
        reload(receiver.ca)
        world.advance(minutes=11)
        receiver.wait_delivered(15)
        later = {r.peer for r in receiver.requests()[12:]}
        assert later.isdisjoint(connections), (later, connections)
    finally:
        receiver.close()


def test_sigterm_with_attempts_in_flight_exits_at_once_and_cleanly(daemon_factory, receiver):
    rc = daemon_factory(config=notify_config(receiver.ca, webhook_timeout="60"))
    world = World(rc, receiver)
    for authority in AUTHORITIES:
        receiver.set_default(authority, "hang")
    for _ in range(5):
        world.report(world.resident()["id"], known_departure=True)
    receiver.wait_for(lambda reqs: len(reqs) >= 15, what="15 hanging requests")
    started = time.monotonic()
    rc.stop_and_check()  # exit 0, no sanitizer (leak) report
    assert time.monotonic() - started < 10
    receiver.release_hanging()


# --------------------------------------------------------------------------------------------
# The log of a missing endpoint


def test_a_missing_endpoint_is_logged_once_not_per_attempt(daemon_factory, receiver):
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver)
    ok = rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": [
        {"kind": k, "url": receiver.url(k), "secret": world.secrets[k]}
        for k in AUTHORITIES if k != "police"]})
    assert ok.status == 200, ok.body
    since = len(rc.log_text())
    for _ in range(3):
        world.report(world.resident()["id"], known_departure=True)
    # Three notifications, each retried after its backoff: many failed attempts to the police.
    for _ in range(4):
        world.advance(minutes=11)
    items = world.wait_notifications(
        lambda items: len(items) == 9
        and sum(i["attempts"] for i in items if i["authority"] == "police") >= 9)
    police = [i for i in items if i["authority"] == "police"]
    assert all(i["last_error"] == f"no police endpoint is configured for centre {world.centre}"
               for i in police), police
    log = rc.log_text()[since:]
    assert log.count("no police endpoint is configured") == 1, log
    assert "said again every 10 minutes" in log
    receiver.wait_delivered(6)
