"""The IT person's commands (issue 15, SPEC section 10 v2): `accounts`, `account add`,
`account disable`, `audit` and `export`, and the hints after a 403 (defect 5: the hint names
what was refused, not "unknown or disabled")."""

import json
import re

import pytest
from client_office_helpers import Office
from harness import ok


@pytest.fixture(scope="module")
def office(rc):
    return Office(rc, "offacc")


def account(office, cn):
    for item in office.rc.admin.pages("/v1/accounts"):
        if item["cn"] == cn:
            return item
    return None


@pytest.mark.parametrize("command, example", [
    (["accounts"], "rollcall accounts"),
    (["account", "add"], "rollcall account add tonder-anna --role staff --centre tonder"),
    (["account", "disable"], "rollcall account disable tonder-anna"),
    (["audit"], "rollcall audit --resident TON-2026-0001"),
    (["export"], "rollcall export "),
])
def test_help_has_a_demo_example(office, command, example):
    code, out, err = office.client("admin", *command, "--help")
    assert code == 0, err
    assert "Example:" in out and example in out, out


def test_account_add_with_several_centres(office):
    code, out, err = office.client("admin", "account", "add", "offacc-anna", "--role", "staff",
                                   "--centre", office.centre, "--centre", office.other)
    assert code == 0, err
    assert "Account offacc-anna created: role staff" in out
    created = account(office, "offacc-anna")
    assert created["role"] == "staff" and sorted(created["centres"]) == sorted(
        [office.centre, office.other])
    # The new account works at once.
    office.rc.pki.client("offacc-anna")
    code, _out, err = office.client("offacc-anna", "residents", "--centre", office.other)
    assert code == 0, err


def test_account_add_authority_json(office):
    code, out, err = office.client("admin", "--json", "account", "add", "offacc-police",
                                   "--role", "authority", "--authority", "police", "--centre",
                                   office.centre)
    assert code == 0, err
    body = json.loads(out)
    assert body["cn"] == "offacc-police" and body["authority"] == "police"
    assert account(office, "offacc-police")["authority"] == "police"


@pytest.mark.parametrize("args, named", [
    (["offacc-x"], "--role"),
    (["offacc-x", "--role", "boss"], "--role"),
    (["offacc-x", "--role", "authority"], "--authority"),
    (["offacc-x", "--role", "staff", "--authority", "police"], "--authority"),
    (["offacc-x", "--role", "authority", "--authority", "army"], "--authority"),
    (["", "--role", "staff"], "CN"),
])
def test_account_add_mistakes_send_nothing(office, args, named):
    before = office.audit_rows("admin")
    code, _out, err = office.client("admin", "account", "add", *args)
    office.assert_nothing_sent("admin", before, code, err)
    assert named in err, err
    assert account(office, "offacc-x") is None


def test_account_add_by_a_manager_names_the_admin_role(office):
    code, _out, err = office.client(office.manager, "account", "add", "offacc-y", "--role",
                                    "staff")
    assert code == 1, err
    assert "the manager role may not do this (it needs the admin role)" in err, err
    assert "role does not allow this" in err
    assert account(office, "offacc-y") is None


def test_accounts_lists_every_page(office):
    for n in range(3):
        office.rc.create_account(f"offacc-many{n}", "oncall", [office.centre])
    code, out, err = office.client("admin", "--json", "accounts")
    assert code == 0, err
    listed = json.loads(out)
    assert listed["next"] is None
    api = office.rc.admin.pages("/v1/accounts", limit=2)
    assert [a["cn"] for a in listed["items"]] == [a["cn"] for a in api]
    code, out, err = office.client("admin", "accounts", "--limit", "2")
    assert code == 0, err
    assert out.startswith("2 accounts (more with a larger --limit)"), out
    code, out, err = office.client("admin", "accounts")
    assert code == 0, err
    assert "offacc-many2" in out and "oncall" in out
    code, _out, err = office.client(office.manager, "accounts")
    assert code == 1 and "admin" in err, err
    code, _out, err = office.client("admin", "accounts", "--limit", "x")
    assert code == 2 and "--limit" in err, err


