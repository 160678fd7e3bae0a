"""On-call channels (SPEC sections 4 and 10, v2), the webhook kind: a centre's oncall_channels
set through the centre's create and PATCH, validated (400 naming e.g.
oncall_channels[1].secret), secrets never shown; every raise, repeat and escalation at or above
a channel's min_priority goes to it once (counted by event id), signed the Standard Webhooks
way with the body {"type","event_id","alert"}; a failing channel is retried with the same
event id, raises notification_failing naming the channel, and never delays the authorities."""

import datetime

import pytest
from harness import error_of, ok
from harness import webhooks as wh

MIN = datetime.timedelta(minutes=1)


@pytest.fixture
def world(daemon_factory, receiver):
    rc = daemon_factory(config=wh.notify_config(receiver.ca))
    return wh.World(rc, receiver)


def channel(receiver, path, secret, min_priority="normal"):
    return {"kind": "webhook", "url": receiver.url(path), "secret": secret,
            "min_priority": min_priority}


def set_channels(world, channels):
    return ok(world.rc.admin.patch(f"/v1/centres/{world.id}", json={"oncall_channels": channels}))


def channel_requests(receiver, path):
    return receiver.requests(path)


def test_channels_are_set_shown_without_secrets_and_validated(world, receiver):
    secret = wh.new_secret()
    body = set_channels(world, [
        {"kind": "email", "to": "oncall@example.org", "min_priority": "urgent"},
        channel(receiver, "oncall", secret)])
    assert body["oncall_channels"] == [
        {"kind": "email", "to": "oncall@example.org", "min_priority": "urgent"},
        {"kind": "webhook", "url": receiver.url("oncall"), "min_priority": "normal"}]
    shown = ok(world.staff.get(f"/v1/centres/{world.id}"))
    assert shown["oncall_channels"] == body["oncall_channels"]
    assert secret not in str(shown)
    # A patch naming the webhook without its secret keeps the stored one.
    kept = set_channels(world, [{"kind": "webhook", "url": receiver.url("oncall"),
                                 "min_priority": "info"}])
    assert kept["oncall_channels"] == [
        {"kind": "webhook", "url": receiver.url("oncall"), "min_priority": "info"}]
    assert world.rc.db.scalar("SELECT secret FROM oncall_channels WHERE centre = %s "
                              "AND removed_at IS NULL", world.id) == secret

    bad = [
        ([channel(receiver, "oncall", secret),
          {"kind": "webhook", "url": receiver.url("x"), "secret": "hunter2hunter2"}],
         "oncall_channels[1].secret"),
        ([{"kind": "webhook", "url": receiver.url("y"), "min_priority": "normal"}],
         "oncall_channels[0].secret"),
        ([{"kind": "webhook", "url": "http://example.org/x", "secret": secret}],
         "oncall_channels[0].url"),
        ([{"kind": "email", "to": "not an address"}], "oncall_channels[0].to"),
        ([{"kind": "email", "to": "a@example.org\r\nBcc: b@example.org"}],
         "oncall_channels[0].to"),
        ([{"kind": "email"}], "oncall_channels[0].to"),
        ([{"kind": "email", "to": "a@example.org", "min_priority": "high"}],
         "oncall_channels[0].min_priority"),
        ([{"kind": "sms", "to": "+4512345678"}], "oncall_channels[0].kind"),
    ]
    for channels, field in bad:
        err = error_of(world.rc.admin.patch(f"/v1/centres/{world.id}",
                                            json={"oncall_channels": channels}), 400)
        assert err["field"] == field, (channels, err)
    # Nothing changed by the refused ones.
    assert ok(world.staff.get(f"/v1/centres/{world.id}"))["oncall_channels"] == \
        kept["oncall_channels"]
    # And a centre is created with its channels.
    made = ok(world.rc.admin.post("/v1/centres", json={
        "name": "Ask4US", "oncall_channels": [channel(receiver, "ask", secret, "urgent")]}), 201)
    assert made["oncall_channels"] == [
        {"kind": "webhook", "url": receiver.url("ask"), "min_priority": "urgent"}]


