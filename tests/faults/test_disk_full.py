"""Fault case 6 (issue 12): PostgreSQL's data directory on a small filesystem (a tmpfs the test
mounts) that fills up under a write load."""

import contextlib
import shutil
import subprocess
import time

import pytest

import harness
from harness import TEMPLATE_DB, Environment, at, ok
from harness.cluster import Cluster
from harness.faults import ObservationLoad, report
from harness.world import Centre

DAY = "2026-11-20"
SIZE_MB = 256
RECOVERY = 5.0


def mount_tmpfs(path, size_mb):
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"case 6 needs a small filesystem: mount -t tmpfs failed (run as root): "
                    f"{proc.stderr.strip()}")


def fill(directory, chunk_mb=1):
    """Writes filler files into directory until the filesystem is full; returns MiB written."""
    written = 0
    block = b"\0" * (chunk_mb << 20)
    with open(directory / "filler", "wb") as out:
        try:
            while True:
                out.write(block)
                out.flush()
                written += chunk_mb
        except OSError:
            pass
    return written


@pytest.fixture
def small_cluster(workdir, pki):
    """A cluster whose data directory is on a SIZE_MB tmpfs (pg_wal moved off it, so that the
    tables' files fill up, not the WAL, which PostgreSQL cannot run without), migrated."""
    base = harness.make_workdir("rollcall-diskfull-")
    mount = base / "pg"
    mount_tmpfs(mount, SIZE_MB)
    cluster = None
    try:
        cluster = Cluster(mount)
        cluster.stop()
        wal = base / "wal"
        shutil.move(str(mount / "data" / "pg_wal"), str(wal))
        (mount / "data" / "pg_wal").symlink_to(wal)
        subprocess.run(["chown", "-R", "postgres:", str(wal)], check=True)
        cluster.start()
        env = Environment(base, pki, cluster).migrate_template()
        cluster.create_database("diskfull", TEMPLATE_DB)
        yield env, cluster, mount
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop_mode("immediate")
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        if not harness.keep():
            shutil.rmtree(base, ignore_errors=True)


def test_a_full_data_directory_gives_503_for_writes_and_nothing_is_lost(small_cluster):
    """Injects: the filesystem of PostgreSQL's data directory (a 256 MiB tmpfs) filled up with
    a filler file while 4 threads post observations with Idempotency-Keys, for 3 s; then the
    file is removed. Must hold: while full, every attempt is a 2xx (a page with room left) or
    503 with the error JSON (disk_full is an outage, not a 500), none hangs past
    request_timeout; reads (GET /v1/centres/{id}, /healthz) keep answering 200; within 5 s of
    the space returning writes succeed again; every acknowledged observation is stored once."""
    env, cluster, mount = small_cluster
    with env.daemons("diskfull") as daemons:
        rc = daemons.make(database="diskfull", config={"request_timeout": "5",
                                                       "log_level": "info"})
        rc.set_clock(at(DAY, "23:30"))
        centre = Centre(rc, staff=True)
        residents = centre.residents(16)
        load = ObservationLoad(centre.staff, centre.id, DAY, residents, threads=4,
                               prefix="full", timeout=20).start()
        reads = failed_reads = 0
        try:
            load.wait_acked(20)
            filled_mb = fill(mount)
            full_at = time.monotonic()
            while time.monotonic() - full_at < 3:
                reads += 1
                if centre.staff.get(f"/v1/centres/{centre.id}").status != 200:
                    failed_reads += 1
                ok(rc.admin.get("/healthz"))
                time.sleep(0.1)
            refused_while_full = sum(1 for a in load.attempts
                                     if a.started >= full_at and a.status == 503)
            (mount / "filler").unlink()
            back_at = time.monotonic()
            recovery = load.recovery_after(back_at, timeout=RECOVERY + 5)
            load.wait_acked(20, timeout=60)
        finally:
            load.stop()
        acked, stored, duplicates = load.check_exactly_once(rc.db)
        answered_503, slowest = load.check_outage_answers(6.0)
        report("disk_full", filled_mib=filled_mb, acked=acked, stored=stored,
               duplicates=duplicates, attempts=len(load.attempts),
               refused_while_full=refused_while_full, answered_503=answered_503,
               reads=reads, failed_reads=failed_reads, slowest_s=f"{slowest:.2f}",
               recovery_s=f"{recovery:.2f}")
        assert refused_while_full > 0, "the full disk refused no write: the case proved nothing"
        assert failed_reads == 0, f"{failed_reads} of {reads} reads failed while full"
        assert recovery < RECOVERY, f"writes back {recovery:.2f} s after the space returned"
