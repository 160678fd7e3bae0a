"""Observations that arrive late (SPEC section 2, v2): `observed_at` on each observation of a
round POST (default: the request's instant), checked against the future and the round's
scheduled instant minus its grace period; the current observation is the one observed last,
one observed earlier but arriving later is history and changes nothing; the absence rules run
at observed_at while alerts are raised on arrival naming it. Two terminals recording the same
resident in one round, in both orders of arrival. Real daemon, PostgreSQL, the test clock."""

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"
NEXT = "2026-11-21"


@pytest.fixture
def tonder(rc):
    rc.set_clock(at(DAY, "08:00"))
    return Centre(rc, prefix="late")


def post_round(centre, day, slot, *observations, api=None, expect=200, query=""):
    """POST a round of observation dicts; the answer (or the error) as expected."""
    reply = (api or centre.staff).post(f"/v1/centres/{centre.id}/rounds/{day}/{slot}{query}",
                                       json={"observations": list(observations)})
    if expect == 200:
        return ok(reply, 200)
    return error_of(reply, expect)


def seen(resident, status, hhmm=None, day=DAY):
    """One observation; observed_at at hhmm local time on day when given."""
    o = {"resident": resident, "status": status}
    if hhmm:
        o["observed_at"] = local(day, hhmm).isoformat()
    return o


def present_at_15(rc, centre):
    """A resident under 15, last seen present at the 15:00 check (SPEC 9)."""
    r = centre.resident(date_of_birth="2012-03-10")
    rc.set_clock(at(DAY, "15:00"))
    centre.round(DAY, 2, {r: "present"})
    return r


def round_entry(centre, day, slot, resident, history=False):
    body = ok(centre.staff.get(f"/v1/centres/{centre.id}/rounds/{day}/{slot}"
                               + ("?history=true" if history else "")))
    return body, next(e for e in body["residents"] if e["resident"] == resident)


def test_absent_observed_at_23_02_sent_at_23_40_opens_at_23_02(rc, tonder):
    r = present_at_15(rc, tonder)
    rc.set_clock(at(DAY, "23:40"))
    answer = post_round(tonder, DAY, 3, seen(r, "absent", "23:02"))
    assert answer["status"] == "complete"
    assert instant(answer["observations"][0]["observed_at"]) == local(DAY, "23:02")
    assert answer["observations"][0]["current"] is True

    a = tonder.open_absence(r)
    assert instant(a["since"]) == local(DAY, "15:00")  # still the last instant accounted for
    assert instant(a["opened_at"]) == local(DAY, "23:02")
    assert instant(a["notify_at"]) == local(NEXT, "03:00")
    assert a["notified_at"] is None

    # Raised on arrival, naming when it was observed.
    raised = tonder.alerts_of("resident_absent")
    assert len(raised) == 1
    assert instant(raised[0]["raised_at"]) == local(DAY, "23:40")
    assert instant(raised[0]["details"]["observed_at"]) == local(DAY, "23:02")

    _, entry = round_entry(tonder, DAY, 3, r)
    assert instant(entry["observation"]["observed_at"]) == local(DAY, "23:02")
    assert instant(entry["observation"]["recorded_at"]) == local(DAY, "23:40")


def test_observed_at_defaults_to_the_request_instant_and_counts_in_since(rc, tonder):
    r = tonder.resident(date_of_birth="2012-03-10")
    rc.set_clock(at(DAY, "15:10"))
    answer = post_round(tonder, DAY, 2, seen(r, "present"))
    assert instant(answer["observations"][0]["observed_at"]) == local(DAY, "15:10")
    rc.set_clock(at(DAY, "23:00"))
    post_round(tonder, DAY, 3, seen(r, "absent"))
    a = tonder.open_absence(r)
    assert instant(a["since"]) == local(DAY, "15:10")
    assert instant(a["opened_at"]) == local(DAY, "23:00")
    assert instant(a["notify_at"]) == local(NEXT, "03:10")


