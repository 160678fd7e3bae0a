"""Sanctions (SPEC sections 6, 9 and 10): a percentage of the supplement withdrawn for a date
range, each day rounded half up to whole øre, never the base allowance; overlapping sanctions
combined and capped at 100 %; the decision needs heard_at and sends an IN12 report to the
Immigration Service only, through the outbox, signed like every webhook."""

import json

import pytest
from allowance_helpers import BASE_ORE, PHASE1_ORE, PHASE2_ORE, Centre, local, period
from harness import error_of
from harness.webhooks import AUTHORITIES, new_secret, notify_config, verify

P0 = period(0)


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock(local("2026-01-20", "10:00"))
    return Centre(rc, prefix="sanction")


@pytest.fixture(autouse=True)
def clock(rc):
    rc.set_clock(local("2026-01-20", "10:00"))


def sanction_body(**fields):
    body = {
        "from": "2026-01-06",
        "to": "2026-01-09",
        "percent": 50,
        "reason": "repeated damage to the kitchen",
        "heard_at": local("2026-01-19", "14:00"),
    }
    body.update(fields)
    return body


def test_section9_half_of_phase1_on_4_days_withdraws_19_52(centre):
    r = centre.resident(phase=1)
    created = centre.sanction(r["id"], **sanction_body())
    assert created["percent"] == 50 and created["from"] == "2026-01-06"
    assert created["to"] == "2026-01-09" and created["id"]
    st = centre.statement(r["id"], P0)
    assert st["withdrawn_ore"] == 1952  # 4 x 4,88 kr.
    assert st["withdrawals"] == [{
        "kind": "supplement_phase1", "per_day_ore": PHASE1_ORE, "percent": 50, "days": 4,
        "per_day_withdrawn_ore": 488, "amount_ore": 1952,
    }]
    assert st["total_ore"] == 14 * BASE_ORE + 14 * PHASE1_ORE - 1952


def test_rounding_half_up_at_exactly_half_an_ore(centre):
    # 10 % of 9,75 kr. is 97.5 øre: 98 withdrawn per day.
    r = centre.resident(phase=1)
    centre.sanction(r["id"], **sanction_body(percent=10, **{"from": "2026-01-05",
                                                          "to": "2026-01-05"}))
    st = centre.statement(r["id"], P0)
    assert st["withdrawals"][0]["per_day_withdrawn_ore"] == 98
    assert st["withdrawn_ore"] == 98
    # 33 % of 34,08 kr. is 1124.64 øre: 1125 (not .5, rounded to nearest).
    r2 = centre.resident(phase=2)
    centre.sanction(r2["id"], **sanction_body(percent=33))
    assert centre.statement(r2["id"], P0)["withdrawn_ore"] == 4 * 1125


def test_sanction_never_touches_base(centre):
    r = centre.resident(phase=2)
    centre.sanction(r["id"], **sanction_body(percent=100, **{"from": "2026-01-01",
                                                           "to": "2026-01-31"}))
    st = centre.statement(r["id"], P0)
    assert st["withdrawn_ore"] == 14 * PHASE2_ORE
    assert st["total_ore"] == 14 * BASE_ORE
    assert all(w["kind"] != "base" for w in st["withdrawals"])


