"""Fault injection helpers (tests/faults): a bounded load of idempotent observation POSTs whose
every attempt is recorded, the checks that every acknowledged request is stored exactly once, and
a summary line per case that scripts/test.sh shows in the CI log.

An observation load posts, from a few threads, one observation per request to a round, each with
an Idempotency-Key of its own that is also written into the observation's note, so that the
database can be asked how often each request took effect (a retry that made a second effect
would leave a second row with the same note: a correction is a new row)."""

import http.client
import json
import os
import ssl
import threading
import time
from pathlib import Path

RESULTS = Path(os.environ.get("ROLLCALL_FAULT_RESULTS", "/tmp/rollcall-fault-results.txt"))


def report(case, **counts):
    """Prints the case's counts (pytest -s shows them) and appends them to RESULTS, which
    scripts/test.sh prints after the run so that the figures are in the CI log."""
    line = f"FAULTS {case}: " + " ".join(f"{k}={v}" for k, v in counts.items())
    print(line, flush=True)
    with open(RESULTS, "a") as out:
        out.write(line + "\n")
    return line


class Attempt:
    __slots__ = ("key", "status", "code", "elapsed", "error", "started")

    def __init__(self, key, status, code, elapsed, error, started):
        self.key = key
        self.status = status  # HTTP status, None when the connection failed
        self.code = code  # error.code of an error body, or None
        self.elapsed = elapsed
        self.error = error  # the exception's text when the connection failed
        self.started = started  # monotonic

    def __repr__(self):
        return (f"Attempt({self.key}, {self.status}, {self.code}, {self.elapsed:.2f}s, "
                f"{self.error})")


