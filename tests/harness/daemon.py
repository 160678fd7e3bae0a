"""rollcalld processes: each with its own database (cloned from the migrated template), port,
config file and log; started until /readyz answers, stopped with SIGTERM and checked (exit 0,
no sanitizer report). Every Daemon is registered so that a failing test's report can show the
logs of the daemons it used (see logs_since_mark)."""

import contextlib
import datetime
import http.client
import itertools
import os
import re
import shlex
import signal
import subprocess
import time

from . import client as clientbin
from . import leaks
from .api import Api, client_context, ok, raw_exchange
from .cluster import TEMPLATE_DB
from .common import ROLLCALLD, SANITIZER_REPORT, assert_no_sanitizer_report, free_port, require

# Generous for a sanitized build on a loaded 2-core machine.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

REGISTRY = []  # daemons whose logs a failing test report should show
_counter = itertools.count(1)


class Daemon:
    """One rollcalld process with its own database, port and config file.

    env is an Environment (workdir, pki, cluster). config={key: value, or None to drop a
    default}; database=name uses an existing database instead of creating one; migrated=False
    creates an empty database instead of cloning the template; start=False only writes the
    config."""

    def __init__(self, env, name, config=None, database=None, start=True, migrated=True,
                 rollcalld=None):
        self.env = env
        self.pki = env.pki
        self.cluster = env.cluster
        self.name = name
        self.binary = rollcalld or ROLLCALLD
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
        self.preexec_fn = None  # run in the child before exec (e.g. resource.setrlimit)
        self.mark = 0
        self._counter = itertools.count(1)
        self._managers = {}
        self.admin = None
        REGISTRY.append(self)
        if start:
            self.start()

    # -- process ---------------------------------------------------------------------------

    @property
    def url(self):
        return f"https://localhost:{self.port}"

    def write_config(self):
        lines = ["# written by the test harness (tests/harness/daemon.py)", "[rollcalld]"]
        lines += [f"{k} = {v}" for k, v in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, wait_ready=True):
        """Starts rollcalld and waits until it answers /readyz (or only /healthz)."""
        require(self.binary)
        self.log = open(self.log_path, "ab")
        # ROLLCALL_DAEMON_WRAPPER (say "valgrind --tool=massif") runs the daemon under a tool,
        # for profiling by hand; no test sets it.
        wrapper = shlex.split(os.environ.get("ROLLCALL_DAEMON_WRAPPER", ""))
        self.proc = subprocess.Popen(
            wrapper + [str(self.binary), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            preexec_fn=self.preexec_fn,
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
        require(self.binary)
        proc = subprocess.run(
            [str(self.binary), "--config", str(self.config_path), *map(str, args)],
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

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def kill(self):
        """SIGKILL (a crash) and wait; the next start() appends to the same log."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()

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
        """Teardown: stops the daemon and asserts it drained cleanly: exit status 0 and no
        sanitizer report anywhere in its log (every run of it, restarts included)."""
        if self.proc is None:
            return
        code = self.stop()
        self.proc = None
        text = self.log_text()
        assert_no_sanitizer_report(text, "rollcalld's log")
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
        return raw_exchange(self.port, client_context(self.pki, cert, key), data, timeout)

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
    # The world builder (harness.world) builds on these.

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
        return clientbin.write_config(
            self.dir / f"client-{cn}.conf", url or self.url, cert, key, self.pki.ca
        )

    def client_env(self, cn, **kw):
        return clientbin.environment(self.client_config(cn, **kw), self.dir)

    def client(self, cn, *args, input=None, timeout=60, env=None, **kw):
        """Runs the real rollcall binary as cn; returns (exit status, stdout, stderr)."""
        full_env = self.client_env(cn, **kw)
        full_env.update(env or {})
        return clientbin.run_client(args, full_env, self.dir, input=input, timeout=timeout)


class DaemonSet:
    """Daemons started for one scope (a test, a module, a benchmark); close() stops and checks
    them all and drops their databases."""

    def __init__(self, env, label):
        self.env = env
        self.label = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
        self.daemons = []

    def make(self, **kw):
        """A new Daemon (keywords as Daemon's), stopped and checked at close()."""
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
                leaks.scan_daemon(daemon)
            with contextlib.suppress(Exception):
                if daemon.dbname != TEMPLATE_DB:
                    self.env.cluster.drop_database(daemon.dbname)
        self.daemons.clear()
        assert not errors, "\n\n".join(errors)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# Logs of the daemons a failing test used (the conftest hooks call these)


def mark_logs():
    """Forgets daemons stopped since, and marks where the running ones' logs stand now."""
    REGISTRY[:] = [d for d in REGISTRY if d.proc is not None]
    for daemon in REGISTRY:
        daemon.mark = len(daemon.log_text())


def logs_since_mark(max_lines=300):
    """[(daemon name, log text since its mark)] of every registered daemon, at most max_lines
    lines each (the last ones)."""
    out = []
    for daemon in REGISTRY:
        lines = daemon.log_text()[daemon.mark :].splitlines()
        if len(lines) > max_lines:
            lines = [f"... ({len(lines) - max_lines} earlier lines)"] + lines[-max_lines:]
        out.append((daemon.name, "\n".join(lines)))
    return out
