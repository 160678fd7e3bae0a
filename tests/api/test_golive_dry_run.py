"""The round dry run on the first day and with late observations (SPEC section 2, v2): nothing
of a dry run reaches the alert stream, the timing engine or the authorities, and notify_now
says what sending the round would do also when the round is sent after its instant (an
offline terminal's round whose threshold passed meanwhile). test_round_dry_run.py holds the
dry run's answer and its refusals."""

import pytest
from alerts_helpers import Centre, at, instant, local, reported, wait_until
from harness import ok

DAY = "2026-11-20"
NEXT = "2026-11-21"


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "06:30"))
    return Centre(rc, prefix="golive-dry")


def round_path(centre, day, slot, dry=False):
    return f"/v1/centres/{centre.id}/rounds/{day}/{slot}" + ("?dry_run=true" if dry else "")


def test_nothing_of_a_dry_run_reaches_the_stream_the_clock_or_the_authorities(rc, centre):
    # Never counted: a real round would report this resident to the police at once.
    uncounted = centre.resident(arrival_date="2026-04-18")
    other = centre.resident(arrival_date="2026-04-18",
                            accounted_for_at=local(DAY, "06:15").isoformat())
    rc.set_clock(at(DAY, "07:00"))
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None, what="the stream's head comment")
        dry = ok(centre.staff.post(round_path(centre, DAY, 1, dry=True), json={
            "observations": [{"resident": uncounted, "status": "absent"}]}))
        assert [a["resident"] for a in dry["absences"]] == [uncounted]
        assert dry["absences"][0]["notify_now"] is True
        # The next alert on the stream is a real one: the dry run's never went out.
        real = centre.report(other, expect=(201,))
        ev = watcher.next(timeout=10)
        assert ev.alert["absence"] == real["id"] and ev.alert["resident"] == other
    # No due event was left behind: hours later the dry-run resident has nothing.
    rc.set_clock(at(DAY, "20:00"))
    assert centre.open_absence(uncounted) is None
    assert all(a["resident"] != uncounted for a in centre.alerts())
    assert rc.db.count("outbox", "resident = %s", uncounted) == 0


def test_notify_now_for_a_round_sent_after_its_threshold_passed(rc, centre):
    r = centre.resident(date_of_birth="2012-03-10")
    rc.set_clock(at(DAY, "15:00"))
    centre.round(DAY, 2, {r: "present"})
    # Absent at 23:02, the terminal back online at 03:30: the 03:00 threshold has passed.
    rc.set_clock(at(NEXT, "03:30"))
    body = {"observations": [{"resident": r, "status": "absent",
                              "observed_at": local(DAY, "23:02").isoformat()}]}
    dry = ok(centre.staff.post(round_path(centre, DAY, 3, dry=True), json=body))
    (foretold,) = dry["absences"]
    assert instant(foretold["since"]) == local(DAY, "15:00")
    assert instant(foretold["notify_at"]) == local(NEXT, "03:00")
    assert foretold["notify_now"] is True
    assert centre.open_absence(r) is None

    ok(centre.staff.post(round_path(centre, DAY, 3), json=body))
    a = centre.open_absence(r)
    assert instant(a["opened_at"]) == local(DAY, "23:02")
    assert instant(a["notify_at"]) == local(NEXT, "03:00")
    assert instant(a["notified_at"]) == local(NEXT, "03:30")
    assert len(reported(centre.notifications(a["id"]))) == 3
