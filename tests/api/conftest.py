"""The API test harness: a throwaway PostgreSQL cluster, a development PKI, and real rollcalld
processes over real mutual TLS, driven with http.client and the real rollcall binary.

Session: one cluster (scripts/pg.sh, random port, a directory under /tmp that the postgres user
can reach), one PKI (scripts/pki.sh) and a template database migrated once with
`rollcalld --migrate`. Each daemon gets a fresh database cloned from the template, its own port
and config, and is stopped with SIGTERM at teardown: it must exit 0 within a few seconds and,
under ASan/UBSan, print no sanitizer report. When a test fails, the logs of the daemons it used
are attached to the report.

Fixtures:
  rc              a daemon shared by the tests of one module (fresh database per module)
  daemon_factory  make(**options) -> a new Daemon for this test (custom config, own database)
  cluster         the session's PostgreSQL cluster (stop/start for outage tests)
  pki             the session's PKI (client certificates on demand, revoke, other CA)

Environment: ROLLCALL_BUILD (default build/) names the build directory holding rollcalld and
rollcall; ROLLCALL_KEEP=1 keeps the session's directory for inspection.
"""

import collections
import contextlib
import datetime
import http.client
import itertools
import json as jsonlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ROLLCALL_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
ROLLCALLD = BUILD / "rollcalld"
ROLLCALL = BUILD / "rollcall"
PKI_SH = ROOT / "scripts" / "pki.sh"
PG_SH = ROOT / "scripts" / "pg.sh"
TEMPLATE_DB = "rc_template"

# Sanitizer settings for the processes the tests start, unless the caller chose others.
os.environ.setdefault(
    "ASAN_OPTIONS",
    "detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:"
    "detect_stack_use_after_return=1",
)
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
if (ROOT / "tests" / "lsan.supp").exists():
    os.environ.setdefault(
        "LSAN_OPTIONS", f"suppressions={ROOT / 'tests' / 'lsan.supp'}:print_suppressions=0"
    )

SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)"
)

# Generous for a sanitized build on a loaded 2-core machine.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

Reply = collections.namedtuple("Reply", "status body headers")
Reply.__doc__ = "An HTTP answer: status, parsed JSON (or text), headers (lower-case names)."


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, **kw):
    """Runs a helper script; raises with its output when it fails."""
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, **kw
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


# --------------------------------------------------------------------------------------------
# PKI


class Pki:
    """The session's development CA (scripts/pki.sh). Certificates are issued on demand."""

    def __init__(self, directory):
        self.dir = Path(directory)
        run([PKI_SH, "init", self.dir])
        self.ca = self.dir / "ca.crt"
        self.server_cert = self.dir / "server.crt"
        self.server_key = self.dir / "server.key"
        self.crl = self.dir / "crl.pem"
        self._issued = set()

    def client(self, cn):
        """(cert, key) paths for cn, issued the first time it is asked for."""
        if cn not in self._issued:
            run([PKI_SH, "client", self.dir, cn])
            self._issued.add(cn)
        return self.dir / "clients" / f"{cn}.crt", self.dir / "clients" / f"{cn}.key"

    def revoke(self, cn):
        """Revokes cn's certificate and rewrites crl.pem (the daemon needs SIGHUP to see it).
        Returns copies of the revoked (cert, key), since a later client(cn) issues anew."""
        cert, key = self.client(cn)
        keep = self.dir / "revoked"
        keep.mkdir(exist_ok=True)
        kept = (keep / f"{cn}.crt", keep / f"{cn}.key")
        shutil.copy(cert, kept[0])
        shutil.copy(key, kept[1])
        run([PKI_SH, "revoke", self.dir, cn])
        self._issued.discard(cn)
        return kept

    def other_ca(self, cn="admin"):
        """(cert, key) for cn from an unrelated CA."""
        run([PKI_SH, "other-ca", self.dir, cn])
        return self.dir / "other" / f"{cn}.crt", self.dir / "other" / f"{cn}.key"


# --------------------------------------------------------------------------------------------
# PostgreSQL


