"""When the authorities are notified and what on-call staff are told about it (SPEC sections 3,
4, 5 and 9): the 12- and 24-hour thresholds of the worked examples, no notification at all for a
resident back before the threshold, the returned notice only after a notification, an authority
never told "returned" before "reported", notification_failing 15 minutes after a notification
fell due (cleared on delivery), and absence_reported once every authority has it."""

import time

from harness import instant, ok
from harness.webhooks import AUTHORITIES, by_authority


def observe(world, day, slot, resident_id, status, observed_at=None):
    observation = {"resident": resident_id, "status": status}
    if observed_at:
        observation["observed_at"] = observed_at
    ok(world.staff.post(f"/v1/centres/{world.centre}/rounds/{day}/{slot}",
                        json={"observations": [observation]}))


def open_absence(world, resident_id):
    reply = ok(world.staff.get(f"/v1/absences?centre={world.centre}&open=true"))
    mine = [a for a in reply["items"] if a["resident"] == resident_id]
    assert len(mine) == 1, reply
    return mine[0]


def absent_at_23(world, date_of_birth):
    """SPEC section 9: a resident at Tønder present at the 15:00 check on 2026-11-20 and
    observed absent at 23:00, both sent at 23:05 with the instants they were made at (SPEC
    section 2, v2). Returns (resident, absence)."""
    world.set_clock("2026-11-20T23:05:00+01:00")
    res = world.resident(date_of_birth=date_of_birth)
    observe(world, "2026-11-20", 2, res["id"], "present", "2026-11-20T15:00:00+01:00")
    observe(world, "2026-11-20", 3, res["id"], "absent", "2026-11-20T23:00:00+01:00")
    absence = open_absence(world, res["id"])
    assert instant(absence["since"]) == instant("2026-11-20T15:00:00+01:00")
    return res, absence


# --------------------------------------------------------------------------------------------
# Thresholds (worked examples)


def test_under_15_notified_12_hours_after_last_present_worked_example(world):
    res, absence = absent_at_23(world, "2012-03-10")
    world.set_clock("2026-11-21T02:59:00+01:00")
    time.sleep(0.3)
    assert world.receiver.requests() == [], "not before 03:00"
    world.set_clock("2026-11-21T03:00:00+01:00")
    reqs = world.receiver.wait_delivered(3)
    assert sorted(q.authority for q in reqs) == sorted(AUTHORITIES)
    for q in reqs:
        assert q.json["reason"] == "threshold_12h"
        assert q.json["resident"]["age"] == 14
        assert instant(q.json["since"]) == instant("2026-11-20T15:00:00+01:00")
    items = world.notifications(absence=absence["id"])
    assert len(items) == 3
    for i in items:
        assert instant(i["due_at"]) == instant("2026-11-21T03:00:00+01:00")


def test_aged_15_notified_24_hours_after_last_present_worked_example(world):
    absent_at_23(world, "2011-11-20")
    world.set_clock("2026-11-21T14:59:00+01:00")
    time.sleep(0.3)
    assert world.receiver.requests() == []
    world.set_clock("2026-11-21T15:00:00+01:00")
    reqs = world.receiver.wait_delivered(3)
    for q in reqs:
        assert q.json["reason"] == "threshold_24h"
        assert q.json["resident"]["age"] == 15


def test_no_notification_at_all_for_a_resident_back_before_the_threshold(world):
    res, absence = absent_at_23(world, "2012-03-10")
    world.set_clock("2026-11-21T01:00:00+01:00")
    world.returned(absence["id"])
    world.set_clock("2026-11-21T04:00:00+01:00")
    world.set_clock("2026-11-23T12:00:00+01:00")
    time.sleep(0.5)
    assert world.receiver.requests() == [], "nobody outside the centre hears of it"
    assert world.notifications(absence=absence["id"]) == []
    assert world.alerts("absence_reported") == []
    assert len(world.alerts("resident_returned")) == 1


