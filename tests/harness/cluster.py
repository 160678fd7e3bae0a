"""PostgreSQL: a throwaway cluster (scripts/pg.sh), direct SQL on one database, and migrating a
database with `rollcalld --migrate`."""

import contextlib
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from .common import PG_SH, ROLLCALLD, assert_no_sanitizer_report, free_port, require, run

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
