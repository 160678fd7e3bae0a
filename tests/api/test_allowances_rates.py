"""Rates (SPEC sections 6 and 10): a table with validity dates, seeded with the contract's
figures; a new open-ended rate supersedes the current one from its first day, any other overlap
of one kind is refused; a rate change mid-period is applied day by day. Rates are global, so
this module has its own daemon and database (the `rc` fixture)."""

import pytest
from allowance_helpers import BASE_ORE, PHASE1_ORE, PHASE2_ORE, Centre, lines_by_kind, local, period
from harness import error_of, ok

P2 = period(2)  # 2026-02-02 .. 2026-02-15


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock(local("2026-02-20", "10:00"))
    return Centre(rc, prefix="rates")


def rates(centre, query=""):
    return ok(centre.manager.get(f"/v1/rates{query}"), 200)["items"]


def test_seeded_with_the_contract_figures(centre):
    seeded = {r["kind"]: r["per_day_ore"] for r in rates(centre, "?on=2026-01-05")}
    assert seeded == {"base": BASE_ORE, "supplement_phase1": PHASE1_ORE,
                      "supplement_phase2": PHASE2_ORE}


def test_rate_change_mid_period_applies_day_by_day(rc, centre):
    r = centre.resident(phase=2, arrival_date=period(0))
    created = ok(centre.manager.post("/v1/rates", json={
        "kind": "base", "per_day_ore": 6000, "valid_from": "2026-02-09", "valid_to": None}), 201)
    assert created["per_day_ore"] == 6000 and created["valid_from"] == "2026-02-09"
    assert created["superseded"]["valid_to"] == "2026-02-08"
    st = centre.statement(r["id"], P2)
    assert lines_by_kind(st)["base"] == [(BASE_ORE, 7, 7 * BASE_ORE), (6000, 7, 42000)]
    assert st["total_ore"] == 7 * BASE_ORE + 7 * 6000 + 14 * PHASE2_ORE
    in_force = {x["kind"]: x["per_day_ore"] for x in rates(centre, "?on=2026-02-09")}
    assert in_force["base"] == 6000
    assert [x["per_day_ore"] for x in rates(centre, "?kind=base&on=2026-02-08")] == [BASE_ORE]


def test_overlapping_validity_is_refused(rc, centre):
    before = rc.db.snapshot("rates")
    # A bounded range inside the rate in force.
    err = error_of(centre.manager.post("/v1/rates", json={
        "kind": "supplement_phase1", "per_day_ore": 1000, "valid_from": "2026-03-01",
        "valid_to": "2026-03-31"}), 409)
    assert err["code"] == "rate_overlap" and err["field"] == "valid_from"
    # Starting on the same day as the rate in force.
    error_of(centre.manager.post("/v1/rates", json={
        "kind": "supplement_phase1", "per_day_ore": 1000, "valid_from": "2000-01-01"}), 409)
    assert rc.db.snapshot("rates") == before


def test_bad_rates_are_refused_naming_the_field(centre):
    cases = [
        ({"kind": "pocket_money", "per_day_ore": 1, "valid_from": "2026-05-01"}, "kind"),
        ({"kind": "base", "per_day_ore": -1, "valid_from": "2026-05-01"}, "per_day_ore"),
        ({"kind": "base", "per_day_ore": 12.5, "valid_from": "2026-05-01"}, "per_day_ore"),
        ({"kind": "base", "per_day_ore": 1, "valid_from": "2026-05-01",
          "valid_to": "2026-04-01"}, "valid_to"),
        ({"kind": "base", "per_day_ore": 1}, "valid_from"),
    ]
    for body, field in cases:
        err = error_of(centre.manager.post("/v1/rates", json=body), 400)
        assert err["field"] == field, (body, err)


def test_only_managers_and_admins(rc, centre):
    cn = rc.unique("staff-rates-")
    rc.create_account(cn, "staff", [centre.id])
    error_of(rc.api(cn).get("/v1/rates"), 403)
    ok(rc.admin.get("/v1/rates"), 200)
