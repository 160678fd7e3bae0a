"""Absences and when the authorities hear of them (SPEC sections 3 and 9): the worked examples
of Tønder, the concern example, the 15th birthday on the local date of `since`, a threshold
already passed at opening, a known departure, returns before and after notification, and one
open absence per resident. Real daemon, real PostgreSQL, the test clock."""

import datetime

import pytest
from alerts_helpers import Centre, at, instant, local, reported, returned
from harness import error_of, ok

DAY = "2026-11-20"
NEXT = "2026-11-21"


@pytest.fixture
def tonder(rc):
    """A fresh Tønder-like centre, created on the morning of the worked example's day."""
    rc.set_clock(at(DAY, "08:00"))
    return Centre(rc)


def absent_at_23(rc, centre, date_of_birth):
    """SPEC 9: present at the 15:00 check on 2026-11-20, observed absent at 23:00."""
    resident = centre.resident(date_of_birth=date_of_birth)
    rc.set_clock(at(DAY, "15:00"))
    centre.round(DAY, 2, {resident: "present"})
    rc.set_clock(at(DAY, "23:00"))
    centre.round(DAY, 3, {resident: "absent"})
    absence = centre.open_absence(resident)
    assert absence is not None
    return resident, absence


def test_worked_example_under_15_notified_12_hours_after_last_present(rc, tonder):
    resident, absence = absent_at_23(rc, tonder, "2012-03-10")
    assert instant(absence["since"]) == local(DAY, "15:00")
    assert instant(absence["opened_at"]) == local(DAY, "23:00")
    assert absence["reason"] == "threshold_12h"
    assert instant(absence["notify_at"]) == local(NEXT, "03:00")
    assert absence["notified_at"] is None and absence["returned_at"] is None

    # resident_absent at 23:00, at once.
    raised = tonder.alerts_of("resident_absent")
    assert len(raised) == 1
    assert raised[0]["resident"] == resident and raised[0]["absence"] == absence["id"]
    assert instant(raised[0]["raised_at"]) == local(DAY, "23:00")

    rc.set_clock(at(NEXT, "02:59"))
    assert tonder.absence(absence["id"])["notified_at"] is None
    assert reported(tonder.notifications(absence["id"])) == []

    # PUT /v1/clock answers after the decision is committed: no polling needed.
    rc.set_clock(at(NEXT, "03:00"))
    after = tonder.absence(absence["id"])
    assert instant(after["notified_at"]) == local(NEXT, "03:00")
    sent = reported(tonder.notifications(absence["id"]))
    assert sorted(n["authority"] for n in sent) == ["immigration", "municipality", "police"]
    assert len({n["event_id"] for n in sent}) == 3

    # Nothing is decided twice, however the clock moves on.
    rc.set_clock(at(NEXT, "20:00"))
    assert len(reported(tonder.notifications(absence["id"]))) == 3


def test_worked_example_aged_15_notified_24_hours_after_last_present(rc, tonder):
    _, absence = absent_at_23(rc, tonder, "2011-11-20")
    assert absence["reason"] == "threshold_24h"
    assert instant(absence["notify_at"]) == local(NEXT, "15:00")
    rc.set_clock(at(NEXT, "14:59"))
    assert tonder.absence(absence["id"])["notified_at"] is None
    rc.set_clock(at(NEXT, "15:00"))
    assert instant(tonder.absence(absence["id"])["notified_at"]) == local(NEXT, "15:00")
    assert len(reported(tonder.notifications(absence["id"]))) == 3


