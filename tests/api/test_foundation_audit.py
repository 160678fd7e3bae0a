"""The audit log (SPEC section 7): every read or change of a resident's data is written to an
append-only log (who, what, when, from where, outcome); the application cannot rewrite it."""

import datetime

import psycopg
import pytest
from harness import error_of, ok

CLOCK = "2026-11-20T10:15:00+01:00"


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock(CLOCK)
    a = rc.create_centre()["id"]
    b = rc.create_centre()["id"]
    rc.create_account("audit-staff-a", "staff", [a])
    rc.create_account("audit-staff-b", "staff", [b])
    resident = rc.create_resident(a)
    return {"a": a, "b": b, "resident": resident["id"]}


def audit_rows(rc, where, *params):
    return rc.db.query(
        "SELECT cn, role, action, resident, request_id, remote, outcome, at "
        f"FROM audit WHERE {where} ORDER BY id",
        *params,
    )


def test_creation_is_audited(rc, world):
    rows = audit_rows(rc, "resident = %s", world["resident"])
    assert rows, "creating a resident wrote no audit row"
    cn, role, _action, _resident, request_id, remote, outcome, _at = rows[0]
    assert (cn, role, outcome) == (f"manager-{world['a']}", "manager", "ok")
    assert request_id
    assert remote and remote.startswith("127.0.0.1")


def test_a_read_is_audited_with_who_when_where_and_outcome(rc, world):
    before = rc.db.scalar("SELECT coalesce(max(id), 0) FROM audit")
    reply = rc.api("audit-staff-a").get(f"/v1/residents/{world['resident']}")
    ok(reply)
    rows = audit_rows(rc, "id > %s AND resident = %s", before, world["resident"])
    assert len(rows) == 1, rows
    cn, role, action, resident, request_id, remote, outcome, at = rows[0]
    assert (cn, role, resident, outcome) == ("audit-staff-a", "staff", world["resident"], "ok")
    assert action
    assert request_id
    assert remote.startswith("127.0.0.1")
    # "when" is the daemon's one clock, not the database's.
    assert at == datetime.datetime.fromisoformat(CLOCK)


def test_a_list_audits_every_resident_it_shows(rc, world):
    other = rc.create_resident(world["a"])
    before = rc.db.scalar("SELECT coalesce(max(id), 0) FROM audit")
    body = ok(rc.api("audit-staff-a").get(f"/v1/centres/{world['a']}/residents?on=2026-11-20"))
    shown = {r["id"] for r in body["items"]}
    assert shown == {world["resident"], other["id"]}
    audited = {r[3] for r in audit_rows(rc, "id > %s AND cn = 'audit-staff-a'", before)}
    assert audited == shown


def test_a_change_is_audited(rc, world):
    before = rc.db.scalar("SELECT coalesce(max(id), 0) FROM audit")
    manager = rc.manager_of(world["a"])
    ok(manager.patch(f"/v1/residents/{world['resident']}", json={"given_name": "Samira"}))
    rows = audit_rows(rc, "id > %s AND resident = %s", before, world["resident"])
    assert [(r[0], r[6]) for r in rows] == [(manager.cn, "ok")]


def test_a_refused_read_is_audited_as_refused(rc, world):
    before = rc.db.scalar("SELECT coalesce(max(id), 0) FROM audit")
    error_of(rc.api("audit-staff-b").get(f"/v1/residents/{world['resident']}"), 403)
    rows = audit_rows(rc, "id > %s AND cn = 'audit-staff-b'", before)
    assert len(rows) == 1, rows
    assert rows[0][3] == world["resident"]
    assert rows[0][6].startswith("refused")


def test_audit_is_readable_by_admin_only(rc, world):
    body = ok(rc.admin.get(f"/v1/audit?resident={world['resident']}"))
    assert body["items"]
    assert all(item["resident"] == world["resident"] for item in body["items"])
    assert {"audit-staff-a", "audit-staff-b"} <= {item["cn"] for item in body["items"]}
    body = ok(rc.admin.get("/v1/audit?account=audit-staff-b"))
    assert body["items"] and all(item["cn"] == "audit-staff-b" for item in body["items"])
    error_of(rc.api("audit-staff-a").get(f"/v1/audit?resident={world['resident']}"), 403)
    error_of(rc.manager_of(world["a"]).get("/v1/audit"), 403)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit", "TRUNCATE audit"],
)
def test_the_application_cannot_rewrite_the_audit_log(rc, world, statement):
    count = rc.db.count("audit")
    # The daemon's own connection string: whatever role it runs as, the log is append-only.
    with pytest.raises(psycopg.Error):
        with psycopg.connect(rc.settings["database"], autocommit=True) as conn:
            conn.execute(statement)
    assert rc.db.count("audit") == count
