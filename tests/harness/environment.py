"""What the daemons of one session share: a work directory, a PKI, a cluster and the template
database migrated once with `rollcalld --migrate`, from which every daemon's database (and
every SQL check's) is cloned."""

import contextlib
import shutil
import tempfile
from pathlib import Path

from .cluster import TEMPLATE_DB, Cluster, migrate
from .common import ROLLCALLD, keep, require
from .daemon import DaemonSet
from .pki import Pki


def make_workdir(prefix="rollcall-tests-"):
    """A new directory under /tmp (not pytest's 0700 tmp_path: the postgres user must reach the
    cluster), mode 0755."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


class Environment:
    """workdir, pki and cluster, with the template database (once migrate_template() ran).

    Environment(workdir, pki, cluster) wraps parts made elsewhere (the pytest fixtures);
    Environment.create() makes them all (benchmarks, scripts) and close() undoes it."""

    def __init__(self, workdir, pki, cluster):
        self.workdir = Path(workdir)
        self.pki = pki
        self.cluster = cluster
        self._owned = False
        self._sets = []

    @classmethod
    def create(cls, prefix="rollcall-", fast=True, migrate=True):
        """A new work directory, PKI and cluster (fast=False: durable commits), and the migrated
        template unless migrate=False. close() (or `with`) stops the cluster and removes the
        directory unless ROLLCALL_KEEP=1."""
        if migrate:
            require(ROLLCALLD)
        workdir = make_workdir(prefix)
        try:
            pki = Pki(workdir / "pki")
            cluster = Cluster(workdir / "pg", fast=fast)
        except BaseException:
            if not keep():
                shutil.rmtree(workdir, ignore_errors=True)
            raise
        env = cls(workdir, pki, cluster)
        env._owned = True
        try:
            if migrate:
                env.migrate_template()
        except BaseException:
            env.close()
            raise
        return env

    def migrate_template(self):
        """Creates the template database and migrates it with `rollcalld --migrate`."""
        self.cluster.create_database(TEMPLATE_DB)
        migrate(self.cluster, TEMPLATE_DB, self.pki, self.workdir)
        return self

    def fresh_database(self, dbname, migrated=True):
        """A new database: a clone of the migrated template, or empty (migrated=False).
        Returns its Database handle; drop it with cluster.drop_database(name)."""
        return self.cluster.create_database(dbname, TEMPLATE_DB if migrated else None)

    def migrate(self, dbname, rollcalld=None):
        """Runs `rollcalld --migrate` (this build's, or the binary given) on dbname."""
        return migrate(self.cluster, dbname, self.pki, self.workdir, rollcalld=rollcalld)

    def daemons(self, label):
        """A DaemonSet: .make(**options) starts daemons; closed (stopped, checked) by close()
        if not before."""
        ds = DaemonSet(self, label)
        self._sets.append(ds)
        return ds

    def daemon(self, label="daemon", **options):
        """A started Daemon of its own set (stopped and checked at close())."""
        return self.daemons(label).make(**options)

    def close(self):
        """Stops and checks the daemons made through daemons()/daemon(); when create() made
        this environment, also stops the cluster and removes the directory (unless
        ROLLCALL_KEEP=1). Raises the daemons' teardown failures, if any."""
        errors = []
        for ds in self._sets:
            try:
                ds.close()
            except AssertionError as exc:
                errors.append(str(exc))
        self._sets.clear()
        if self._owned:
            with contextlib.suppress(Exception):
                self.cluster.stop()
            if not keep():
                shutil.rmtree(self.workdir, ignore_errors=True)
            self._owned = False
        assert not errors, "\n\n".join(errors)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def migrated_environment(workdir, pki, cluster):
    """Creates and migrates the template database every daemon's database is cloned from, and
    returns the Environment around it."""
    require(ROLLCALLD)
    return Environment(workdir, pki, cluster).migrate_template()