class ObservationLoad:
    """threads threads, each posting observations of its own residents (so that two requests
    never race for one resident's slot) to the rounds of day, as api (a staff Api). port()
    gives the daemon's current port (a restarted daemon may move; a DaemonSet's daemons keep
    theirs). Each key is retried, with the same key and body, until it is answered 2xx or
    the load stops; total bounds the number of keys. timeout is the client's own read
    deadline, longer than the daemon's so that a hang is seen as one."""

    def __init__(self, api, centre, day, residents, threads=4, total=None, prefix="obs",
                 timeout=60.0, pause=0.02, port=None):
        self.api = api
        self.centre = centre
        self.day = day
        self.residents = residents
        self.threads = threads
        self.total = total
        self.prefix = prefix
        self.timeout = timeout
        self.pause = pause
        self.port = port or (lambda: api.daemon.port)
        self.attempts = []
        self.acked = {}  # key -> (status, body) of the first 2xx
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._issued = 0
        self._workers = []

    def _next_key(self):
        with self.lock:
            if self.total is not None and self._issued >= self.total:
                return None
            self._issued += 1
            return f"{self.prefix}-{self._issued:06d}"

    def _post(self, conn, key, resident, slot):
        body = json.dumps({"observations": [
            {"resident": resident, "status": "present", "note": key}]}).encode()
        conn.request("POST", f"/v1/centres/{self.centre}/rounds/{self.day}/{slot}", body=body,
                     headers={"Content-Type": "application/json", "Idempotency-Key": key})
        resp = conn.getresponse()
        data = resp.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return resp.status, parsed

    def _connect(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port(), context=self.api.context,
                                           timeout=self.timeout)

    def _worker(self, index):
        mine = self.residents[index::self.threads]
        conn = None
        n = 0
        while not self.stop_event.is_set():
            key = self._next_key()
            if key is None:
                break
            resident = mine[n % len(mine)]
            slot = 1 + (n // len(mine)) % 3
            n += 1
            while not self.stop_event.is_set():
                started = time.monotonic()
                status = code = error = parsed = None
                try:
                    if conn is None:
                        conn = self._connect()
                    status, parsed = self._post(conn, key, resident, slot)
                except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    if conn is not None:
                        conn.close()
                    conn = None
                elapsed = time.monotonic() - started
                if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                    code = parsed["error"].get("code")
                with self.lock:
                    self.attempts.append(Attempt(key, status, code, elapsed, error, started))
                    if status is not None and 200 <= status < 300:
                        self.acked[key] = (status, parsed)
                if status is not None and 200 <= status < 300:
                    break
                if status is not None and status != 503 and conn is not None:
                    conn.close()  # a refusal that is not an outage: a fresh connection
                    conn = None
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def start(self):
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self, timeout=120):
        self.stop_event.set()
        self.join(timeout)

    def join(self, timeout=600):
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._workers), "load threads did not finish"

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, count, timeout=30.0):
        """Waits until count more keys than now have been acknowledged."""
        goal = self.acked_count() + count
        deadline = time.monotonic() + timeout
        while self.acked_count() < goal:
            assert time.monotonic() < deadline, (
                f"only {self.acked_count()} of {goal} acknowledged within {timeout} s; last "
                f"attempts {self.attempts[-5:]}")
            time.sleep(0.02)

    # -- checks ---------------------------------------------------------------------------------

    def effects(self, db):
        """{key: rows in observations with that note} for this load's keys, from db."""
        rows = db.query("SELECT note, count(*) FROM observations WHERE note LIKE %s GROUP BY note",
                        self.prefix + "-%")
        return {note: n for note, n in rows}

    def check_exactly_once(self, db):
        """Every acknowledged key stored exactly once, and no key (acknowledged or not) stored
        twice; returns (acked, stored, duplicates)."""
        effects = self.effects(db)
        missing = [k for k in self.acked if effects.get(k, 0) == 0]
        duplicates = {k: n for k, n in effects.items() if n > 1}
        assert not missing, f"{len(missing)} acknowledged requests lost, e.g. {missing[:5]}"
        assert not duplicates, f"duplicate effects: {list(duplicates.items())[:5]}"
        return len(self.acked), len(effects), len(duplicates)

    def statuses(self):
        """{status (None: connection failed): attempts}."""
        out = {}
        for a in self.attempts:
            out[a.status] = out.get(a.status, 0) + 1
        return out

    def check_outage_answers(self, deadline_s, allow_connection_errors=False):
        """Every attempt was a 2xx or a 503 with the error JSON (code database_unavailable or
        overloaded), none took longer than deadline_s; returns (503s, slowest)."""
        bad = [a for a in self.attempts
               if not ((a.status is not None and 200 <= a.status < 300)
                       or (a.status == 503 and a.code in ("database_unavailable", "overloaded"))
                       or (a.status is None and allow_connection_errors))]
        assert not bad, f"{len(bad)} attempts neither 2xx nor 503 with the error JSON: {bad[:5]}"
        slow = [a for a in self.attempts if a.elapsed > deadline_s]
        assert not slow, f"{len(slow)} attempts hung past {deadline_s} s: {slow[:5]}"
        return (sum(1 for a in self.attempts if a.status == 503),
                max((a.elapsed for a in self.attempts), default=0.0))

    def recovery_after(self, instant, timeout=30.0):
        """Waits for the first 2xx of an attempt started after instant (monotonic); returns
        the seconds from instant to that answer."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                first = self.first_ack_after(instant)
            if first is not None:
                return first - instant
            assert time.monotonic() < deadline, (
                f"no request succeeded within {timeout} s; last attempts {self.attempts[-5:]}")
            time.sleep(0.02)

    def first_ack_after(self, instant):
        """Monotonic instant of the first 2xx attempt that started after instant, or None."""
        times = [a.started + a.elapsed for a in self.attempts
                 if a.started >= instant and a.status is not None and 200 <= a.status < 300]
        return min(times) if times else None


def bulk_residents(daemon, centre, count, date_of_birth="2012-03-10"):
    """count residents enrolled at centre (an id) since 2026-01-05 in phase 1, written directly
    in SQL (fast: the fault cases need many, not the API's checks); returns their ids."""
    tag = daemon.unique("bulk")
    rows = daemon.db.query(
        "INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)"
        " SELECT %s || '-' || n, 'Bulk', 'Resident ' || n, %s::date, '2026-01-01T00:00:00Z'"
        " FROM generate_series(1, %s) AS n RETURNING id", tag, date_of_birth, count)
    ids = [r[0] for r in rows]
    daemon.db.execute("INSERT INTO stays (resident, centre, from_date) SELECT r, %s, '2026-01-05'"
                      " FROM unnest(%s::bigint[]) AS r", centre, ids)
    daemon.db.execute("INSERT INTO phases (resident, phase, from_date) SELECT r, 1, '2026-01-05'"
                      " FROM unnest(%s::bigint[]) AS r", ids)
    return ids


# --------------------------------------------------------------------------------------------
# Misbehaving webhook endpoints (case 4)


def issue_certificate(pki_dir, out_dir, name, hosts=("localhost",), expired=False):
    """A server certificate signed by the CA in pki_dir (ca.crt, ca.key: harness.webhooks'
    receiver PKI) for hosts, valid now or expired yesterday; returns (cert path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pki_dir, out_dir = Path(pki_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = ((now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
                  if expired else (now - datetime.timedelta(days=1),
                                   now + datetime.timedelta(days=30)))
    sans = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(end).add_extension(x509.SubjectAlternativeName(sans), False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = out_dir / f"{name}.crt", out_dir / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class FaultyEndpoint:
    """One HTTPS webhook endpoint on 127.0.0.1 that misbehaves as told (.mode, changeable at any
    time; .set_certificate() swaps the certificate for later connections):
      "blackhole"  accept the TCP connection and never say anything (no TLS handshake)
      "trickle"    read the request, then answer 200 at one byte per second
      "reset"      read the request, write half a status line, then reset (SO_LINGER 0)
      "ok"         read the request, answer 200
    on_request(webhook_id), when set, runs after a request was read and before the answer
    (e.g. to kill the daemon after it sent but before it recorded). .requests lists the
    webhook-id of every request read, in order."""

    def __init__(self, cert, key, mode="ok"):
        import socket as _socket

        self.mode = mode
        self.on_request = None
        self.requests = []
        self.lock = threading.Lock()
        self.set_certificate(cert, key)
        self.sock = _socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def set_certificate(self, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.context = ctx

    def url(self, authority):
        return f"https://localhost:{self.port}/{authority}"

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, self.mode), daemon=True).start()

    def _serve(self, conn, mode):
        import socket as _socket
        import struct

        if mode == "blackhole":
            self.held.append(conn)
            return
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
            fields = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip()
                      for ln in lines[1:] if ":" in ln}
            length = int(fields.get("content-length", "0"))
            while len(body) < length:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self.lock:
                self.requests.append(fields.get("webhook-id"))
            if self.on_request:
                self.on_request(fields.get("webhook-id"))
            answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
            if mode == "trickle":
                for i in range(len(answer)):
                    if self.stop.wait(1.0):
                        break
                    tls.sendall(answer[i:i + 1])
            elif mode == "reset":
                tls.sendall(answer[:8])
                tls.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                tls.sendall(answer)
            tls.close()
        except (OSError, ssl.SSLError):
            pass

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.held:
            c.close()
