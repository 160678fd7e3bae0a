"""On-call alerts (SPEC section 4): stored and listed, acknowledged (who and when, twice is
harmless), announced again every 5 minutes while unacknowledged, escalated after 15 minutes
(both per centre), announced once after a clock jump however many repeats were missed, and
round_overdue naming the residents not yet accounted for."""

import datetime

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"
MIN = datetime.timedelta(minutes=1)


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "08:00"))
    return Centre(rc)


def raise_absent(rc, centre, hhmm="10:00"):
    """A resident_absent alert raised at hhmm by a staff report."""
    resident = centre.resident()
    rc.set_clock(at(DAY, hhmm))
    absence = centre.report(resident, expect=(201,))
    alerts = [a for a in centre.alerts_of("resident_absent") if a["absence"] == absence["id"]]
    assert len(alerts) == 1
    return alerts[0]


def alert(centre, alert_id):
    found = [a for a in centre.alerts() if a["id"] == alert_id]
    assert len(found) == 1
    return found[0]


def test_alert_has_the_spec_fields(rc, centre):
    a = raise_absent(rc, centre)
    assert set(a) >= {"id", "kind", "centre", "resident", "absence", "raised_at",
                      "last_announced_at", "acked_at", "acked_by", "escalated_at",
                      "resolved_at", "details"}
    assert a["centre"] == centre.id
    assert instant(a["raised_at"]) == instant(a["last_announced_at"]) == local(DAY, "10:00")
    assert a["acked_at"] is None and a["escalated_at"] is None and a["resolved_at"] is None


def test_ack_records_who_and_when_and_twice_is_harmless(rc, centre):
    a = raise_absent(rc, centre)
    rc.set_clock(at(DAY, "10:02"))
    first = ok(centre.oncall.post(f"/v1/alerts/{a['id']}/ack", json={}))
    assert first["acked_by"] == centre.oncall_cn
    assert instant(first["acked_at"]) == local(DAY, "10:02")
    rc.set_clock(at(DAY, "10:03"))
    second = ok(centre.manager.post(f"/v1/alerts/{a['id']}/ack"))
    assert second["acked_by"] == centre.oncall_cn
    assert instant(second["acked_at"]) == local(DAY, "10:02")
    # Acknowledged: no more repeats, no escalation.
    rc.set_clock(at(DAY, "11:00"))
    after = alert(centre, a["id"])
    assert instant(after["last_announced_at"]) == local(DAY, "10:00")
    assert after["escalated_at"] is None
    assert a["id"] not in [x["id"] for x in centre.alerts(state="open")]
    assert a["id"] in [x["id"] for x in centre.alerts(state="acked")]


def test_ack_needs_oncall_or_manager_of_the_centre(rc, centre):
    a = raise_absent(rc, centre)
    error_of(centre.staff.post(f"/v1/alerts/{a['id']}/ack", json={}), 403)
    error_of(centre.staff.get(f"/v1/alerts?centre={centre.id}"), 403)
    other = Centre(rc, prefix="elsewhere")
    error_of(other.oncall.post(f"/v1/alerts/{a['id']}/ack", json={}), 403)
    error_of(centre.oncall.post("/v1/alerts/987654321/ack", json={}), 404)
    assert alert(centre, a["id"])["acked_at"] is None


def test_repeat_every_5_minutes_and_escalation_after_15(rc, centre):
    a = raise_absent(rc, centre, "10:00")
    raised = local(DAY, "10:00")
    rc.set_clock((raised + 4 * MIN).isoformat())
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised
    rc.set_clock((raised + 5 * MIN).isoformat())
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + 5 * MIN
    rc.set_clock((raised + 10 * MIN).isoformat())
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + 10 * MIN
    rc.set_clock((raised + 14 * MIN).isoformat())
    assert alert(centre, a["id"])["escalated_at"] is None
    rc.set_clock((raised + 15 * MIN).isoformat())
    esc = alert(centre, a["id"])
    assert instant(esc["escalated_at"]) == raised + 15 * MIN
    assert instant(esc["last_announced_at"]) == raised + 15 * MIN
    rc.set_clock((raised + 20 * MIN).isoformat())
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + 20 * MIN


def test_clock_moved_by_hours_announces_once(rc, centre):
    a = raise_absent(rc, centre, "10:00")
    raised = local(DAY, "10:00")
    with centre.stream() as watcher:
        watcher.collect(lambda evs: watcher.head is not None, timeout=10)
        rc.set_clock((raised + datetime.timedelta(hours=3)).isoformat())
        events = [e for e in watcher.drain(quiet=1.0, names=("alert",))
                  if e.alert["id"] == a["id"]]
    # Missed: 35 repeats and the escalation. Announced: once.
    assert len(events) == 1, events
    assert instant(events[0].alert["escalated_at"]) == raised + datetime.timedelta(hours=3)
    after = alert(centre, a["id"])
    assert instant(after["last_announced_at"]) == raised + datetime.timedelta(hours=3)
    # And the next repeat comes one interval later, not at once.
    rc.set_clock((raised + datetime.timedelta(hours=3, minutes=4)).isoformat())
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + datetime.timedelta(
        hours=3)