@pytest.mark.parametrize("query", ["", "?dry_run=true"])
def test_observed_at_in_the_future_or_before_the_window_is_400(rc, tonder, query):
    r = tonder.resident()
    other = tonder.resident()
    rc.set_clock(at(DAY, "23:10"))
    # Grace 60 minutes: the 23:00 round may be observed from 22:00, up to now.
    err = post_round(tonder, DAY, 3, seen(other, "present"), seen(r, "present", "23:11"),
                     expect=400, query=query)
    assert err["field"] == "observations[1].observed_at" and "future" in err["message"]
    err = post_round(tonder, DAY, 3, seen(r, "present", "21:59"), expect=400, query=query)
    assert err["field"] == "observations[0].observed_at"
    err = post_round(tonder, DAY, 3, {"resident": r, "status": "present",
                                      "observed_at": "2026-11-20 22:30"}, expect=400,
                     query=query)
    assert err["field"] == "observations[0].observed_at"
    assert rc.db.count("observations", "centre = %s", tonder.id) == 0
    # The edges themselves are accepted.
    post_round(tonder, DAY, 3, seen(r, "present", "22:00"), seen(other, "present", "23:10"),
               query=query)


def late_round_alerts(centre):
    """round_overdue of the 23:00 round (the day's earlier rounds went unrecorded too)."""
    return [a for a in centre.alerts_of("round_overdue")
            if a["details"]["date"] == DAY and a["details"]["slot"] == 3]


def test_a_late_observation_completes_an_overdue_round_and_resolves_its_alert(rc, tonder):
    r, offline = tonder.resident(), tonder.resident()
    rc.set_clock(at(DAY, "23:00"))
    post_round(tonder, DAY, 3, seen(r, "present"))
    rc.set_clock(at(NEXT, "00:00"))  # due: 23:00 + 60 minutes
    overdue = late_round_alerts(tonder)
    assert len(overdue) == 1 and overdue[0]["details"]["missing"] == [offline]
    rounds = ok(tonder.staff.get(f"/v1/centres/{tonder.id}/rounds?date={DAY}"))["items"]
    assert rounds[2]["status"] == "overdue" and rounds[2]["recorded"] == 1

    # The offline terminal syncs at 00:20 what it saw at 23:30.
    rc.set_clock(at(NEXT, "00:20"))
    answer = post_round(tonder, DAY, 3, seen(offline, "present", "23:30"))
    assert answer["status"] == "complete" and answer["recorded"] == 2
    assert late_round_alerts(tonder)[0]["resolved_at"] is not None


# The two terminals: (first observation, second observation) by observed_at, each arrival order.
CASES = [
    pytest.param(("present", "23:05"), ("absent", "23:10"), "in_order", id="present-absent"),
    pytest.param(("present", "23:05"), ("absent", "23:10"), "reversed", id="present-absent-late"),
    pytest.param(("absent", "23:05"), ("present", "23:10"), "in_order", id="absent-present"),
    pytest.param(("absent", "23:05"), ("present", "23:10"), "reversed", id="absent-present-late"),
]


