"""`rollcall sanction`, `agreement`, `rates` and `rates add` (issue 15, SPEC section 10 v2):
the real client against the real daemon; the state afterwards read through the API."""

import pytest
from client_office_helpers import Office


@pytest.fixture(scope="module")
def office(rc):
    return Office(rc, "offall")


@pytest.mark.parametrize("command, example", [
    (["sanction"], "rollcall sanction TON-2026-0001"),
    (["agreement"], "rollcall agreement TON-2026-0001"),
    (["rates"], "rollcall rates --on"),
    (["rates", "add"], "rollcall rates add --kind base"),
])
def test_help_has_a_demo_example(office, command, example):
    code, out, err = office.client(office.manager, *command, "--help")
    assert code == 0, err
    assert "Example:" in out and example in out, out


def sanction_args(**changes):
    args = {"--from": "2026-11-16", "--to": "2026-11-19", "--percent": "50",
            "--reason": "damage to the kitchen", "--heard-at": "2026-11-19 14:00"}
    args.update(changes)
    return [x for k, v in args.items() if v is not None for x in (k, v)]


def test_sanction_is_decided_with_heard_at_in_local_time(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "sanction", r["case_number"],
                                   *sanction_args())
    assert code == 0, err
    assert "50 % of the supplement" in out and "2026-11-19 14:00 CET" in out, out
    sanctions = office.get(f"/v1/residents/{r['id']}/sanctions")["items"]
    assert len(sanctions) == 1
    s = sanctions[0]
    assert (s["from"], s["to"], s["percent"]) == ("2026-11-16", "2026-11-19", 50)
    assert s["heard_at"].startswith("2026-11-19T13:00:00"), s  # 14:00 CET is 13:00 UTC
    assert s["decided_by"] == office.manager


def test_sanction_json(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "--json", "sanction", f"id:{r['id']}",
                                   *sanction_args(**{"--heard-at": "2026-11-19T14:00:00+01:00"}))
    assert code == 0, err
    body = office.json_of(out)
    assert body["id"] > 0 and body["percent"] == 50


@pytest.mark.parametrize("change, named", [
    ({"--percent": "0"}, "--percent"),
    ({"--percent": "101"}, "--percent"),
    ({"--from": "2026-11-31"}, "--from"),
    ({"--to": None}, "--to"),
    ({"--reason": None}, "--reason"),
    ({"--heard-at": None}, "--heard-at"),
    ({"--heard-at": "19/11 14:00"}, "--heard-at"),
])
def test_sanction_mistakes_send_nothing(office, change, named):
    r = office.resident()
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "sanction", r["case_number"],
                                    *sanction_args(**change))
    office.assert_nothing_sent(office.manager, before, code, err)
    assert named in err, err
    assert office.get(f"/v1/residents/{r['id']}/sanctions")["items"] == []


def test_sanction_by_staff_is_refused(office):
    r = office.resident()
    code, _out, err = office.client(office.staff, "sanction", r["case_number"],
                                    *sanction_args())
    assert code == 1, err
    assert "staff role may not do this" in err and "manager" in err, err
    assert office.get(f"/v1/residents/{r['id']}/sanctions")["items"] == []


def test_agreement_is_filed(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "agreement", r["case_number"], "--proxy",
                                   "Karin Jensen", "--from", "2026-11-01", "--to", "2026-11-30")
    assert code == 0, err
    assert "Karin Jensen may collect" in out
    items = office.get(f"/v1/residents/{r['id']}/agreements")["items"]
    assert [(a["proxy_name"], a["from"], a["to"]) for a in items] == [
        ("Karin Jensen", "2026-11-01", "2026-11-30")]
    code, out, err = office.client(office.manager, "--json", "agreement", r["case_number"],
                                   "--proxy", "Ole Hansen", "--from", "2026-12-01")
    assert code == 0, err
    body = office.json_of(out)
    assert body["proxy_name"] == "Ole Hansen" and body["to"] is None


def test_agreement_mistakes_and_refusal(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    for args, named in ([["--from", "2026-11-01"], "--proxy"],
                        [["--proxy", "K"], "--from"],
                        [["--proxy", "K", "--from", "2026-11-01", "--to", "never"], "--to"]):
        code, _out, err = office.client(office.manager, "agreement", r["case_number"], *args)
        office.assert_nothing_sent(office.manager, before, code, err)
        assert named in err, err
    code, _out, err = office.client(office.staff, "agreement", r["case_number"], "--proxy",
                                    "K", "--from", "2026-11-01")
    assert code == 1, err
    assert office.get(f"/v1/residents/{r['id']}/agreements")["items"] == []


def test_rates_list_every_page(office):
    code, out, err = office.client(office.manager, "--json", "rates")
    assert code == 0, err
    listed = office.json_of(out)
    assert listed["next"] is None
    assert {r["kind"] for r in listed["items"]} >= {"base", "supplement_phase1",
                                                     "supplement_phase2"}
    # Enough rates for several pages of 1000 would be slow; a page of 2 shows the paging.
    code, out, err = office.client(office.manager, "--json", "rates", "--limit", "2")
    assert code == 0, err
    assert len(office.json_of(out)["items"]) == 2
    code, out, err = office.client(office.manager, "rates", "--kind", "base", "--on",
                                   "2026-11-20")
    assert code == 0, err
    assert "58,41" in out and "supplement" not in out, out


def test_rates_add(office):
    code, out, err = office.client(office.manager, "rates", "add", "--kind", "base",
                                   "--per-day-ore", "5925", "--from", "2030-01-01")
    assert code == 0, err
    assert "59,25 kr. per day from 2030-01-01" in out, out
    rates = office.rc.admin.pages("/v1/rates", kind="base", on="2030-01-02")
    assert [r["per_day_ore"] for r in rates] == [5925]
    code, out, err = office.client(office.manager, "--json", "rates", "add", "--kind",
                                   "supplement_phase1", "--per-day-ore", "1000", "--from",
                                   "2030-01-01")
    assert code == 0, err
    assert office.json_of(out)["per_day_ore"] == 1000
    # A period that overlaps is the server's refusal: exit 1, the field named.
    code, _out, err = office.client(office.manager, "rates", "add", "--kind",
                                    "supplement_phase1", "--per-day-ore", "1100", "--from",
                                    "2030-06-01", "--to", "2030-12-31")
    assert code == 1 and "valid_from" in err and "rate_overlap" in err, err


def test_rates_mistakes_and_refusal(office):
    before = office.audit_rows(office.manager)
    for args, named in ([["--kind", "bonus", "--per-day-ore", "1", "--from", "2031-01-01"],
                         "--kind"],
                        [["--kind", "base", "--per-day-ore", "58,41", "--from", "2031-01-01"],
                         "--per-day-ore"],
                        [["--kind", "base", "--per-day-ore", "5841"], "--from"]):
        code, _out, err = office.client(office.manager, "rates", "add", *args)
        office.assert_nothing_sent(office.manager, before, code, err)
        assert named in err, err
    code, _out, err = office.client(office.manager, "rates", "--limit", "0")
    office.assert_nothing_sent(office.manager, before, code, err)
    code, _out, err = office.client(office.staff, "rates", "add", "--kind", "base",
                                    "--per-day-ore", "1", "--from", "2031-01-01")
    assert code == 1 and "manager" in err, err
    code, _out, err = office.client(office.staff, "rates")
    assert code == 1, err
    assert office.rc.admin.pages("/v1/rates", on="2031-01-02", kind="base")[0][
        "per_day_ore"] == 5925