def test_raise_repeat_and_escalation_each_reach_the_channel_once_signed(world, receiver):
    secret = wh.new_secret()
    set_channels(world, [channel(receiver, "oncall", secret, "normal"),
                         channel(receiver, "urgent-only", wh.new_secret(), "urgent")])
    resident = world.resident_id()
    absence = world.report(resident)
    alert_id = [a for a in world.alerts("resident_absent") if a["absence"] == absence["id"]][0]["id"]

    def of_alert():
        return [r for r in channel_requests(receiver, "oncall")
                if r.json["alert"]["id"] == alert_id]

    def wait_count(n):
        receiver.wait_for(lambda reqs: len([r for r in of_alert() if r.delivered]) >= n,
                          what=f"{n} deliveries of alert {alert_id}")

    wait_count(1)
    world.advance(minutes=5)
    wait_count(2)
    world.advance(minutes=5)
    wait_count(3)
    world.advance(minutes=5)  # 15 minutes: escalated (the repeat due then is the same message)
    wait_count(4)
    world.advance(minutes=1)
    got = of_alert()
    types = [r.json["type"] for r in got]
    assert types == ["alert.raised", "alert.repeated", "alert.repeated", "alert.escalated"], types
    assert len({r.event_id for r in got}) == 4  # each event once, each with its own id
    for r in got:
        assert wh.verify(secret, r.headers, r.body), r
        body = r.json
        assert set(body) == {"type", "event_id", "alert"}
        assert body["event_id"] == r.event_id
        assert body["alert"]["kind"] == "resident_absent"
        assert body["alert"]["priority"] == "normal"
        assert body["alert"]["centre"] == world.id
    assert got[-1].json["alert"]["escalated_at"] is not None
    # Every event of every alert went out once: no event id twice.
    every = [r.event_id for r in channel_requests(receiver, "oncall")]
    assert len(every) == len(set(every))
    # The urgent-only channel heard nothing of the normal alert (only urgent ones, such as
    # absence_reported: the threshold had passed, so the authorities were notified at once).
    urgent_only = channel_requests(receiver, "urgent-only")
    assert all(r.json["alert"]["priority"] == "urgent" for r in urgent_only)
    assert alert_id not in {r.json["alert"]["id"] for r in urgent_only}
    deliveries = ok(world.oncall.get(
        f"/v1/centres/{world.id}/channel-deliveries?alert={alert_id}&limit=1000"))["items"]
    assert [d["type"] for d in deliveries if d["channel"]["url"] == receiver.url("oncall")] \
        == types
    assert all(d["delivered_at"] for d in deliveries)


def test_priority_threshold_concern_is_urgent_and_info_is_not_sent(world, receiver):
    set_channels(world, [channel(receiver, "urgent-only", wh.new_secret(), "urgent"),
                         channel(receiver, "normal", wh.new_secret(), "normal")])
    resident = world.resident_id()
    absence = world.report(resident, concern="threatened to run away")
    urgent = receiver.wait_delivered(1, "urgent-only")
    alert = [r for r in urgent if r.authority == "urgent-only"][0].json["alert"]
    assert alert["kind"] == "resident_absent" and alert["priority"] == "urgent"
    world.advance(minutes=1)
    ok(world.staff.post(f"/v1/absences/{absence['id']}/return", json={}))
    world.advance(minutes=1)
    # resident_returned is info: neither channel gets it.
    kinds = {(r.authority, r.json["alert"]["kind"]) for r in receiver.requests()
             if r.authority in ("urgent-only", "normal")}
    assert ("normal", "resident_returned") not in kinds
    assert ("urgent-only", "resident_returned") not in kinds
    assert ("normal", "resident_absent") in kinds


def test_failing_channel_is_retried_visible_and_never_delays_authorities(world, receiver):
    secret = wh.new_secret()
    set_channels(world, [channel(receiver, "oncall", secret, "normal")])
    receiver.set_default("oncall", "500")
    resident = world.resident_id()
    world.report(resident, known_departure=True)  # the authorities are notified at once
    for authority in wh.AUTHORITIES:
        receiver.wait_delivered(1, authority)
    receiver.wait_for(lambda reqs: any(r.authority == "oncall" for r in reqs))
    first = channel_requests(receiver, "oncall")[0]
    assert first.json["type"] == "alert.raised" and not first.delivered
    # The authorities' notifications were delivered meanwhile, whatever the channel does.
    # (The receiver has them; the daemon records each delivery an instant later.)
    notes = world.wait_notifications(
        lambda items: len([n for n in items if n["type"] == "absence.reported"]) == 3
        and all(n["delivered_at"] for n in items if n["type"] == "absence.reported"),
        what="the three absence.reported deliveries recorded")
    assert all(n["attempts"] == 1 for n in notes if n["type"] == "absence.reported")
    # Retried with backoff on the daemon clock, with the same event id.
    world.advance(minutes=1)
    receiver.wait_for(lambda reqs: len([r for r in reqs if r.authority == "oncall"
                                        and r.event_id == first.event_id]) >= 2,
                      what="a retry of the channel's first event")
    delivery = [d for d in ok(world.oncall.get(f"/v1/centres/{world.id}/channel-deliveries"))
                ["items"] if d["event_id"] == first.event_id][0]
    assert delivery["attempts"] >= 1 and delivery["last_error"].startswith("HTTP 500")
    # 15 minutes after it fell due: notification_failing names the channel.
    world.advance(minutes=15)
    failing = [a for a in world.alerts("notification_failing")
               if a["details"].get("channel") is not None]
    assert len(failing) == 1, failing
    assert failing[0]["priority"] == "urgent"
    assert failing[0]["details"]["address"] == receiver.url("oncall")
    assert "HTTP 500" in failing[0]["details"]["last_error"]
    # Back: the backlog goes out, each event once delivered, and the failing alert resolves.
    receiver.set_default("oncall", "ok")
    world.advance(minutes=15)
    receiver.wait_for(lambda reqs: first.event_id in {r.event_id for r in reqs
                                                      if r.authority == "oncall"
                                                      and r.delivered},
                      what="the first event delivered")
    world.advance(minutes=1)
    delivered = [r.event_id for r in receiver.delivered("oncall")]
    assert len(delivered) == len(set(delivered))  # no event delivered twice
    # The failing alert is never sent to the channel it is about.
    assert all(r.json["alert"]["kind"] != "notification_failing"
               for r in channel_requests(receiver, "oncall"))
    resolved = [a for a in world.alerts("notification_failing")
                if a["details"].get("channel") is not None]
    assert resolved[0]["resolved_at"] is not None