@pytest.mark.parametrize("earlier, later, arrival", CASES)
def test_two_terminals_the_one_observed_last_is_current(rc, tonder, earlier, later, arrival):
    r = present_at_15(rc, tonder)
    one = tonder.staff
    two = tonder.account("staff")
    sends = [(one, earlier, "23:20"), (two, later, "23:30")]
    if arrival == "reversed":  # the earlier observation's terminal was offline until 23:30
        sends = [(two, later, "23:20"), (one, earlier, "23:30")]
    answers = []
    for api, (status, hhmm), sent in sends:
        rc.set_clock(at(DAY, sent))
        answers.append(post_round(tonder, DAY, 3, seen(r, status, hhmm), api=api))

    # Whichever arrived last, the observation made last is the current one.
    final_status = later[0]
    round_body, entry = round_entry(tonder, DAY, 3, r, history=True)
    assert entry["observation"]["status"] == final_status
    assert instant(entry["observation"]["observed_at"]) == local(DAY, later[1])
    assert round_body["status"] == "complete" and round_body["recorded"] == 1
    history = entry["history"]
    assert [h["status"] for h in history] == [s[1][0] for s in sends]
    assert [h["current"] for h in history] == [
        s[1] == later for s in sends]
    assert answers[1]["observations"][0]["current"] is (arrival == "in_order")

    absences = ok(tonder.staff.get(f"/v1/absences?centre={tonder.id}&resident={r}"))["items"]
    absent_alerts = tonder.alerts_of("resident_absent")
    returned_alerts = tonder.alerts_of("resident_returned")
    if final_status == "absent":
        # Open in both orders, opened by the absent observation at its observed_at, and since
        # the 15:00 check: the present at 23:05 was superseded in its round (history).
        assert len(absences) == 1 and absences[0]["returned_at"] is None
        assert instant(absences[0]["opened_at"]) == local(DAY, "23:10")
        assert instant(absences[0]["since"]) == local(DAY, "15:00")
        assert instant(absences[0]["notify_at"]) == local(NEXT, "03:00")
        assert len(absent_alerts) == 1
        assert instant(absent_alerts[0]["details"]["observed_at"]) == local(DAY, "23:10")
        assert returned_alerts == []
    elif arrival == "in_order":
        # The absent arrived first and opened an absence; the present observed later closed it
        # at its observed_at.
        assert len(absences) == 1
        assert instant(absences[0]["opened_at"]) == local(DAY, "23:05")
        assert instant(absences[0]["returned_at"]) == local(DAY, "23:10")
        assert len(absent_alerts) == 1 and absent_alerts[0]["resolved_at"] is not None
        assert len(returned_alerts) == 1
        assert instant(returned_alerts[0]["details"]["observed_at"]) == local(DAY, "23:10")
        assert instant(returned_alerts[0]["raised_at"]) == local(DAY, "23:30")
    else:
        # The absent observed at 23:05 arrived after the present of 23:10: history only, no
        # absence opened, nobody alerted.
        assert absences == [] and absent_alerts == [] and returned_alerts == []

    # Nothing reaches the authorities before the 03:00 threshold, in any case.
    rc.set_clock(at(NEXT, "02:59"))
    assert all(a["notified_at"] is None for a in
               ok(tonder.staff.get(f"/v1/absences?centre={tonder.id}&resident={r}"))["items"])


def test_a_late_absent_of_a_corrected_round_changes_nothing(rc, tonder):
    """An absent observed before the present already recorded, sent later with the dry run
    first: the dry run foretells no absence, and the real round opens none."""
    r = present_at_15(rc, tonder)
    rc.set_clock(at(DAY, "23:15"))
    post_round(tonder, DAY, 3, seen(r, "present", "23:12"))
    rc.set_clock(at(DAY, "23:45"))
    dry = post_round(tonder, DAY, 3, seen(r, "absent", "23:03"), query="?dry_run=true")
    assert dry["absences"] == []
    post_round(tonder, DAY, 3, seen(r, "absent", "23:03"))
    assert tonder.open_absence(r) is None
    assert tonder.alerts_of("resident_absent") == []


def test_a_night_absent_synced_after_the_morning_present_reports_nobody(rc, tonder):
    """The night terminal was offline: its 23:02 absent arrives at 07:30, after the 07:00 check
    saw the resident present. What is known later wins: no absence, no alert, no report; the
    night round is complete with its absent observation."""
    r = present_at_15(rc, tonder)
    rc.set_clock(at(NEXT, "07:00"))
    post_round(tonder, NEXT, 1, seen(r, "present"))
    rc.set_clock(at(NEXT, "07:30"))
    answer = post_round(tonder, DAY, 3, seen(r, "absent", "23:02"))
    assert answer["status"] == "complete" and answer["observations"][0]["current"] is True
    assert ok(tonder.staff.get(f"/v1/absences?centre={tonder.id}&resident={r}"))["items"] == []
    assert tonder.alerts_of("resident_absent") == []
    # Without the morning check, the same late absent opens the absence at 23:02 and, the
    # 03:00 threshold having passed, reports it on arrival.
    other = tonder.resident(date_of_birth="2012-03-10")
    rc.set_clock(at(NEXT, "07:40"))
    ok(tonder.staff.post(f"/v1/centres/{tonder.id}/rounds/{DAY}/2", json={"observations": [
        {"resident": other, "status": "present", "observed_at": at(DAY, "15:00")}]}))
    post_round(tonder, DAY, 3, seen(other, "absent", "23:02"))
    a = tonder.open_absence(other)
    assert instant(a["opened_at"]) == local(DAY, "23:02")
    assert instant(a["notified_at"]) == local(NEXT, "07:40")
