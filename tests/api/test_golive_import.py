"""The go-live import (SPEC sections 1 and 10, v2; docs/decisions.md): POST
/v1/centres/{id}/residents/import creates many residents with their accounted_for_at in one
transaction, all or nothing, the first refusal naming its row and field; each row audited as a
resident creation; a replay with the same Idempotency-Key creates nothing twice."""

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "06:30"))
    return Centre(rc, prefix="import")


def rows(rc, n, **extra):
    counted = local(DAY, "06:15").isoformat()
    out = []
    for i in range(n):
        row = {"case_number": rc.unique("IMP-"), "given_name": f"Amina{i}",
               "family_name": "Test", "date_of_birth": "2011-05-0%d" % (1 + i % 9),
               "arrival_date": "2026-04-18", "phase": 2, "accounted_for_at": counted}
        row.update(extra)
        out.append(row)
    return out


def path(centre):
    return f"/v1/centres/{centre.id}/residents/import"


def test_an_import_creates_every_row_with_its_count(rc, centre):
    body = {"residents": rows(rc, 25)}
    audit_before = rc.db.count("audit", "action = 'resident_create'")
    got = ok(centre.manager.post(path(centre), json=body,
                                 headers={"Idempotency-Key": "golive-1"}), 201)
    assert got["count"] == 25 and len(got["residents"]) == 25
    assert [r["case_number"] for r in got["residents"]] == \
        [r["case_number"] for r in body["residents"]]
    assert all(r["centre"] == centre.id and r["phase"] == 2 for r in got["residents"])
    assert all(instant(r["accounted_for_at"]) == local(DAY, "06:15") for r in got["residents"])
    assert rc.db.count("audit", "action = 'resident_create'") == audit_before + 25
    # A replay creates nothing more and answers the same.
    again = ok(centre.manager.post(path(centre), json=body,
                                   headers={"Idempotency-Key": "golive-1"}), 201)
    assert again == got
    listed = ok(centre.staff.get(f"/v1/centres/{centre.id}/residents?limit=100"), 200)
    assert len(listed["items"]) == 25


@pytest.mark.parametrize("bad, status, field", [
    ({"date_of_birth": "2011-02-30"}, 400, "residents[3].date_of_birth"),
    ({"given_name": ""}, 400, "residents[3].given_name"),
    ({"accounted_for_at": "2026-11-20T07:00:00+01:00"}, 400, "residents[3].accounted_for_at"),
    ({"centre": "elsewhere"}, 400, "residents[3].centre"),
    ({"departure_date": "2026-01-01"}, 400, "residents[3].departure_date"),
])
def test_the_first_bad_row_is_named_and_nothing_is_created(rc, centre, bad, status, field):
    body = {"residents": rows(rc, 6)}
    body["residents"][3].update(bad)
    err = error_of(centre.manager.post(path(centre), json=body), status)
    assert err["field"] == field, err
    assert rc.db.count("residents", "case_number = ANY(%s)",
                       [r["case_number"] for r in body["residents"]]) == 0


def test_a_case_number_twice_or_already_known_is_refused_naming_the_row(rc, centre):
    body = {"residents": rows(rc, 4)}
    body["residents"][2]["case_number"] = body["residents"][0]["case_number"]
    err = error_of(centre.manager.post(path(centre), json=body), 409)
    assert err["field"] == "residents[2].case_number"
    assert body["residents"][0]["case_number"] in err["message"]
    existing = centre.resident()
    case = ok(centre.manager.get(f"/v1/residents/{existing}"), 200)["case_number"]
    body = {"residents": rows(rc, 2)}
    body["residents"][1]["case_number"] = case
    err = error_of(centre.manager.post(path(centre), json=body), 409)
    assert err["field"] == "residents[1].case_number"
    assert rc.db.count("residents", "case_number = %s", body["residents"][0]["case_number"]) == 0


def test_only_managers_of_the_centre_import(rc, centre):
    body = {"residents": rows(rc, 1)}
    assert centre.staff.post(path(centre), json=body).status == 403
    other = Centre(rc, prefix="import-other")
    assert other.manager.post(path(centre), json=body).status == 403


def test_an_import_holds_at_most_1000_rows(rc, centre):
    body = {"residents": rows(rc, 1001)}
    err = error_of(centre.manager.post(path(centre), json=body), 400)
    assert err["field"] == "residents" and "1000" in err["message"], err
    assert rc.db.count("residents", "case_number = %s", body["residents"][0]["case_number"]) == 0
    err = error_of(centre.manager.post(path(centre), json={"residents": []}), 400)
    assert err["field"] == "residents"