def test_concern_example_notifies_at_once_and_only_once(rc, tonder):
    _, absence = absent_at_23(rc, tonder, "2012-03-10")
    rc.set_clock(at(DAY, "23:40"))
    body = ok(tonder.staff.post(f"/v1/absences/{absence['id']}/concern",
                                json={"text": "He said he would go to Germany"}))
    assert body["reason"] == "concern"
    assert instant(body["notify_at"]) == local(DAY, "23:40")
    assert instant(body["notified_at"]) == local(DAY, "23:40")
    sent = reported(tonder.notifications(absence["id"]))
    assert len(sent) == 3
    # The 03:00 threshold does not notify a second time.
    rc.set_clock(at(NEXT, "03:30"))
    assert len(reported(tonder.notifications(absence["id"]))) == 3
    assert instant(tonder.absence(absence["id"])["notified_at"]) == local(DAY, "23:40")


def test_concern_given_when_reporting_notifies_at_once(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "12:00"))
    body = tonder.report(resident, expect=(201,), concern="Seen with an unknown adult")
    assert body["reason"] == "concern" and body["concern"] == "Seen with an unknown adult"
    assert instant(body["notified_at"]) == local(DAY, "12:00")
    assert len(reported(tonder.notifications(body["id"]))) == 3


@pytest.mark.parametrize(
    "date_of_birth, reason, hours",
    [
        ("2011-11-20", "threshold_24h", 24),  # 15th birthday on the local date of since
        ("2011-11-21", "threshold_12h", 12),  # the day before the 15th birthday
    ],
)
def test_age_is_taken_on_the_local_date_of_since(rc, date_of_birth, reason, hours):
    # A check at 00:30 local time: since is 2026-11-19T23:30Z, whose UTC date is the 19th but
    # whose local date is the 20th. The age counts on the 20th.
    rc.set_clock(at("2026-11-19", "20:00"))
    centre = Centre(rc, check_times=["00:30", "08:00", "16:00"])
    resident = centre.resident(date_of_birth=date_of_birth)
    rc.set_clock(at(DAY, "00:30"))
    centre.round(DAY, 1, {resident: "present"})
    rc.set_clock(at(DAY, "02:00"))
    absence = centre.report(resident, expect=(201,))
    since = instant(absence["since"])
    assert since == local(DAY, "00:30")
    assert since.astimezone(datetime.timezone.utc).date().isoformat() == "2026-11-19"
    assert absence["reason"] == reason
    assert instant(absence["notify_at"]) == since + datetime.timedelta(hours=hours)


def test_threshold_already_passed_at_opening_notifies_at_once(rc):
    rc.set_clock(at("2026-11-19", "09:00"))
    centre = Centre(rc)
    # Arrived on the 19th, never observed: since is the start of the arrival day.
    resident = centre.resident(arrival_date="2026-11-19")
    rc.set_clock(at(DAY, "13:00"))
    absence = centre.report(resident, expect=(201,))
    assert instant(absence["since"]) == local("2026-11-19", "00:00")
    assert absence["reason"] == "threshold_12h"
    assert instant(absence["notify_at"]) == local(DAY, "13:00")
    assert instant(absence["notified_at"]) == local(DAY, "13:00")
    assert len(reported(centre.notifications(absence["id"]))) == 3


def test_known_departure_notifies_at_once(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "10:15"))
    absence = tonder.report(resident, expect=(201,), known_departure=True,
                            note="Took the train to Padborg")
    assert absence["reason"] == "known_departure"
    assert instant(absence["notified_at"]) == local(DAY, "10:15")
    sent = reported(tonder.notifications(absence["id"]))
    assert sorted(n["authority"] for n in sent) == ["immigration", "municipality", "police"]


def test_known_departure_reported_later_notifies_at_once(rc, tonder):
    _, absence = absent_at_23(rc, tonder, "2012-03-10")
    rc.set_clock(at(DAY, "23:20"))
    again = tonder.report(absence["resident"], expect=(200,), known_departure=True)
    assert again["id"] == absence["id"]
    assert again["reason"] == "known_departure"
    assert instant(again["notified_at"]) == local(DAY, "23:20")
    rc.set_clock(at(NEXT, "04:00"))
    assert len(reported(tonder.notifications(absence["id"]))) == 3


