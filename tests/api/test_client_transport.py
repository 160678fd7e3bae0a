"""The client's HTTPS transport (libcurl): the pages of a list share one TLS connection, the
proxy environment variables are honoured (https_proxy through a CONNECT proxy, no_proxy going
direct), TLS and connection failures are explained in plain words with exit status 3, and
`rollcall watch` follows the alert stream and stops cleanly on SIGTERM.

The forwarder and the proxy are small threaded TCP relays written here, on loopback only; each
counts what it accepted and stops with the test."""

import contextlib
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from alerts_helpers import Centre
from harness import ROLLCALL, at, free_port, wait_until

DAY = "2026-11-20"


def _pipe(a, b, stop):
    """Copies bytes both ways between sockets a and b until either closes or stop is set."""
    sockets = [a, b]
    try:
        while not stop.is_set():
            ready, _, _ = select.select(sockets, [], [], 0.2)
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in sockets:
            with contextlib.suppress(OSError):
                s.close()


class Relay:
    """Listens on host:port (loopback). Without `connect_proxy`, forwards every accepted
    connection to target; with it, acts as an HTTP CONNECT proxy to loopback targets only.
    .accepted counts accepted connections, .connects the CONNECT targets seen."""

    def __init__(self, target_port=None, host="127.0.0.1", connect_proxy=False):
        self.target_port = target_port
        self.connect_proxy = connect_proxy
        self.accepted = 0
        self.connects = []
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            if self.connect_proxy:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = conn.recv(4096)
                    if not chunk:
                        conn.close()
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, target, _version = line.split(" ", 2)
                host, _, port = target.rpartition(":")
                self.connects.append(target)
                if method != "CONNECT" or host not in ("localhost", "127.0.0.1"):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    conn.close()
                    return
                upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except (OSError, ValueError):
            conn.close()
            return
        _pipe(conn, upstream, self.stop)

    def close(self):
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def relay():
    made = []

    def make(*args, **kw):
        r = Relay(*args, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


NO_PROXY_ENV = {
    "https_proxy": "",
    "HTTPS_PROXY": "",
    "all_proxy": "",
    "ALL_PROXY": "",
    "no_proxy": "",
    "NO_PROXY": "",
}


@pytest.fixture(scope="module")
def many(rc):
    """A centre with 230 residents: three pages of the residents list (100 a page)."""
    centre = Centre(rc, prefix="pages")
    for i in range(230):
        centre.resident(family_name=f"Page{i:03d}")
    return centre


def test_the_pages_of_a_list_share_one_tls_connection(rc, many, relay):
    forwarder = relay(rc.port)
    code, out, err = rc.client(
        many.staff_cn,
        "residents",
        "--on",
        "2026-01-20",
        url=f"https://localhost:{forwarder.port}",
        env=NO_PROXY_ENV,
    )
    assert code == 0, err
    assert "230 residents" in out, out
    assert out.count("Page") == 230
    # The centre lookup and three pages of residents: one connection for all of them.
    assert forwarder.accepted == 1, f"{forwarder.accepted} connections for one command"


def test_https_proxy_is_used_and_no_proxy_goes_direct(rc, many, relay):
    proxy = relay(connect_proxy=True)
    env = dict(NO_PROXY_ENV, https_proxy=f"http://127.0.0.1:{proxy.port}")
    code, out, err = rc.client(many.staff_cn, "residents", "--on", "2026-01-20", env=env)
    assert code == 0, err
    assert "230 residents" in out
    assert proxy.connects == [f"localhost:{rc.port}"], proxy.connects

    # The upper-case name is honoured as well.
    env = dict(NO_PROXY_ENV, HTTPS_PROXY=f"http://127.0.0.1:{proxy.port}")
    code, out, err = rc.client(many.staff_cn, "residents", "--on", "2026-01-20", env=env)
    assert code == 0, err
    assert len(proxy.connects) == 2

    # no_proxy (either spelling) names the server: straight to it, the proxy sees nothing.
    for name in ("no_proxy", "NO_PROXY"):
        env = dict(NO_PROXY_ENV, https_proxy=f"http://127.0.0.1:{proxy.port}")
        env[name] = "localhost"
        code, out, err = rc.client(many.staff_cn, "residents", "--on", "2026-01-20", env=env)
        assert code == 0, err
        assert "230 residents" in out
    assert len(proxy.connects) == 2 and proxy.accepted == 2


def test_a_proxy_that_refuses_the_tunnel_is_explained(rc, many, relay):
    proxy = relay(connect_proxy=True)
    # The proxy only tunnels to localhost and 127.0.0.1; the url names another loopback name.
    env = dict(NO_PROXY_ENV, https_proxy=f"http://127.0.0.1:{proxy.port}")
    code, _out, err = rc.client(
        many.staff_cn, "residents", url=f"https://127.0.0.2:{rc.port}", env=env
    )
    assert code == 3, err
    assert "proxy" in err and "403" in err, err
    assert "trying again" not in err  # nothing to gain from repeating it


def test_a_proxy_that_is_down_exits_3(rc, many):
    port = free_port()
    env = dict(NO_PROXY_ENV, https_proxy=f"http://127.0.0.1:{port}")
    code, _out, err = rc.client(many.staff_cn, "residents", env=env)
    assert code == 3, err
    assert "refused the connection" in err, err
    assert "a proxy is set in the environment" in err and f"port {port}" in err, err


# ------------------------------------------------------------------------------------------
# Failures in plain words (exit 3)


def test_connection_refused_in_plain_words(rc, many):
    port = free_port()
    code, _out, err = rc.client(
        many.staff_cn, "residents", url=f"https://localhost:{port}", env=NO_PROXY_ENV
    )
    assert code == 3, err
    assert f"the server localhost port {port} refused the connection" in err, err


def test_unknown_host_in_plain_words(rc, many):
    code, _out, err = rc.client(
        many.staff_cn, "residents", url="https://no-such-host.invalid:8443", env=NO_PROXY_ENV
    )
    assert code == 3, err
    assert "cannot find the server no-such-host.invalid" in err, err


def test_server_certificate_from_an_unknown_ca(rc, many, pki, tmp_path):
    pki.other_ca("admin")
    # A file of its own: rc.client rewrites the usual one.
    config = tmp_path / "other-ca.conf"
    config.write_text(
        rc.client_config(many.staff_cn)
        .read_text()
        .replace(f"ca = {pki.ca}", f"ca = {pki.dir / 'other' / 'ca.crt'}")
    )
    code, _out, err = rc.client(
        many.staff_cn, "residents", env=dict(NO_PROXY_ENV, ROLLCALL_CONFIG=str(config))
    )
    assert code == 3, err
    assert "the server's certificate was not issued by the CA in" in err, err
    assert "foreign CA" in err, err
    assert "trying again" not in err


def test_server_certificate_for_another_name(rc, many, relay):
    # The server's certificate names localhost and 127.0.0.1, not 127.0.0.2.
    forwarder = relay(rc.port, host="127.0.0.2")
    code, _out, err = rc.client(
        many.staff_cn, "residents", url=f"https://127.0.0.2:{forwarder.port}", env=NO_PROXY_ENV
    )
    assert code == 3, err
    assert "the server's certificate is not issued for 127.0.0.2: check the url" in err, err


def test_client_certificate_from_another_ca_is_refused(rc, many, pki):
    cert, key = pki.other_ca(many.staff_cn)
    code, _out, err = rc.client(many.staff_cn, "residents", cert=cert, key=key, env=NO_PROXY_ENV)
    assert code == 3, err
    # Defect 5 of issue 15: a certificate of another CA says so, not "account disabled".
    assert "does not trust the CA that issued your certificate" in err, err
    assert "foreign CA" in err, err
    assert "disabled" not in err, err
    assert "trying again" not in err


def test_revoked_client_certificate(daemon_factory, pki):
    daemon = daemon_factory()
    centre = Centre(daemon, prefix="revoked")
    code, _out, err = daemon.client(centre.staff_cn, "residents", env=NO_PROXY_ENV)
    assert code == 0, err
    cert, key = pki.revoke(centre.staff_cn)
    daemon.sighup()
    wait_until(lambda: daemon.tls_refused(cert, key) is None, what="the revocation")
    code, _out, err = daemon.client(
        centre.staff_cn, "residents", cert=cert, key=key, env=NO_PROXY_ENV
    )
    assert code == 3, err
    assert "your certificate was revoked or has expired" in err, err


def test_plain_http_port_is_explained(rc, many):
    # Something that answers in plain HTTP where TLS is expected.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        code, _out, err = rc.client(
            many.staff_cn, "residents", url=f"https://localhost:{port}", env=NO_PROXY_ENV
        )
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
    assert code == 3, err
    assert "is this the rollcalld HTTPS port?" in err, err


# ------------------------------------------------------------------------------------------
# rollcall watch


def test_watch_prints_a_raised_alert_and_stops_on_sigterm(rc):
    centre = Centre(rc, prefix="watch")
    resident = centre.resident(family_name="Watched")
    rc.set_clock(at(DAY, "09:00"))
    proc = subprocess.Popen(
        [str(ROLLCALL), "watch", "--centre", centre.id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(rc.client_env(centre.oncall_cn), **NO_PROXY_ENV),
        cwd=rc.dir,
    )
    try:
        # The watcher is connected once the daemon counts it; then an absence raises an alert.
        time.sleep(1.5)
        centre.report(resident, expect=(201,))
        lines = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                lines.append(line)
                if "resident_absent" in line:
                    break
        # The resident's name is looked up while the alert streams in (a second request
        # from inside the first).
        assert any("resident_absent" in line and "Watched" in line for line in lines), lines
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        assert time.monotonic() - started < 3, "watch took long to stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert code == 0, err
    assert "watching the alerts of" in err and "stopped watching" in err, err