def test_account_disable_and_the_hint_it_gives(office):
    office.rc.create_account("offacc-leaver", "staff", [office.centre])
    code, _out, err = office.client("offacc-leaver", "residents")
    assert code == 0, err
    code, out, err = office.client("admin", "account", "disable", "offacc-leaver")
    assert code == 0, err
    assert "Account offacc-leaver disabled" in out and "DISABLED" in out
    assert account(office, "offacc-leaver")["disabled"] is True
    code, _out, err = office.client("offacc-leaver", "residents", "--centre", office.centre)
    assert code == 1, err
    assert "your account is disabled" in err, err
    code, out, err = office.client("admin", "--json", "account", "disable", "offacc-leaver")
    assert code == 0 and json.loads(out)["disabled"] is True, err


def test_account_disable_mistakes_and_refusal(office):
    office.rc.create_account("offacc-stays", "staff", [office.centre])
    before = office.audit_rows("admin")
    code, _out, err = office.client("admin", "account", "disable", "x" * 65)
    office.assert_nothing_sent("admin", before, code, err)
    assert "CN" in err
    code, _out, err = office.client(office.manager, "account", "disable", "offacc-stays")
    assert code == 1, err
    code, _out, err = office.client("admin", "account", "disable", "offacc-nobody")
    assert code == 1, err
    assert account(office, "offacc-stays")["disabled"] is False


def test_unknown_account_hint(office):
    code, _out, err = office.client("offacc-stranger", "residents", "--centre", office.centre)
    assert code == 1, err
    assert "knows no account for your certificate" in err and "account add" in err, err


def test_other_centre_hint(office):
    code, _out, err = office.client(office.staff, "residents", "--centre", office.other)
    assert code == 1, err
    assert "not one of your centres" in err, err
    assert "your account is not for that centre" in err, err


def test_audit_by_account_resident_and_time(office):
    r = office.resident()
    ok(office.rc.api(office.staff).get(f"/v1/residents/{r['id']}"), 200)
    code, out, err = office.client("admin", "--json", "audit", "--resident", r["case_number"],
                                   "--account", office.staff)
    assert code == 0, err
    rows = json.loads(out)["items"]
    assert rows and {row["cn"] for row in rows} == {office.staff}
    assert {row["resident"] for row in rows} == {r["id"]}
    # --from in the centre's local time: 10:00 CET is 09:00 UTC, the clock's instant.
    code, out, err = office.client("admin", "--json", "audit", "--account", office.staff,
                                   "--from", "2026-11-20 10:00", "--centre", office.centre)
    assert code == 0, err
    assert len(json.loads(out)["items"]) >= len(rows)
    code, out, err = office.client("admin", "--json", "audit", "--account", office.staff,
                                   "--from", "2026-11-20 10:01", "--centre", office.centre)
    assert code == 0 and json.loads(out)["items"] == [], out
    code, out, err = office.client("admin", "audit", "--account", office.staff, "--centre",
                                   office.centre)
    assert code == 0, err
    assert "2026-11-20 10:00 CET" in out and "resident_get" in out, out
    assert re.match(r"\d+ audit rows?\n", out), out


def test_audit_mistakes_and_refusal(office):
    before = office.audit_rows("admin")
    for args, named in ([["--from", "last week"], "--from"], [["--to", "2026-11-31"], "--to"],
                        [["--resident", "id:0"], "--resident"]):
        code, _out, err = office.client("admin", "audit", *args)
        office.assert_nothing_sent("admin", before, code, err)
        assert named in err, err
    code, _out, err = office.client(office.manager, "audit")
    assert code == 1 and "admin" in err, err


def test_export_writes_the_whole_record(office, tmp_path):
    r = office.resident(given_name="Export", family_name="Me")
    target = tmp_path / "record.json"
    code, out, err = office.client("admin", "export", r["case_number"])
    assert code == 0, err
    target.write_text(out)
    record = json.loads(target.read_text())
    assert json.dumps(record).count(r["case_number"]) >= 1
    code, out, err = office.client("admin", "--json", "export", f"id:{r['id']}")
    assert code == 0, err
    again = json.loads(out)
    # The same record, but for the audit trail, which now holds the first export too.
    assert len(again.pop("audit")) == len(record.pop("audit")) + 1
    assert again == record
    before = office.audit_rows("admin")
    code, _out, err = office.client("admin", "export", "id:zero")
    office.assert_nothing_sent("admin", before, code, err)
    code, _out, err = office.client(office.manager, "export", r["case_number"])
    assert code == 1 and "admin" in err, err