def test_returned_notice_only_after_the_authorities_were_notified(world):
    # Notified (known departure): each authority then hears of the return.
    res = world.resident()
    absence = world.report(res["id"], known_departure=True)
    world.receiver.wait_delivered(3)
    world.advance(hours=1)
    world.returned(absence["id"])
    reqs = world.receiver.wait_delivered(6)
    types = sorted((q.authority, q.json["type"]) for q in reqs)
    assert types == sorted([(a, t) for a in AUTHORITIES
                            for t in ("absence.reported", "absence.returned")])
    # Not notified (back before the threshold): no returned notice either.
    other, other_absence = absent_at_23(world, "2012-03-10")
    world.set_clock("2026-11-21T00:30:00+01:00")
    world.returned(other_absence["id"])
    world.set_clock("2026-11-21T06:00:00+01:00")
    time.sleep(0.5)
    assert len(world.receiver.requests()) == 6
    assert world.notifications(absence=other_absence["id"]) == []


def test_an_authority_never_hears_returned_before_reported(world):
    world.receiver.set_default("police", "500")
    res = world.resident()
    absence = world.report(res["id"], known_departure=True)
    world.wait_notifications(
        lambda items: by_authority(items)["police"]["attempts"] >= 1 if len(items) == 3 else False)
    world.advance(minutes=5)
    world.returned(absence["id"])
    world.receiver.wait_delivered(2, "municipality")
    world.receiver.wait_delivered(2, "immigration")
    world.advance(minutes=11)
    time.sleep(0.3)
    assert {q.json["type"] for q in world.receiver.requests("police")} == {"absence.reported"}
    world.receiver.set_default("police", "ok")
    world.advance(minutes=11)
    world.receiver.wait_delivered(2, "police")
    police = [q.json["type"] for q in world.receiver.delivered("police")]
    assert police == ["absence.reported", "absence.returned"]


# --------------------------------------------------------------------------------------------
# Alerts


def test_notification_failing_after_15_minutes_and_resolved_on_delivery(world):
    world.receiver.set_default("police", "500")
    res = world.resident()
    absence = world.report(res["id"], known_departure=True)
    world.wait_notifications(
        lambda items: len(items) == 3 and by_authority(items)["police"]["attempts"] >= 1)
    world.advance(minutes=14)
    assert world.alerts("notification_failing") == [], "not before 15 minutes"
    world.advance(minutes=2)
    failing = world.alerts("notification_failing")
    assert len(failing) == 1, failing
    alert = failing[0]
    assert alert["details"]["authority"] == "police"
    assert alert["details"]["last_error"].startswith("HTTP 500")
    assert alert["resident"] == res["id"]
    assert alert["absence"] == absence["id"]
    assert alert["resolved_at"] is None
    assert world.alerts("absence_reported") == [], "the police do not know yet"

    world.receiver.set_default("police", "ok")
    world.advance(minutes=11)
    world.receiver.wait_delivered(1, "police")
    deadline = time.monotonic() + 10
    while world.alerts("notification_failing")[0]["resolved_at"] is None:
        assert time.monotonic() < deadline, "notification_failing was not resolved"
        time.sleep(0.05)
    assert len(world.alerts("notification_failing")) == 1
    # Now every authority has it.
    reported = world.alerts("absence_reported")
    assert len(reported) == 1
    assert sorted(reported[0]["details"]["authorities"]) == sorted(AUTHORITIES)


def test_absence_reported_alert_once_every_authority_has_it(world):
    res = world.resident()
    absence = world.report(res["id"], known_departure=True)
    world.receiver.wait_delivered(3)
    deadline = time.monotonic() + 10
    while not world.alerts("absence_reported"):
        assert time.monotonic() < deadline, "no absence_reported alert"
        time.sleep(0.05)
    time.sleep(0.3)
    reported = world.alerts("absence_reported")
    assert len(reported) == 1
    alert = reported[0]
    assert alert["absence"] == absence["id"]
    assert alert["resident"] == res["id"]
    assert alert["details"]["reason"] == "known_departure"
    sent = {q.authority: q.event_id for q in world.receiver.requests()}
    assert alert["details"]["event_ids"] == sent
    assert world.alerts("notification_failing") == []