class Cluster:
    """The session's throwaway PostgreSQL cluster (scripts/pg.sh), superuser postgres."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.port = free_port()
        self.start()

    def start(self):
        run([PG_SH, "start", self.dir, self.port, "--fast"])

    def stop(self):
        run([PG_SH, "stop", self.dir])

    @contextlib.contextmanager
    def stopped(self):
        """Stops the cluster for the block and always starts it again afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def conninfo(self, dbname="postgres"):
        return f"host={self.dir / 'sock'} port={self.port} user=postgres dbname={dbname}"

    def database(self, dbname):
        return Database(self, dbname)

    def create_database(self, dbname, template=None):
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            ident = pgsql.Identifier(dbname)
            if template:
                conn.execute(
                    pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        ident, pgsql.Identifier(template)
                    )
                )
            else:
                conn.execute(pgsql.SQL("CREATE DATABASE {}").format(ident))

    def drop_database(self, dbname):
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(dbname)
                )
            )


class Database:
    """Direct SQL on one database, for assertions the API cannot make. Each call opens its own
    autocommit connection, so nothing lingers to block the daemon or DROP DATABASE."""

    def __init__(self, cluster, dbname):
        self.cluster = cluster
        self.name = dbname
        self.conninfo = cluster.conninfo(dbname)

    def query(self, sql, *params):
        """All rows as tuples."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cur = conn.execute(sql, params or None)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql, *params):
        rows = self.query(sql, *params)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}: {rows}"
        return rows[0][0]

    def execute(self, sql, *params):
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql, params or None)

    def count(self, table, where="true", *params):
        return self.scalar(f"SELECT count(*) FROM {table} WHERE {where}", *params)

    def snapshot(self, *tables):
        """Every row of the tables, to show that a refused request changed nothing."""
        return {t: sorted(map(repr, self.query(f"SELECT * FROM {t}"))) for t in tables}


# --------------------------------------------------------------------------------------------
# HTTP over mutual TLS


def client_context(pki, cert=None, key=None, ca=None):
    """An SSL context trusting the session CA (or ca) and presenting cert/key if given."""
    ctx = ssl.create_default_context(cafile=str(ca or pki.ca))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _parse_reply(resp):
    data = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    body = data.decode("utf-8", errors="replace")
    if "json" in headers.get("content-type", "") and data:
        try:
            body = jsonlib.loads(data)
        except ValueError:
            pass
    return Reply(resp.status, body, headers)


def _complete_response(data):
    """True once data holds a whole HTTP response (head and, by Content-Length or chunked
    encoding, its body), so raw() need not wait for the server to close."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked\s*$", head):
        return body.endswith(b"0\r\n\r\n")
    return False