def test_overlapping_sanctions_combine_capped_at_100(centre):
    r = centre.resident(phase=2)
    centre.sanction(r["id"], **sanction_body(percent=60, **{"from": "2026-01-05",
                                                          "to": "2026-01-10"}))
    centre.sanction(r["id"], **sanction_body(percent=70, **{"from": "2026-01-08",
                                                          "to": "2026-01-12"}))
    st = centre.statement(r["id"], P0)
    by_percent = {w["percent"]: w["days"] for w in st["withdrawals"]}
    assert by_percent == {60: 3, 100: 3, 70: 2}
    expected = 3 * ((PHASE2_ORE * 60 + 50) // 100) + 3 * PHASE2_ORE \
        + 2 * ((PHASE2_ORE * 70 + 50) // 100)
    assert st["withdrawn_ore"] == expected


def test_sanction_outside_the_days_paid_withdraws_nothing(centre):
    r = centre.resident(phase=1, departure_date="2026-01-07")
    centre.sanction(r["id"], **sanction_body(**{"from": "2026-01-08", "to": "2026-01-10"}))
    st = centre.statement(r["id"], P0)
    assert st["withdrawn_ore"] == 0 and st["payable_days"] == 2


@pytest.mark.parametrize("fields,field", [
    ({"heard_at": None}, "heard_at"),
    ({"percent": 0}, "percent"),
    ({"percent": 101}, "percent"),
    ({"percent": "50"}, "percent"),
    ({"to": "2026-01-05"}, "to"),
    ({"reason": ""}, "reason"),
    ({"from": "2026-02-30"}, "from"),
])
def test_bad_sanctions_are_refused_naming_the_field(rc, centre, fields, field):
    r = centre.resident()
    body = sanction_body(**fields)
    for key, value in fields.items():
        if value is None:
            del body[key]
    before = rc.db.count("sanctions")
    outbox = rc.db.count("outbox")
    err = error_of(centre.manager.post(f"/v1/residents/{r['id']}/sanctions", json=body), 400)
    assert err["field"] == field
    assert rc.db.count("sanctions") == before and rc.db.count("outbox") == outbox


def test_heard_at_in_the_future_is_refused(rc, centre):
    r = centre.resident()
    err = error_of(centre.manager.post(f"/v1/residents/{r['id']}/sanctions",
                                       json=sanction_body(heard_at=local("2026-01-21"))), 400)
    assert err["field"] == "heard_at"


def test_sanction_queues_in12_for_immigration_only_in_the_same_transaction(rc, centre):
    r = centre.resident()
    created = centre.sanction(r["id"], **sanction_body())
    rows = rc.db.query(
        "SELECT o.type, o.payload, array_agg(d.authority ORDER BY d.authority)"
        " FROM sanctions s JOIN outbox o ON o.id = s.in12_outbox"
        " JOIN deliveries d ON d.outbox = o.id WHERE s.id = %s GROUP BY o.type, o.payload",
        created["id"])
    assert len(rows) == 1
    kind, payload, authorities = rows[0]
    assert kind == "sanction.in12" and authorities == ["immigration"]
    assert payload["resident"]["case_number"] == r["case_number"]
    assert payload["percent"] == 50 and payload["heard_at"]
    assert payload["decided_by"] == f"manager-{centre.id}"
    assert [d["authority"] for d in created["in12"]] == ["immigration"]
    assert rc.db.count("audit", "resident = %s AND action = 'sanction_create'", r["id"]) == 1


def test_other_centres_manager_and_staff_are_refused(rc, centre):
    r = centre.resident()
    other = Centre(rc, prefix="elsewhere")
    error_of(other.manager.post(f"/v1/residents/{r['id']}/sanctions", json=sanction_body()),
             403)
    cn = rc.unique("staff-sanction-")
    rc.create_account(cn, "staff", [centre.id])
    error_of(rc.api(cn).post(f"/v1/residents/{r['id']}/sanctions", json=sanction_body()), 403)


def test_in12_webhook_reaches_immigration_only_signed(daemon_factory, receiver):
    rc = daemon_factory(config=notify_config(receiver.ca))
    rc.set_clock(local("2026-01-20", "10:00"))
    secrets = {k: new_secret() for k in AUTHORITIES}
    centre_id = rc.unique("in12-")
    rc.create_centre(centre_id, name="Børnecenter Tønder", authorities=[
        {"kind": k, "url": receiver.url(k), "secret": secrets[k]} for k in AUTHORITIES])
    centre = Centre.__new__(Centre)
    centre.rc, centre.id, centre.manager = rc, centre_id, rc.manager_of(centre_id)
    r = centre.resident()
    centre.sanction(r["id"], **sanction_body())
    receiver.wait_delivered(1, authority="immigration")
    [req] = receiver.delivered("immigration")
    body = json.loads(req.body)
    assert req.headers["content-type"].startswith("application/json")
    assert verify(secrets["immigration"], req.headers, req.body)
    assert body["type"] == "sanction.in12"
    assert body["event_id"] == req.headers["webhook-id"]
    assert body["centre"]["id"] == centre_id
    assert body["resident"]["case_number"] == r["case_number"]
    assert body["resident"]["date_of_birth"] == "2012-03-10"
    assert (body["from"], body["to"], body["percent"]) == ("2026-01-06", "2026-01-09", 50)
    assert body["reason"] == "repeated damage to the kitchen"
    assert body["heard_at"] and body["decided_by"] == f"manager-{centre_id}"
    # Nobody else hears of it: no delivery row exists for them either.
    assert rc.db.count("deliveries", "type = 'sanction.in12' AND authority <> 'immigration'") == 0
    assert receiver.requests("municipality") == [] and receiver.requests("police") == []
