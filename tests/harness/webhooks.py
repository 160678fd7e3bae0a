"""A real HTTPS webhook receiver for the notification tests and the benchmark: a threaded
http.server behind TLS with a certificate from its own CA (scripts/pki.sh), recording every
request and answering each path the way the test scripts it (200, 500, hang, close, ...).

It also verifies Standard Webhooks signatures independently of the daemon (Python's hmac), so
a test checks the daemon's signing against a second implementation.

    receiver = WebhookReceiver(pki_dir)          # starts at once on 127.0.0.1, a free port
    receiver.url("police")                       # https://localhost:PORT/police
    receiver.script("police", ["500", "ok"])     # the next two answers, then the default
    receiver.set_default("police", "hang")       # every later answer
    receiver.wait_for(lambda reqs: ..., timeout) # polls the recorded requests
    receiver.close()
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
from pathlib import Path

from .common import PKI_SH, free_port
from .world import AUTHORITIES, Centre, Clock

# What a path can be told to do with a request:
#   "ok"          200 with a small JSON body
#   "202", "204"  that 2xx status (any 2xx is a delivery)
#   "500", "503", "400", "404", "301"   that status (none is a delivery)
#   "hang"        read the request, answer nothing until released or HANG_LIMIT s, then close
#   "close"       read the request, close the connection without an answer
MODES = {"ok", "hang", "close", "202", "204", "500", "503", "400", "404", "301"}
HANG_LIMIT = 120.0


def new_secret(seed=None):
    """A Standard Webhooks secret: whsec_ + base64 of 32 random (or seeded) bytes."""
    raw = hashlib.sha256(seed.encode()).digest() if seed else os.urandom(32)
    return "whsec_" + base64.b64encode(raw).decode()


def sign(secret, msg_id, timestamp, body):
    """The Standard Webhooks signature "v1,<base64>" of body (bytes), computed here."""
    key = base64.b64decode(secret[len("whsec_") :])
    message = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def verify(secret, headers, body, tolerance=300):
    """True when the request's webhook-signature verifies with secret (any of the
    space-separated signatures), as a Standard Webhooks library checks it, including the
    timestamp tolerance against this machine's wall clock."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in signatures.split())


class Request:
    """One request as the receiver saw it."""

    def __init__(self, path, headers, body, mode, received_wall, received_mono, peer=None):
        self.path = path
        self.peer = peer                  # (host, port) of the client: one per connection
        self.authority = path.strip("/").split("/")[0].split("?")[0]
        self.headers = headers            # lower-case names
        self.body = body                  # bytes
        self.mode = mode                  # what the receiver did with it
        self.received_wall = received_wall
        self.received_mono = received_mono
        self.answered_at = None           # monotonic, once answered (or closed)

    @property
    def event_id(self):
        return self.headers.get("webhook-id")

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def delivered(self):
        """Did the receiver accept it (a 2xx answer)?"""
        return self.mode in ("ok", "202", "204")

    def __repr__(self):
        return f"<{self.path} {self.event_id} {self.mode}>"


def make_pki(directory):
    """A CA of the receiver's own with a server certificate for localhost / 127.0.0.1."""
    directory = Path(directory)
    subprocess.run([str(PKI_SH), "init", str(directory)], check=True, capture_output=True,
                   timeout=120)
    return directory


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "webhook-receiver/1"
    timeout = 30  # a client that stops sending mid-request

    def log_message(self, fmt, *args):  # quiet: the tests print what matters
        pass

    def do_POST(self):
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        mode = receiver._next_mode(self.path)
        req = Request(self.path, headers, body, mode, time.time(), time.monotonic(),
                      peer=self.client_address)
        receiver._record(req)
        if mode == "hang":
            receiver._release.wait(HANG_LIMIT)
            self.close_connection = True
            req.answered_at = time.monotonic()
            return
        if mode == "close":
            self.close_connection = True
            req.answered_at = time.monotonic()
            return
        status = 200 if mode == "ok" else int(mode)
        payload = b'{"received":true}' if status != 204 else b""
        self.send_response(status)
        if status == 301:
            self.send_header("Location", "https://localhost/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        req.answered_at = time.monotonic()

    def do_GET(self):
        self.send_error(405)


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, receiver, context, keep_alive=False):
        self.receiver = receiver
        self.context = context
        # HTTP/1.0 closes after each answer (every attempt on a connection of its own, which the
        # scripted modes rely on); HTTP/1.1 keeps connections open, as a real endpoint does.
        handler = _KeepAliveHandler if keep_alive else _Handler
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the handler's thread (on first read), so a client that never
        # completes it cannot stall the accept loop.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        # TLS failures and clients that hang up are part of the tests; keep stderr clean.
        pass


