"""Alert kinds as data (SPEC section 4, v2): each kind's priority and repeat and escalation
times are rows an admin changes with PUT /v1/alert-kinds/{kind}; the defaults are SPEC's (info
kinds neither repeated nor escalated); every alert carries its priority, in the API and on the
stream; a resident_absent alert whose absence has a concern or a known departure is urgent, and
a concern raised later re-announces the open alert at once; a change applies to the next repeat
of open alerts."""

import datetime

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"
MIN = datetime.timedelta(minutes=1)

DEFAULTS = {
    "resident_absent": ("normal", 5, 15),
    "round_overdue": ("normal", 5, 15),
    "absence_reported": ("urgent", 5, 15),
    "notification_failing": ("urgent", 5, 15),
    "resident_returned": ("info", None, None),
    "turning_18": ("info", None, None),
    "notification_unconfirmed": ("urgent", 5, 15),
}


def as_json(kind, priority, repeat, escalate):
    return {"kind": kind, "priority": priority, "repeat_minutes": repeat,
            "escalate_minutes": escalate}


@pytest.fixture
def kinds(rc):
    """Puts every kind back to SPEC's defaults after the test: the module shares one daemon."""
    yield rc.admin
    for kind, (priority, repeat, escalate) in DEFAULTS.items():
        ok(rc.admin.put(f"/v1/alert-kinds/{kind}", json={
            "priority": priority, "repeat_minutes": repeat, "escalate_minutes": escalate}))


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "08:00"))
    return Centre(rc)


def alert(centre, alert_id):
    found = [a for a in centre.alerts() if a["id"] == alert_id]
    assert len(found) == 1
    return found[0]


def raise_absent(rc, centre, hhmm="10:00", **report):
    resident = centre.resident()
    rc.set_clock(at(DAY, hhmm))
    absence = centre.report(resident, expect=(201,), **report)
    found = [a for a in centre.alerts_of("resident_absent") if a["absence"] == absence["id"]]
    assert len(found) == 1
    return found[0]


def test_defaults_are_specs_and_oncall_and_manager_may_read_them(rc, centre):
    listed = ok(centre.oncall.get("/v1/alert-kinds"))
    assert listed["next"] is None
    assert {k["kind"]: k for k in listed["items"]} == {
        kind: as_json(kind, *values) for kind, values in DEFAULTS.items()}
    assert ok(centre.manager.get("/v1/alert-kinds/turning_18")) == as_json(
        "turning_18", "info", None, None)
    error_of(centre.staff.get("/v1/alert-kinds"), 403)


def test_put_is_admin_only_and_audited(rc, centre, kinds):
    error_of(centre.manager.put("/v1/alert-kinds/round_overdue", json={"priority": "urgent"}),
             403)
    assert ok(rc.admin.get("/v1/alert-kinds/round_overdue"))["priority"] == "normal"
    changed = ok(rc.admin.put("/v1/alert-kinds/round_overdue",
                              json={"priority": "urgent", "repeat_minutes": 7}))
    assert changed == as_json("round_overdue", "urgent", 7, 15)
    assert ok(centre.oncall.get("/v1/alert-kinds/round_overdue")) == changed
    rows = rc.db.query("SELECT cn, detail FROM audit WHERE action = 'alert_kind.put' "
                       "ORDER BY id DESC LIMIT 1")
    assert rows[0][0] == "admin"
    assert rows[0][1]["after"] == changed


@pytest.mark.parametrize("path, body, field", [
    ("/v1/alert-kinds/no_such_kind", {"priority": "urgent"}, "kind"),
    ("/v1/alert-kinds/round_overdue", {"priority": "critical"}, "priority"),
    ("/v1/alert-kinds/round_overdue", {"repeat_minutes": -5}, "repeat_minutes"),
    ("/v1/alert-kinds/round_overdue", {"escalate_minutes": -1}, "escalate_minutes"),
    ("/v1/alert-kinds/round_overdue", {"repeat_minutes": 0}, "repeat_minutes"),
    ("/v1/alert-kinds/round_overdue", {"repeat_minutes": "5"}, "repeat_minutes"),
    ("/v1/alert-kinds/round_overdue", {"often": 5}, "often"),
])
def test_bad_input_is_400_naming_the_field_and_changes_nothing(rc, kinds, path, body, field):
    err = error_of(rc.admin.put(path, json=body), 400)
    assert err["field"] == field, err
    assert ok(rc.admin.get("/v1/alert-kinds/round_overdue")) == as_json(
        "round_overdue", "normal", 5, 15)


def test_unknown_kind_get_is_400_naming_kind(rc):
    assert error_of(rc.admin.get("/v1/alert-kinds/no_such_kind"), 400)["field"] == "kind"


def test_alerts_carry_their_priority(rc, centre):
    plain = raise_absent(rc, centre, "10:00")
    assert plain["priority"] == "normal"
    concern = raise_absent(rc, centre, "10:01", concern="said he would run away")
    assert concern["priority"] == "urgent"
    departed = raise_absent(rc, centre, "10:02", known_departure=True)
    assert departed["priority"] == "urgent"
    listed = {a["id"]: a["priority"] for a in centre.alerts()}
    assert listed[plain["id"]] == "normal"
    # Authorities were notified at once for the concern (no endpoint here: never delivered),
    # and the return raises resident_returned, an info alert.
    rc.set_clock(at(DAY, "10:03"))
    ok(centre.staff.post(f"/v1/absences/{plain['absence']}/return", json={}))
    returned = [a for a in centre.alerts_of("resident_returned")
                if a["absence"] == plain["absence"]]
    assert [a["priority"] for a in returned] == ["info"]
    acked = ok(centre.oncall.post(f"/v1/alerts/{concern['id']}/ack", json={}))
    assert acked["priority"] == "urgent"