def test_return_before_notification_tells_nobody_outside(rc, tonder):
    resident, absence = absent_at_23(rc, tonder, "2012-03-10")
    rc.set_clock(at(NEXT, "01:10"))
    body = ok(tonder.staff.post(f"/v1/absences/{absence['id']}/return",
                                json={"at": at(NEXT, "01:00")}))
    assert instant(body["returned_at"]) == local(NEXT, "01:00")
    assert body["notified_at"] is None
    rc.set_clock(at(NEXT, "04:00"))
    assert tonder.absence(absence["id"])["notified_at"] is None
    assert tonder.notifications(absence["id"]) == []
    # On-call staff hear of it, and the absent alert stops.
    back = tonder.alerts_of("resident_returned")
    assert [a["absence"] for a in back] == [absence["id"]]
    gone = tonder.alerts_of("resident_absent")
    assert gone[0]["resolved_at"] is not None
    assert tonder.open_absence(resident) is None


def test_return_after_notification_sends_absence_returned(rc, tonder):
    resident, absence = absent_at_23(rc, tonder, "2012-03-10")
    rc.set_clock(at(NEXT, "03:00"))
    assert tonder.absence(absence["id"])["notified_at"] is not None
    # Observed present at the 07:00 check, sent at 07:05 without observed_at: the absence
    # closes at the observation's instant, which is then the instant it was recorded (SPEC
    # section 2, v2; the first release took the round's scheduled instant).
    rc.set_clock(at(NEXT, "07:05"))
    tonder.round(NEXT, 1, {resident: "present"})
    closed = tonder.absence(absence["id"])
    assert instant(closed["returned_at"]) == local(NEXT, "07:05")
    notes = tonder.notifications(absence["id"])
    assert len(reported(notes)) == 3
    back = returned(notes)
    assert sorted(n["authority"] for n in back) == ["immigration", "municipality", "police"]
    assert tonder.open_absence(resident) is None


def test_return_without_at_is_now_and_a_second_return_is_refused(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "09:00"))
    absence = tonder.report(resident, expect=(201,))
    rc.set_clock(at(DAY, "09:30"))
    body = ok(tonder.staff.post(f"/v1/absences/{absence['id']}/return", json={}))
    assert instant(body["returned_at"]) == local(DAY, "09:30")
    err = error_of(tonder.staff.post(f"/v1/absences/{absence['id']}/return", json={}), 409)
    assert err["code"] == "absence_closed"


def test_return_in_the_future_or_before_since_is_refused(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "09:00"))
    absence = tonder.report(resident, expect=(201,))
    err = error_of(tonder.staff.post(f"/v1/absences/{absence['id']}/return",
                                     json={"at": at(DAY, "10:00")}), 400)
    assert err["field"] == "at"
    err = error_of(tonder.staff.post(f"/v1/absences/{absence['id']}/return",
                                     json={"at": "2025-01-01T00:00:00Z"}), 400)
    assert err["field"] == "at"
    assert tonder.absence(absence["id"])["returned_at"] is None


def test_one_open_absence_per_resident(rc, tonder):
    resident, absence = absent_at_23(rc, tonder, "2012-03-10")
    # A staff report while it is open adds to it.
    rc.set_clock(at(DAY, "23:10"))
    again = tonder.report(resident, expect=(200,), note="Not in his room either")
    assert again["id"] == absence["id"]
    # So does a second absent observation (the next check).
    rc.set_clock(at(NEXT, "07:05"))
    tonder.round(NEXT, 1, {resident: "absent"})
    items = ok(tonder.staff.get(f"/v1/absences?resident={resident}"))["items"]
    assert [a["id"] for a in items] == [absence["id"]]
    assert len(tonder.alerts_of("resident_absent")) == 1