def test_repeat_and_escalation_are_per_centre(rc):
    rc.set_clock(at(DAY, "08:00"))
    fast = Centre(rc, prefix="fast", repeat_minutes=2, escalate_minutes=4)
    a = raise_absent(rc, fast, "10:00")
    raised = local(DAY, "10:00")
    rc.set_clock((raised + 2 * MIN).isoformat())
    assert instant(alert(fast, a["id"])["last_announced_at"]) == raised + 2 * MIN
    rc.set_clock((raised + 4 * MIN).isoformat())
    assert instant(alert(fast, a["id"])["escalated_at"]) == raised + 4 * MIN


def test_round_overdue_names_the_residents_not_accounted_for(rc, centre):
    seen = centre.resident(given_name="Seen")
    missing1 = centre.resident(given_name="Missing")
    missing2 = centre.resident(given_name="Also missing")
    rc.set_clock(at(DAY, "15:10"))
    centre.round(DAY, 2, {seen: "present"})
    rc.set_clock(at(DAY, "15:59"))
    assert [a for a in centre.alerts_of("round_overdue")
            if a["details"]["date"] == DAY and a["details"]["slot"] == 2] == []
    rc.set_clock(at(DAY, "16:00"))  # 15:00 + 60 minutes' grace
    overdue = [a for a in centre.alerts_of("round_overdue")
               if a["details"]["date"] == DAY and a["details"]["slot"] == 2]
    assert len(overdue) == 1
    assert sorted(overdue[0]["details"]["missing"]) == sorted([missing1, missing2])
    assert instant(overdue[0]["raised_at"]) == local(DAY, "16:00")
    # They are not presumed absent.
    for r in (missing1, missing2):
        assert centre.open_absence(r) is None
    # Completing the round resolves the alert: no more calls about a finished round.
    rc.set_clock(at(DAY, "16:07"))  # the 16:05 repeat is decided on the way
    centre.round(DAY, 2, {missing1: "present", missing2: "present"})
    assert alert(centre, overdue[0]["id"])["resolved_at"] is not None
    rc.set_clock(at(DAY, "17:00"))
    assert instant(alert(centre, overdue[0]["id"])["last_announced_at"]) == local(DAY, "16:07")


def test_a_complete_round_raises_nothing(rc, centre):
    r = centre.resident()
    rc.set_clock(at(DAY, "15:05"))
    centre.round(DAY, 2, {r: "present"})
    rc.set_clock(at(DAY, "17:00"))
    assert [a for a in centre.alerts_of("round_overdue") if a["details"]["slot"] == 2
            and a["details"]["date"] == DAY] == []


def test_turning_18_warns_managers_30_days_ahead(rc):
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc, prefix="t18")
    # 18 on 2026-12-25: warned from local midnight of 2026-11-25.
    resident = centre.resident(date_of_birth="2008-12-25")
    rc.set_clock(at("2026-11-24", "23:59"))
    assert centre.alerts_of("turning_18") == []
    rc.set_clock(at("2026-11-25", "00:00"))
    warned = centre.alerts_of("turning_18")
    assert len(warned) == 1 and warned[0]["resident"] == resident
    assert warned[0]["details"]["birthday"] == "2026-12-25"
    listed = ok(centre.manager.get(f"/v1/alerts?centre={centre.id}&kind=turning_18"))["items"]
    assert [a["id"] for a in listed] == [warned[0]["id"]]
    rc.set_clock(at("2026-11-26", "00:00"))
    assert len(centre.alerts_of("turning_18")) == 1


def test_turning_18_follows_a_corrected_date_of_birth(rc):
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc, prefix="t18b")
    resident = centre.resident(date_of_birth="2009-06-01")
    # The age assessment finds him a year older: 18 on 2026-12-10, warned on 2026-11-10,
    # which has passed: warned at once.
    ok(centre.manager.patch(f"/v1/residents/{resident}",
                            json={"date_of_birth": "2008-12-10", "reason": "age assessment"}))
    rc.set_clock(at(DAY, "08:01"))
    warned = centre.alerts_of("turning_18")
    assert len(warned) == 1 and warned[0]["details"]["birthday"] == "2026-12-10"


def test_alert_list_pages_and_filters(rc, centre):
    ids = [raise_absent(rc, centre, f"10:0{i}")["id"] for i in range(3)]
    body = ok(centre.oncall.get(f"/v1/alerts?centre={centre.id}&kind=resident_absent&limit=2"))
    assert [a["id"] for a in body["items"]] == ids[:2] and body["next"]
    rest = ok(centre.oncall.get(
        f"/v1/alerts?centre={centre.id}&kind=resident_absent&limit=2&after={body['next']}"))
    assert [a["id"] for a in rest["items"]] == ids[2:] and rest["next"] is None
    error_of(centre.oncall.get(f"/v1/alerts?centre={centre.id}&state=sleeping"), 400)