def test_priority_on_the_stream_and_a_later_concern_reannounces_at_once(rc, centre):
    with centre.stream() as watcher:
        watcher.collect(lambda evs: watcher.head is not None, timeout=10)
        a = raise_absent(rc, centre, "10:00")
        first = watcher.collect(
            lambda evs: any(e.alert["id"] == a["id"] for e in evs), names=("alert",))
        assert [e.alert["priority"] for e in first if e.alert["id"] == a["id"]] == ["normal"]
        rc.set_clock(at(DAY, "10:02"))
        ok(centre.staff.post(f"/v1/absences/{a['absence']}/concern",
                             json={"text": "phone found in his room"}))
        again = watcher.collect(
            lambda evs: any(e.alert["id"] == a["id"] and e.alert["priority"] == "urgent"
                            for e in evs), names=("alert",))
    urgent = [e.alert for e in again if e.alert["id"] == a["id"]]
    assert instant(urgent[-1]["last_announced_at"]) == local(DAY, "10:02")
    # Its next repeat counts from the re-announcement.
    rc.set_clock(at(DAY, "10:06"))
    assert instant(alert(centre, a["id"])["last_announced_at"]) == local(DAY, "10:02")
    rc.set_clock(at(DAY, "10:07"))
    assert instant(alert(centre, a["id"])["last_announced_at"]) == local(DAY, "10:07")


def test_info_kinds_are_never_repeated_nor_escalated(rc, centre):
    a = raise_absent(rc, centre, "10:00")
    rc.set_clock(at(DAY, "10:01"))
    ok(centre.staff.post(f"/v1/absences/{a['absence']}/return", json={}))
    returned = [x for x in centre.alerts_of("resident_returned") if x["absence"] == a["absence"]]
    assert len(returned) == 1
    rc.set_clock(at(DAY, "13:00"))
    after = alert(centre, returned[0]["id"])
    assert after["acked_at"] is None
    assert instant(after["last_announced_at"]) == local(DAY, "10:01")
    assert after["escalated_at"] is None
    count = rc.db.query("SELECT count(*) FROM alert_events WHERE alert = %s", returned[0]["id"])
    assert count[0][0] == 1


def test_put_applies_to_the_next_repeat_of_open_alerts(rc, centre, kinds):
    a = raise_absent(rc, centre, "10:00")
    raised = local(DAY, "10:00")
    rc.set_clock(at(DAY, "10:01"))
    ok(rc.admin.put("/v1/alert-kinds/resident_absent",
                    json={"repeat_minutes": 10, "escalate_minutes": 30}))
    rc.set_clock(at(DAY, "10:09"))
    now = alert(centre, a["id"])
    assert instant(now["last_announced_at"]) == raised  # the old 5 minutes no longer apply
    rc.set_clock(at(DAY, "10:10"))
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + 10 * MIN
    rc.set_clock(at(DAY, "10:29"))
    assert alert(centre, a["id"])["escalated_at"] is None  # not at 15 any more
    rc.set_clock(at(DAY, "10:30"))
    assert instant(alert(centre, a["id"])["escalated_at"]) == raised + 30 * MIN
    # A shorter time applies at once to the next repeat.
    ok(rc.admin.put("/v1/alert-kinds/resident_absent", json={"repeat_minutes": 2}))
    rc.set_clock(at(DAY, "10:32"))
    assert instant(alert(centre, a["id"])["last_announced_at"]) == raised + 32 * MIN
    # And to alerts raised afterwards.
    b = raise_absent(rc, centre, "10:40")
    rc.set_clock(at(DAY, "10:42"))
    assert instant(alert(centre, b["id"])["last_announced_at"]) == local(DAY, "10:42")


def test_a_kind_made_info_stops_repeating_and_a_centre_time_overrides(rc, kinds):
    rc.set_clock(at(DAY, "08:00"))
    fast = Centre(rc, prefix="fast", repeat_minutes=3)
    assert fast.body["repeat_minutes"] == 3 and fast.body["escalate_minutes"] is None
    a = raise_absent(rc, fast, "10:00")
    rc.set_clock(at(DAY, "10:03"))
    assert instant(alert(fast, a["id"])["last_announced_at"]) == local(DAY, "10:03")
    ok(rc.admin.put("/v1/alert-kinds/resident_absent", json={"priority": "info"}))
    rc.set_clock(at(DAY, "11:00"))
    after = alert(fast, a["id"])
    assert after["priority"] == "info"
    assert instant(after["last_announced_at"]) == local(DAY, "10:03")
    assert after["escalated_at"] is None


def test_the_client_shows_the_priority(rc, centre):
    plain = raise_absent(rc, centre, "10:00")
    urgent = raise_absent(rc, centre, "10:01", concern="left a note")
    code, out, err = rc.client(centre.oncall_cn, "alerts", "--centre", centre.id)
    assert code == 0, err
    assert "PRIORITY" in out.splitlines()[0]
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "URGENT" in rows[str(urgent["id"])] and "normal" in rows[str(plain["id"])]
    code, out, err = rc.client(centre.oncall_cn, "--json", "alerts", "--centre", centre.id)
    assert code == 0, err
    assert '"priority": "urgent"' in out or '"priority":"urgent"' in out
