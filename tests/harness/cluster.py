"""PostgreSQL: a throwaway cluster (scripts/pg.sh), direct SQL on one database, and migrating a
database with `rollcalld --migrate`."""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from .common import PG_BIN, PG_SH, ROLLCALLD, assert_no_sanitizer_report, free_port, require, run

TEMPLATE_DB = "rc_template"


class Cluster:
    """A throwaway PostgreSQL cluster in directory (scripts/pg.sh), superuser postgres, trusted
    local connections over the unix socket in directory/sock. Starts at once.

    fast=True (tests) runs it without fsync; fast=False (benchmarks comparing durable writes)
    flushes commits as in production. The directory must be reachable by the postgres user when
    running as root: use one under /tmp."""

    def __init__(self, directory, port=None, fast=True, start=True):
        self.dir = Path(directory)
        self.port = port or free_port()
        self.fast = fast
        if start:
            self.start()

    def start(self):
        run([PG_SH, "start", self.dir, self.port, *(["--fast"] if self.fast else [])])

    def stop(self):
        run([PG_SH, "stop", self.dir])

    def running(self):
        return subprocess.run([str(PG_SH), "status", str(self.dir)],
                              capture_output=True).returncode == 0

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
        """A Database handle (the database is not created)."""
        return Database(self, dbname)

    def create_database(self, dbname, template=None):
        """CREATE DATABASE dbname [TEMPLATE template]; returns its Database handle."""
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
        return Database(self, dbname)

    def drop_database(self, dbname):
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(dbname)
                )
            )

    def databases(self):
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            return sorted(r[0] for r in rows)

    def psql(self, dbname, *args, input=None, timeout=300):
        """Runs psql -X on dbname with args (e.g. "-v", "ON_ERROR_STOP=1", "-f", path);
        returns the CompletedProcess (text, stdout and stderr captured)."""
        return subprocess.run(
            ["psql", "-X", self.conninfo(dbname), *map(str, args)],
            input=input, capture_output=True, text=True, timeout=timeout,
        )


    # -- fault injection (tests/faults) -------------------------------------------------

    def postmaster_pid(self):
        """The postmaster's pid (first line of data/postmaster.pid), or None when not running."""
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def backend_pids(self):
        """Pids of the postmaster's children (backends, walsender, checkpointer ...)."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in text.split()]

    def pg_ctl(self, *args, timeout=120):
        return _as_owner([_pg_bin("pg_ctl"), "-D", self.dir / "data", *args], self.dir, timeout)

    def stop_mode(self, mode="fast"):
        """pg_ctl stop -m mode (fast, immediate or smart) and wait."""
        self.pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def kill9(self):
        """SIGKILL to the postmaster alone (a crash of the server); its children exit by
        themselves when they notice (they are waited for, and killed after 10 s, so that nothing of
        the dead server lingers); returns the pids that were running."""
        pid = self.postmaster_pid()
        assert pid is not None, f"no postmaster running in {self.dir}"
        children = self.backend_pids()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        for child in [pid, *children]:
            while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if Path(f"/proc/{child}").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        return [pid, *children]

    def signal_all(self, sig):
        """Sends sig (e.g. SIGSTOP, SIGCONT) to the postmaster and every child of it."""
        for pid in [self.postmaster_pid(), *self.backend_pids()]:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def tcp_conninfo(self, dbname="postgres"):
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"


class Database:
    """Direct SQL on one database, for assertions the API cannot make. Each call opens its own
    autocommit connection, so nothing lingers to block the daemon or DROP DATABASE."""

    def __init__(self, cluster, dbname):
        self.cluster = cluster
        self.name = dbname
        self.conninfo = cluster.conninfo(dbname)

    def connect(self, **kw):
        """A psycopg connection (autocommit unless told otherwise); close it yourself."""
        kw.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo, **kw)

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

    def psql(self, *args, **kw):
        """psql on this database: see Cluster.psql."""
        return self.cluster.psql(self.name, *args, **kw)


def migrate(cluster, dbname, pki, config_dir, rollcalld=None, timeout=300):
    """Runs `rollcalld --migrate` against dbname (which must exist) with a config written to
    config_dir/migrate-<dbname>.ini; returns its output. Fails with the output when the
    migration fails or a sanitizer reports. rollcalld defaults to the build's (another binary,
    e.g. an older release, may be given for upgrade tests)."""
    rollcalld = Path(rollcalld or ROLLCALLD)
    require(rollcalld)
    config = Path(config_dir) / f"migrate-{dbname}.ini"
    config.write_text(
        "[rollcalld]\n"
        "listen = 127.0.0.1:1\n"
        f"tls_cert = {pki.server_cert}\ntls_key = {pki.server_key}\ntls_ca = {pki.ca}\n"
        f"database = {cluster.conninfo(dbname)}\n"
        "test_clock = true\nlog_level = info\n"
    )
    proc = subprocess.run(
        [str(rollcalld), "--migrate", "--config", str(config)],
        capture_output=True, text=True, timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{rollcalld} --migrate failed:\n{output}"
    assert_no_sanitizer_report(output, f"{rollcalld} --migrate")
    return output


# --------------------------------------------------------------------------------------------
# Replication (tests/faults/test_failover.py): a streaming standby made with pg_basebackup -R.


def _as_owner(args, cwd, timeout=120):
    """Runs a PostgreSQL program as the cluster's owner (postgres when we are root, as pg.sh
    does); returns its stdout, raises with its output when it fails."""
    args = [str(a) for a in args]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return run(args, timeout=timeout, cwd=str(cwd))


def _pg_bin(program):
    return PG_BIN / program


def configure_synchronous_primary(primary, standby_name="standby1"):
    """Makes primary wait for standby_name on every commit (synchronous_commit = on, whatever
    the fast test settings say); applied with a reload."""
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_commit = on")
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{standby_name}'")
        conn.execute("SELECT pg_reload_conf()")


def make_standby(primary, directory, standby_name="standby1"):
    """A streaming standby of primary in directory (pg_basebackup -R over TCP), started on a
    port of its own and named standby_name (primary_conninfo's application_name). Its copy of
    the primary's settings is corrected: its own socket directory, and no synchronous standby
    of its own, so that once promoted it does not wait for a standby that does not exist.
    Returns its Cluster."""
    directory = Path(directory)
    (directory / "sock").mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        run(["chown", "-R", "postgres:", directory])
    data = directory / "data"
    _as_owner([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", primary.port, "-U",
               "postgres", "-D", data, "-R", "-X", "stream", "-c", "fast"], directory,
              timeout=300)
    conf = data / "postgresql.conf"
    lines = [ln for ln in conf.read_text().splitlines()
             if not ln.startswith(("unix_socket_directories", "port ="))]
    lines.append(f"unix_socket_directories = '{directory / 'sock'}'")
    conf.write_text("\n".join(lines) + "\n")
    with open(data / "postgresql.auto.conf", "a") as auto:
        auto.write("synchronous_standby_names = ''\n")
        auto.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                   f"application_name={standby_name}'\n")
    standby = Cluster(directory, start=True)
    return standby


def wait_synchronous(primary, standby_name="standby1", timeout=30):
    """Waits until primary reports standby_name as its synchronous standby (streaming)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s"
                " AND state = 'streaming'", (standby_name,)).fetchall()
        if rows and rows[0][0] == "sync":
            return
        assert time.monotonic() < deadline, f"{standby_name} is not a synchronous standby"
        time.sleep(0.1)


def promote(standby):
    """pg_ctl promote -w: the standby becomes a primary (waits until it accepts writes)."""
    standby.pg_ctl("-w", "-t", "60", "promote")
