"""Backup and restore as docs/operations.md says (pg_dump -Fc, then pg_restore into a database of
a fresh cluster, then `rollcalld --migrate`, a no-op on the same release): the restored database
serves the same residents, absences, notifications, statements, export and audit log, and the
daemon goes on from it (a new round and notification) as if nothing had happened."""

import subprocess

from harness import ok
from harness.cluster import Cluster, migrate
from harness.webhooks import World, notify_config
from harness.world import Clock

P0 = "2026-11-09"  # an allowance period before the test clock


def reads(rc, world, residents, absence):
    """What the admin sees of the centre, minus what reading it adds (the audit rows of the
    reads themselves)."""
    admin = rc.admin
    out = {
        "residents": [ok(admin.get(f"/v1/residents/{r}"), 200) for r in residents],
        "absence": ok(admin.get(f"/v1/absences/{absence}"), 200),
        "notifications": world.notifications(api=admin),
        "alerts": ok(admin.get(f"/v1/alerts?centre={world.centre}&state=all"), 200),
        "statements": [ok(admin.get(f"/v1/residents/{r}/statements/{P0}"), 200)
                       for r in residents],
    }
    audit = ok(admin.get("/v1/audit?limit=1000"), 200)
    out["audit"] = audit
    export = ok(admin.get(f"/v1/residents/{residents[0]}/export"), 200)
    export.pop("audit", None)  # holds the reads just made, which differ by instant
    out["export"] = export
    return out


def test_a_dump_restored_into_a_fresh_cluster_serves_the_same_data(daemon_factory, receiver,
                                                                   environment):
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver)
    residents = [world.resident()["id"] for _ in range(3)]
    world.round("2026-11-20", 3,
                {residents[0]: "absent", residents[1]: "present", residents[2]: "present"})
    absence = world.open_absence(residents[0])["id"]
    world.advance(hours=13)  # past the 12-hour rule of the under-15s: all three notified
    world.wait_notifications(lambda items: len(items) == 3 and all(i["delivered_at"]
                                                                   for i in items))
    before = reads(rc, world, residents, absence)
    assert before["notifications"] and before["audit"]
    rc.stop()

    dump = environment.workdir / "rollcall.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", rc.env.cluster.conninfo(rc.dbname), "-f", str(dump)],
                   check=True, capture_output=True, timeout=120)
    fresh = Cluster(environment.workdir / "pg-restored")
    try:
        fresh.create_database("restored")
        restore = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", fresh.conninfo("restored"),
             str(dump)], capture_output=True, text=True, timeout=120)
        assert restore.returncode == 0, restore.stderr
        output = migrate(fresh, "restored", environment.pki, environment.workdir)

        again = daemon_factory(config={**notify_config(receiver.ca),
                                       "database": fresh.conninfo("restored")},
                               database="restored-elsewhere")
        after = reads(again, world_on(again, world), residents, absence)
        n = len(before["audit"]["items"])
        # The restored log (ascending by id) holds every row of the original, then the reads
        # made of it since.
        assert len(after["audit"]["items"]) > n
        assert after["audit"]["items"][:n] == before["audit"]["items"], "audit log differs"
        for key in ("residents", "absence", "notifications", "alerts", "statements", "export"):
            assert after[key] == before[key], key

        # And it goes on: the resident returns, the authorities hear of it.
        world2 = world_on(again, world)
        world2.returned(absence)
        world2.wait_notifications(lambda items: len(items) == 6 and all(i["delivered_at"]
                                                                        for i in items))
    finally:
        fresh.stop()


def world_on(rc, world):
    """The same centre, seen through another daemon (same accounts, the same clock)."""
    other = World.__new__(World)
    other.__dict__.update(world.__dict__)
    other.rc = rc
    other._staff = rc.api(world.staff_cn)
    other._oncall = rc.api(world.oncall_cn)
    other.clock = Clock(rc, world.now)
    return other