def test_excused_leaves_an_open_absence_alone_and_counts_as_accounted_for(rc, tonder):
    resident = tonder.resident()
    other = tonder.resident()
    rc.set_clock(at(DAY, "15:00"))
    tonder.round(DAY, 2, {resident: "absent", other: "present"})
    opened = tonder.open_absence(resident)
    rc.set_clock(at(DAY, "23:00"))
    # Excused with a reason, the absence stays open.
    ok(tonder.staff.post(f"/v1/centres/{tonder.id}/rounds/{DAY}/3", json={"observations": [
        {"resident": resident, "status": "excused", "reason": "hospital"},
        {"resident": other, "status": "excused", "reason": "school_trip"}]}))
    assert tonder.open_absence(resident)["id"] == opened["id"]
    # For another resident, the excused check is the last instant accounted for.
    rc.set_clock(at(NEXT, "01:00"))
    later = tonder.report(other, expect=(201,))
    assert instant(later["since"]) == local(DAY, "23:00")


def test_absence_reads_are_scoped_to_the_staff_centres(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "09:00"))
    absence = tonder.report(resident, expect=(201,))
    other = Centre(rc, prefix="other")
    error_of(other.staff.get(f"/v1/absences/{absence['id']}"), 403)
    error_of(other.staff.post(f"/v1/residents/{resident}/absences", json={}), 403)
    error_of(tonder.staff.get("/v1/absences/999999999"), 404)
    listed = ok(other.staff.get("/v1/absences?open=true"))["items"]
    assert absence["id"] not in [a["id"] for a in listed]


def test_report_rejects_unknown_fields_and_changes_nothing(rc, tonder):
    resident = tonder.resident()
    err = error_of(tonder.staff.post(f"/v1/residents/{resident}/absences",
                                     json={"known_depature": True}), 400)
    assert err["field"] == "known_depature"
    assert tonder.open_absence(resident) is None


def test_correcting_the_absent_observation_that_opened_it_closes_the_absence(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "15:00"))
    tonder.round(DAY, 2, {resident: "present"})
    rc.set_clock(at(DAY, "23:05"))
    tonder.round(DAY, 3, {resident: "absent"})
    absence = tonder.open_absence(resident)
    rc.set_clock(at(DAY, "23:10"))
    tonder.round(DAY, 3, {resident: "present"})  # a slip of the finger, corrected
    closed = tonder.absence(absence["id"])
    # The correction is observed (by default) when it is sent: the absence ran 23:05-23:10.
    assert instant(closed["opened_at"]) == local(DAY, "23:05")
    assert instant(closed["returned_at"]) == local(DAY, "23:10")
    assert closed["notified_at"] is None
    rc.set_clock(at(NEXT, "04:00"))
    assert tonder.notifications(absence["id"]) == []


def test_a_late_present_entry_moves_since_and_the_notification(rc, tonder):
    resident = tonder.resident()
    rc.set_clock(at(DAY, "07:00"))
    tonder.round(DAY, 1, {resident: "present"})
    rc.set_clock(at(DAY, "16:00"))
    absence = tonder.report(resident, expect=(201,))
    assert instant(absence["since"]) == local(DAY, "07:00")
    assert instant(absence["notify_at"]) == local(DAY, "19:00")
    # The 15:00 check is entered late, with the instant it was made: he was there at 15:00
    # after all.
    rc.set_clock(at(DAY, "16:30"))
    ok(tonder.staff.post(f"/v1/centres/{tonder.id}/rounds/{DAY}/2", json={"observations": [
        {"resident": resident, "status": "present", "observed_at": at(DAY, "15:00")}]}))
    moved = tonder.absence(absence["id"])
    assert moved["returned_at"] is None
    assert instant(moved["since"]) == local(DAY, "15:00")
    assert instant(moved["notify_at"]) == local(NEXT, "03:00")
    rc.set_clock(at(DAY, "19:30"))
    assert tonder.absence(absence["id"])["notified_at"] is None
    rc.set_clock(at(NEXT, "03:00"))
    assert instant(tonder.absence(absence["id"])["notified_at"]) == local(NEXT, "03:00")
    assert len(reported(tonder.notifications(absence["id"]))) == 3