class WebhookReceiver:
    """The receiver. All methods are thread-safe."""

    def __init__(self, pki_dir, port=None, start=True, host="127.0.0.1", keep_alive=False):
        self.pki_dir = Path(pki_dir)
        self.host = host
        self.keep_alive = keep_alive
        if not (self.pki_dir / "server.crt").exists():
            make_pki(self.pki_dir)
        self.ca = self.pki_dir / "ca.crt"
        self.port = port or free_port(host)
        self._lock = threading.Lock()
        self._requests = []
        self._scripts = {}
        self._defaults = {}
        self._release = threading.Event()
        self._server = None
        self._thread = None
        if start:
            self.start()

    # -- life cycle ------------------------------------------------------------------------

    def start(self):
        """Starts listening (again, after stop()) on the same port."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.pki_dir / "server.crt"),
                                str(self.pki_dir / "server.key"))
        self._release.clear()
        self._server = _Server((self.host, self.port), self, context, self.keep_alive)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self):
        """Stops listening: connections are refused until start(). Hanging requests end."""
        self._release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self):
        self.stop()

    def release_hanging(self):
        """Ends every request that is hanging now (closes without an answer)."""
        self._release.set()
        time.sleep(0.05)
        self._release.clear()

    # -- behaviour -------------------------------------------------------------------------

    def url(self, authority, host="localhost"):
        return f"https://{host}:{self.port}/{authority}"

    def set_default(self, authority, mode):
        assert mode in MODES, mode
        with self._lock:
            self._defaults[authority] = mode

    def script(self, authority, modes):
        """The next answers for authority's path, in order; then its default."""
        assert all(m in MODES for m in modes), modes
        with self._lock:
            self._scripts.setdefault(authority, []).extend(modes)

    def _next_mode(self, path):
        authority = path.strip("/").split("/")[0].split("?")[0]
        with self._lock:
            queue = self._scripts.get(authority)
            if queue:
                return queue.pop(0)
            return self._defaults.get(authority, "ok")

    def _record(self, req):
        with self._lock:
            self._requests.append(req)

    # -- what was received -----------------------------------------------------------------

    def requests(self, authority=None):
        with self._lock:
            reqs = list(self._requests)
        return [r for r in reqs if authority is None or r.authority == authority]

    def delivered(self, authority=None):
        return [r for r in self.requests(authority) if r.delivered]

    def clear(self):
        with self._lock:
            self._requests.clear()

    def wait_for(self, predicate, timeout=20.0, what="the expected requests"):
        """Polls predicate(requests) until true; returns the requests, or raises."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.requests()
            if predicate(reqs):
                return reqs
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; received: {reqs}")
            time.sleep(0.02)

    def wait_delivered(self, count, authority=None, timeout=20.0):
        """Waits until count requests (of authority) were accepted with a 2xx."""
        return self.wait_for(
            lambda reqs: len([r for r in reqs if r.delivered
                              and (authority is None or r.authority == authority)]) >= count,
            timeout,
            f"{count} delivered requests{' to ' + authority if authority else ''}",
        )


# --------------------------------------------------------------------------------------------
# A centre wired to a receiver, for the notification tests and the benchmark


def notify_config(receiver_ca, **overrides):
    """Daemon settings for notification tests: trust the receiver's CA, short attempt deadline,
    and a fixed instance name so that a restart after kill -9 takes its leases back at once."""
    settings = {
        "webhook_ca": str(receiver_ca),
        "webhook_timeout": "2",
        "webhook_backoff_max": "600",
        "instance_name": "notify-a",
    }
    settings.update({k: v for k, v in overrides.items()})
    return settings


def by_authority(items):
    """{authority: item} of notification items."""
    return {i["authority"]: i for i in items}


class World(Centre):
    """A centre of daemon rc whose three authorities point at a receiver (or given URLs), with
    its secrets, staff and on-call accounts (cn staff-<centre>-N, oncall-<centre>-N), and the
    daemon's test clock set to clock (.now, set_clock(), advance()). .centre is the centre's id.
    Everything else is Centre's; alerts() defaults to state=all here."""

    def __init__(self, rc, receiver, clock="2026-11-20T22:00:00+00:00", urls=None,
                 secrets=None, centre_id=None):
        self.receiver = receiver
        self.clock = Clock(rc, clock)
        urls = urls or {}
        self.secrets = secrets or {k: new_secret() for k in AUTHORITIES}
        super().__init__(
            rc,
            centre_id,
            manager=False,
            name="Børnecenter Tønder",
            operator="Test operator",
            authorities=[{"kind": k, "url": urls.get(k) or receiver.url(k),
                          "secret": self.secrets[k]} for k in AUTHORITIES],
        )
        self.staff_cn = rc.unique(f"staff-{self.id}-")
        self._staff = self._account(self.staff_cn, "staff")
        self.oncall_cn = rc.unique(f"oncall-{self.id}-")
        self._oncall = self._account(self.oncall_cn, "oncall")

    @property
    def centre(self):
        return self.id

    @property
    def now(self):
        return self.clock.now

    def set_clock(self, when):
        self.clock.set(when)

    def advance(self, **delta):
        self.clock.advance(**delta)

    def report(self, resident_id, expect=201, **body):
        return super().report(resident_id, expect=expect, **body)

    def notifications(self, api=None, **query):
        """Every item of GET /v1/notifications (all pages) as api (default: staff)."""
        return super().notifications(api=api, **query)

    def alerts(self, kind=None, state="all"):
        return super().alerts(kind, state=state, limit=1000)