class Api:
    """Requests as one client certificate: api.get(path) -> Reply(status, body, headers).

    post/put/patch take json= (encoded, Content-Type application/json) or raw= bytes (sent as
    they are, Content-Type from headers=, default application/json). Each request uses a new
    connection unless made through session()."""

    def __init__(self, daemon, cn, cert=None, key=None):
        self.daemon = daemon
        self.cn = cn
        if cert is None:
            cert, key = daemon.pki.client(cn)
        self.cert, self.key = cert, key
        self.context = client_context(daemon.pki, cert, key)

    def connect(self, timeout=30):
        return http.client.HTTPSConnection(
            "127.0.0.1", self.daemon.port, context=self.context, timeout=timeout
        )

    @staticmethod
    def _encode(json, raw, headers):
        headers = dict(headers or {})
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
            return raw, headers
        if json is not None:
            headers.setdefault("Content-Type", "application/json")
            return jsonlib.dumps(json).encode(), headers
        return None, headers

    def request(self, method, path, json=None, raw=None, headers=None, timeout=30, conn=None):
        body, headers = self._encode(json, raw, headers)
        own = conn is None
        if own:
            conn = self.connect(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            return _parse_reply(conn.getresponse())
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    @contextlib.contextmanager
    def session(self):
        """One kept-alive connection: `with api.session() as s: s.get(...)`."""
        conn = self.connect()
        api = self

        class Session:
            def request(self, method, path, **kw):
                return api.request(method, path, conn=conn, **kw)

            def get(self, path, **kw):
                return self.request("GET", path, **kw)

            def post(self, path, **kw):
                return self.request("POST", path, **kw)

            def sock(self):
                return conn.sock

        try:
            yield Session()
        finally:
            conn.close()


def ok(reply, *statuses):
    """Asserts a successful reply (2xx, or one of statuses) and returns its body."""
    if statuses:
        assert reply.status in statuses, f"expected {statuses}, got {reply.status}: {reply.body}"
    else:
        assert 200 <= reply.status < 300, f"expected success, got {reply.status}: {reply.body}"
    return reply.body


def error_of(reply, status):
    """Asserts an error reply with status and the error JSON shape; returns the error object."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.body}"
    assert isinstance(reply.body, dict) and "error" in reply.body, reply.body
    err = reply.body["error"]
    assert isinstance(err.get("code"), str) and err["code"], err
    assert isinstance(err.get("message"), str) and err["message"], err
    return err


# --------------------------------------------------------------------------------------------
# The daemon

_REGISTRY = []  # daemons whose logs a failing test report should show
_counter = itertools.count(1)


class Daemon:
    """One rollcalld process with its own database, port and config file."""

    def __init__(self, env, name, config=None, database=None, start=True, migrated=True):
        self.env = env
        self.pki = env.pki
        self.cluster = env.cluster
        self.name = name
        self.port = free_port()
        self.dir = env.workdir / name
        self.dir.mkdir()
        self.dbname = database or name
        if database is None:
            env.cluster.create_database(self.dbname, TEMPLATE_DB if migrated else None)
        self.db = env.cluster.database(self.dbname)
        self.config_path = self.dir / "rollcalld.ini"
        self.log_path = self.dir / "rollcalld.log"
        self.settings = {
            "listen": f"127.0.0.1:{self.port}",
            "tls_cert": env.pki.server_cert,
            "tls_key": env.pki.server_key,
            "tls_ca": env.pki.ca,
            "tls_crl": env.pki.crl,
            "database": env.cluster.conninfo(self.dbname),
            "bootstrap_admin": "admin",
            "test_clock": "true",
            "log_level": "debug",
        }
        for key, value in (config or {}).items():
            if value is None:
                self.settings.pop(key, None)
            else:
                self.settings[key] = value
        self.write_config()
        self.proc = None
        self.mark = 0
        self._counter = itertools.count(1)
        self._managers = {}
        self.admin = None
        _REGISTRY.append(self)
        if start:
            self.start()

    # -- process ---------------------------------------------------------------------------

    def write_config(self):
        lines = ["# written by tests/api/conftest.py", "[rollcalld]"]
        lines += [f"{k} = {v}" for k, v in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, wait_ready=True):
        """Starts rollcalld and waits until it answers /readyz (or only /healthz)."""
        assert ROLLCALLD.exists(), f"{ROLLCALLD} is missing: build first"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(ROLLCALLD), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        self.admin = Api(self, "admin")
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"rollcalld exited {self.proc.returncode} while starting:\n{self.log_text()}"
                )
            try:
                # Ready, not just alive: the pool has reached PostgreSQL.
                reply = self.admin.get("/readyz" if wait_ready else "/healthz", timeout=5)
                if reply.status == 200:
                    return self
                last = reply
            except (OSError, http.client.HTTPException) as exc:
                last = exc
            time.sleep(0.05)
        raise AssertionError(f"rollcalld did not become ready: {last}\n{self.log_text()}")

    def run_once(self, *args, timeout=60):
        """Runs rollcalld with this daemon's config and args to completion (e.g. --migrate, or a
        start that must fail); returns (exit status, stdout + stderr)."""
        proc = subprocess.run(
            [str(ROLLCALLD), "--config", str(self.config_path), *map(str, args)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
        )
        output = proc.stdout + proc.stderr
        assert not SANITIZER_REPORT.search(output), f"sanitizer report:\n{output}"
        return proc.returncode, output

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM; returns the exit status. Kills (and reports) a daemon that does not exit."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                raise AssertionError(
                    f"rollcalld did not exit within {timeout} s of SIGTERM:\n{self.log_text()}"
                )
        self.log.close()
        return self.proc.returncode

    def stop_and_check(self):
        """Teardown: stops the daemon and asserts it drained cleanly."""
        if self.proc is None:
            return
        code = self.stop()
        self.proc = None
        text = self.log_text()
        report = SANITIZER_REPORT.search(text)
        assert not report, f"sanitizer report in rollcalld's log:\n{text[max(0, report.start() - 2000):]}"
        assert code == 0, f"rollcalld exited {code} after SIGTERM:\n{text[-4000:]}"

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern, timeout=10.0, since=0):
        """Waits until the log (from byte offset since) matches pattern; returns the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.log_text()[since:])
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in rollcalld's log:\n{self.log_text()}")
            time.sleep(0.05)

    # -- requests --------------------------------------------------------------------------

    def api(self, cn):
        return Api(self, cn)

    def api_with(self, cert, key, cn="?"):
        return Api(self, cn, cert, key)

    def raw(self, data, cn="admin", cert=None, key=None, timeout=10):
        """Sends raw bytes over mTLS and reads until the server closes or timeout. Returns
        (status or None, response bytes, error or None). Send errors are tolerated: a server
        refusing a large body may answer and close before reading it all."""
        if cert is None and cn is not None:
            cert, key = self.pki.client(cn)
        ctx = client_context(self.pki, cert, key)
        chunks, error = [], None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as plain:
                with ctx.wrap_socket(plain, server_hostname="localhost") as tls:
                    try:
                        view = memoryview(data)
                        for i in range(0, len(view), 65536):
                            tls.sendall(view[i : i + 65536])
                    except (OSError, ssl.SSLError) as exc:
                        error = exc
                    try:
                        while True:
                            chunk = tls.recv(65536)
                            if not chunk:
                                break
                            chunks.append(chunk)
                            if _complete_response(b"".join(chunks)):
                                break
                    except (OSError, ssl.SSLError) as exc:
                        error = error or exc
        except (OSError, ssl.SSLError) as exc:
            error = exc
        response = b"".join(chunks)
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
        return (int(m.group(1)) if m else None), response, error

    def tls_refused(self, cert=None, key=None):
        """Tries GET /healthz with cert/key (or none). Returns None when the server refused the
        connection at the TLS level, else the HTTP status it answered. With TLS 1.3 a refused
        client certificate shows on the first read, so the request is sent and read."""
        status, response, error = self.raw(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            cn=None,
            cert=cert,
            key=key,
        )
        if status is None:
            assert error is not None or response == b"", response
            return None
        return status

    # -- set-up helpers (through the API, as admin or the centre's manager) ------------------

    def unique(self, prefix):
        return f"{prefix}{next(self._counter)}"

    def set_clock(self, instant):
        """PUT /v1/clock; instant is RFC 3339 text or an aware datetime."""
        if isinstance(instant, datetime.datetime):
            instant = instant.isoformat()
        return ok(self.admin.put("/v1/clock", json={"now": instant}))

    def create_centre(self, centre_id=None, **fields):
        body = {
            "id": centre_id or self.unique("centre"),
            "name": "Test centre",
            "operator": "Test operator",
            "capacity": 76,
        }
        body.update(fields)
        return ok(self.admin.post("/v1/centres", json=body), 201)

    def create_account(self, cn, role, centres=(), authority=None, **fields):
        body = {"cn": cn, "role": role, "centres": list(centres)}
        if authority is not None:
            body["authority"] = authority
        body.update(fields)
        created = ok(self.admin.post("/v1/accounts", json=body), 201)
        self.pki.client(cn)
        return created

    def manager_of(self, centre):
        """An Api for a manager account of centre, created on first use."""
        if centre not in self._managers:
            cn = f"manager-{centre}"
            self.create_account(cn, "manager", [centre])
            self._managers[centre] = self.api(cn)
        return self._managers[centre]

    def create_resident(self, centre, **fields):
        body = {
            "case_number": self.unique(f"T{self.port}-"),
            "given_name": "Amina",
            "family_name": "Test",
            "date_of_birth": "2012-03-10",
            "centre": centre,
            "arrival_date": "2026-01-05",
            "phase": 1,
        }
        body.update(fields)
        return ok(self.manager_of(centre).post("/v1/residents", json=body), 201)

    # -- the client binary -----------------------------------------------------------------

    def client_config(self, cn, cert=None, key=None, url=None):
        """Writes a client config file for cn and returns its path."""
        if cert is None:
            cert, key = self.pki.client(cn)
        path = self.dir / f"client-{cn}.conf"
        path.write_text(
            "# rollcall client configuration written by tests/api/conftest.py\n"
            f"url = {url or f'https://localhost:{self.port}'}\n"
            f"cert = {cert}\nkey = {key}\nca = {self.pki.ca}\n"
        )
        return path

    def client_env(self, cn, **kw):
        env = dict(os.environ)
        env["ROLLCALL_CONFIG"] = str(self.client_config(cn, **kw))
        env["HOME"] = str(self.dir)  # never read the developer's ~/.config/rollcall
        env.setdefault("TZ", "Europe/Copenhagen")
        env.setdefault("LANG", "C.UTF-8")
        return env

    def client(self, cn, *args, input=None, timeout=60, env=None, **kw):
        """Runs the real rollcall binary as cn; returns (exit status, stdout, stderr)."""
        assert ROLLCALL.exists(), f"{ROLLCALL} is missing: build first"
        full_env = self.client_env(cn, **kw)
        full_env.update(env or {})
        proc = subprocess.run(
            [str(ROLLCALL), *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=self.dir,
        )
        assert not SANITIZER_REPORT.search(proc.stderr), f"sanitizer report:\n{proc.stderr}"
        return proc.returncode, proc.stdout, proc.stderr


class Environment:
    """What every daemon of the session shares."""

    def __init__(self, workdir, pki, cluster):
        self.workdir = workdir
        self.pki = pki
        self.cluster = cluster


class DaemonSet:
    """Daemons started for one scope; all are stopped and checked at its end."""

    def __init__(self, env, label):
        self.env = env
        self.label = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
        self.daemons = []

    def make(self, **kw):
        name = f"t{next(_counter):04d}_{self.label}"
        daemon = Daemon(self.env, name, **kw)
        self.daemons.append(daemon)
        return daemon

    def close(self):
        errors = []
        for daemon in self.daemons:
            try:
                daemon.stop_and_check()
            except AssertionError as exc:
                errors.append(str(exc))
            with contextlib.suppress(Exception):
                if daemon.dbname != TEMPLATE_DB:
                    self.env.cluster.drop_database(daemon.dbname)
        self.daemons.clear()
        assert not errors, "\n\n".join(errors)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def workdir():
    # Under /tmp, not pytest's 0700 tmp_path: the postgres user must reach the cluster.
    path = Path(tempfile.mkdtemp(prefix="rollcall-tests-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    if os.environ.get("ROLLCALL_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(workdir):
    return Pki(workdir / "pki")


@pytest.fixture(scope="session")
def cluster(workdir):
    c = Cluster(workdir / "pg")
    yield c
    with contextlib.suppress(Exception):
        c.stop()


def migrated_environment(workdir, pki, cluster):
    """Creates and migrates the template database every daemon's database is cloned from, and
    returns the Environment around it (the API tests' fixture and the benchmarks use this)."""
    assert ROLLCALLD.exists(), f"{ROLLCALLD} is missing: build first (or set ROLLCALL_BUILD)"
    cluster.create_database(TEMPLATE_DB)
    config = workdir / "template.ini"
    config.write_text(
        "[rollcalld]\n"
        "listen = 127.0.0.1:1\n"
        f"tls_cert = {pki.server_cert}\ntls_key = {pki.server_key}\ntls_ca = {pki.ca}\n"
        f"database = {cluster.conninfo(TEMPLATE_DB)}\n"
        "test_clock = true\nlog_level = info\n"
    )
    proc = subprocess.run(
        [str(ROLLCALLD), "--migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"rollcalld --migrate failed:\n{proc.stdout}{proc.stderr}"
    assert not SANITIZER_REPORT.search(proc.stderr), proc.stderr
    return Environment(workdir, pki, cluster)


@pytest.fixture(scope="session")
def environment(workdir, pki, cluster):
    """The migrated template database every daemon's database is cloned from."""
    return migrated_environment(workdir, pki, cluster)


@pytest.fixture(scope="module")
def rc(environment, request):
    """A daemon shared by the tests of a module, on a fresh database."""
    daemons = DaemonSet(environment, request.module.__name__.split(".")[-1])
    try:
        yield daemons.make()
    finally:
        daemons.close()


@pytest.fixture
def daemon_factory(environment, request):
    """make(config={key: value or None to drop}, database=name, start=True, migrated=True)."""
    daemons = DaemonSet(environment, request.node.name)
    try:
        yield daemons.make
    finally:
        daemons.close()


# --------------------------------------------------------------------------------------------
# Logs of the daemons a failing test used


def pytest_runtest_setup(item):
    # Daemons stopped by an earlier test's teardown are done with; the others' logs count from
    # here.
    _REGISTRY[:] = [d for d in _REGISTRY if d.proc is not None]
    for daemon in _REGISTRY:
        daemon.mark = len(daemon.log_text())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for daemon in _REGISTRY:
        text = daemon.log_text()[daemon.mark :]
        lines = text.splitlines()
        if len(lines) > 300:
            lines = [f"... ({len(lines) - 300} earlier lines)"] + lines[-300:]
        report.sections.append((f"rollcalld {daemon.name} log ({report.when})", "\n".join(lines)))
