"""Go-live and the first day (SPEC sections 1, 3 and 6, v2): `accounted_for_at` on residents
(create and PATCH, not in the future) takes part in an absence's `since`, so a resident entered
this morning and found absent at the first check is not "away since the arrival day" and
reported at once; and a payout in person while the resident has an open absence is refused."""

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"
NEXT = "2026-11-21"


@pytest.fixture
def golive(rc):
    """A centre going live at 06:30 on DAY, its residents arrived months ago."""
    rc.set_clock(at(DAY, "06:30"))
    return Centre(rc, prefix="golive")


def test_accounted_for_at_is_kept_checked_and_patched(rc, golive):
    counted = local(DAY, "06:15").isoformat()
    r = ok(golive.manager.get("/v1/residents/%d" % golive.resident(
        arrival_date="2026-04-18", accounted_for_at=counted)), 200)
    assert instant(r["accounted_for_at"]) == local(DAY, "06:15")
    got = ok(golive.manager.get(f"/v1/residents/{r['id']}"), 200)
    assert instant(got["accounted_for_at"]) == local(DAY, "06:15")

    # Not in the future (the daemon's clock), and an instant with its offset.
    future = local(DAY, "06:31").isoformat()
    err = error_of(golive.manager.post("/v1/residents", json={
        "case_number": rc.unique("GL-"), "given_name": "Amina", "family_name": "Test",
        "date_of_birth": "2012-03-10", "centre": golive.id, "arrival_date": "2026-04-18",
        "accounted_for_at": future}), 400)
    assert err["field"] == "accounted_for_at" and "future" in err["message"]
    err = error_of(golive.manager.patch(f"/v1/residents/{r['id']}",
                                        json={"accounted_for_at": "2026-11-20 06:15"}), 400)
    assert err["field"] == "accounted_for_at"
    err = error_of(golive.manager.patch(f"/v1/residents/{r['id']}",
                                        json={"accounted_for_at": future}), 400)
    assert err["field"] == "accounted_for_at"

    later = local(DAY, "06:25").isoformat()
    patched = ok(golive.manager.patch(f"/v1/residents/{r['id']}",
                                      json={"accounted_for_at": later}), 200)
    assert instant(patched["accounted_for_at"]) == local(DAY, "06:25")
    cleared = ok(golive.manager.patch(f"/v1/residents/{r['id']}",
                                      json={"accounted_for_at": None}), 200)
    assert cleared["accounted_for_at"] is None


def test_the_first_round_counts_from_the_go_live_count_not_the_arrival(rc, golive):
    counted = golive.resident(arrival_date="2026-04-18",
                              accounted_for_at=local(DAY, "06:15").isoformat())
    uncounted = golive.resident(arrival_date="2026-04-18")
    rc.set_clock(at(DAY, "07:00"))
    golive.round(DAY, 1, {counted: "absent", uncounted: "absent"})

    a = golive.open_absence(counted)
    assert instant(a["since"]) == local(DAY, "06:15")
    assert a["reason"] == "threshold_12h"
    assert instant(a["notify_at"]) == local(DAY, "18:15")  # not at once

    # Without the count, the arrival day is the last instant known: reported at once.
    b = golive.open_absence(uncounted)
    assert instant(b["since"]) == local("2026-04-18", "00:00")
    assert instant(b["notify_at"]) == local(DAY, "07:00")


def test_an_observation_after_the_count_wins_over_it(rc, golive):
    r = golive.resident(arrival_date="2026-04-18",
                        accounted_for_at=local(DAY, "06:15").isoformat())
    rc.set_clock(at(DAY, "07:00"))
    golive.round(DAY, 1, {r: "present"})
    rc.set_clock(at(DAY, "15:00"))
    golive.round(DAY, 2, {r: "absent"})
    assert instant(golive.open_absence(r)["since"]) == local(DAY, "07:00")


def test_a_payout_in_person_during_an_open_absence_is_refused_naming_it(rc, golive):
    r = golive.resident(arrival_date="2026-04-18",
                        accounted_for_at=local(DAY, "06:15").isoformat())
    rc.set_clock(at(DAY, "07:00"))
    golive.round(DAY, 1, {r: "absent"})
    absence = golive.open_absence(r)
    start = "2026-11-09"  # the period holding DAY
    reply = golive.payout_reply(r, start)
    err = error_of(reply, 409)
    assert err["code"] == "absence_open"
    assert str(absence["id"]) in err["message"] and "record the return" in err["message"]
    assert reply.body["absence"]["id"] == absence["id"]
    assert rc.db.count("payouts", "resident = %s", r) == 0

    rc.set_clock(at(DAY, "10:00"))
    golive.returned(absence["id"])
    paid = golive.payout(r, start)
    assert paid["collected_by"] == "self"


def test_go_live_by_import_then_the_first_round(rc, golive):
    """The go-live defect of issue 14, end to end: residents who arrived months ago, imported
    at 06:30 with the head count of 06:15, one of them absent at the first 07:00 check. The
    absence counts from the count: no report to the authorities at once (12 hours later for a
    child under 15), the statement keeps the days before, and a payout in person is refused
    until the return is recorded."""
    rows = [{"case_number": rc.unique("GO-"), "given_name": f"Amina{i}", "family_name": "Test",
             "date_of_birth": "2012-03-10", "arrival_date": "2026-04-18",
             "accounted_for_at": local(DAY, "06:15").isoformat()} for i in range(3)]
    imported = ok(golive.manager.post(f"/v1/centres/{golive.id}/residents/import",
                                      json={"residents": rows}), 201)["residents"]
    missing, *others = [r["id"] for r in imported]
    rc.set_clock(at(DAY, "07:00"))
    path = f"/v1/centres/{golive.id}/rounds/{DAY}/1"
    body = {"observations": [{"resident": missing, "status": "absent"}]
            + [{"resident": r, "status": "present"} for r in others]}
    dry = ok(golive.staff.post(path + "?dry_run=true", json=body), 200)
    assert [a["resident"] for a in dry["absences"]] == [missing]
    assert dry["absences"][0]["notify_now"] is False
    ok(golive.staff.post(path, json=body), 200)

    a = golive.open_absence(missing)
    assert instant(a["since"]) == local(DAY, "06:15")
    assert instant(a["notify_at"]) == local(DAY, "18:15")
    assert a["notified_at"] is None
    assert golive.notifications(a["id"]) == []

    # The days before the count are payable (the defect made every day since April absent).
    statement = golive.statement(missing, "2026-11-09")
    assert statement["payable_days"] >= 12, statement
    assert error_of(golive.payout_reply(missing, "2026-11-09"), 409)["code"] == "absence_open"

    rc.set_clock(at(DAY, "18:14"))
    assert golive.notifications(a["id"]) == []
    rc.set_clock(at(DAY, "18:15"))
    assert instant(golive.absence(a["id"])["notified_at"]) == local(DAY, "18:15")
    assert len(golive.notifications(a["id"])) == 3
