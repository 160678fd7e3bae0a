"""Receipts confirmed by a person (SPEC sections 5 and 10, v2): POST
/v1/notifications/{event_id}/receipt by the authority account of that authority (its own
centres' notifications; any other event id answered exactly as one that does not exist) or by
staff+ of the centre recording a confirmation given by phone; a second receipt answers the first;
notifications show "receipt"; and notification_unconfirmed receipt_minutes (default 30, null off)
after delivery, on the test clock, once, resolved by the receipt, also across a restart.
"""

import datetime

from harness import error_of, instant, ok
from harness.webhooks import AUTHORITIES, World, by_authority


def delivered(world, res):
    """Reports res as gone (known departure: notified at once) and waits until all three
    authorities have it. Returns {authority: notification}."""
    world.report(res["id"], known_departure=True)
    world.receiver.wait_delivered(3)
    return by_authority(world.wait_notifications(
        lambda items: len(items) == 3 and all(i["delivered_at"] for i in items),
        resident=res["id"]))


def unconfirmed(world):
    return world.alerts("notification_unconfirmed")


def receipt_path(event_id):
    return f"/v1/notifications/{event_id}/receipt"


def authority_api(world, kind, centres=None):
    cn = world.rc.unique(f"{kind}-receipts-")
    world.rc.create_account(cn, "authority", centres or [world.centre], authority=kind)
    return world.rc.api(cn)


def test_unconfirmed_at_receipt_minutes_once_and_resolved_by_the_receipt(world):
    res = world.resident()
    sent = delivered(world, res)
    t = world.now
    for n in sent.values():
        assert instant(n["delivered_at"]) == t
        assert n["receipt"] is None
    world.advance(minutes=29)
    assert unconfirmed(world) == []
    world.advance(minutes=1)
    raised = unconfirmed(world)
    assert sorted(a["details"]["authority"] for a in raised) == sorted(AUTHORITIES), raised
    for a in raised:
        n = sent[a["details"]["authority"]]
        assert a["details"]["event_id"] == n["event_id"]
        assert instant(a["details"]["delivered_at"]) == t
        assert a["priority"] == "urgent"
        assert a["resident"] == res["id"]
        assert instant(a["raised_at"]) == t + datetime.timedelta(minutes=30)
    world.advance(minutes=45)
    assert len(unconfirmed(world)) == 3, "raised once per delivery"
    police = authority_api(world, "police")
    ok(police.post(receipt_path(sent["police"]["event_id"]),
                   json={"received_by": "Duty officer Hansen", "reference": "SJY-2026-118"}), 201)
    by_kind = {a["details"]["authority"]: a for a in unconfirmed(world)}
    assert instant(by_kind["police"]["resolved_at"]) == world.now
    assert by_kind["municipality"]["resolved_at"] is None
    assert by_kind["immigration"]["resolved_at"] is None


def test_a_receipt_before_the_deadline_means_no_alert(world):
    res = world.resident()
    sent = delivered(world, res)
    world.advance(minutes=10)
    for kind, n in sent.items():
        ok(world.staff.post(receipt_path(n["event_id"]),
                            json={"received_by": f"{kind} desk", "reference": None}), 201)
    world.advance(minutes=60)
    assert unconfirmed(world) == []


def test_receipt_minutes_null_turns_the_check_off(world):
    centre = ok(world.staff.get(f"/v1/centres/{world.centre}"))
    assert centre["receipt_minutes"] == 30
    for bad in (0, -1, 10081, "30", 1.5):
        err = error_of(world.rc.admin.patch(f"/v1/centres/{world.centre}",
                                            json={"receipt_minutes": bad}), 400)
        assert err["field"] == "receipt_minutes", (bad, err)
    off = ok(world.rc.admin.patch(f"/v1/centres/{world.centre}", json={"receipt_minutes": None}))
    assert off["receipt_minutes"] is None
    delivered(world, world.resident())
    world.advance(hours=3)
    assert unconfirmed(world) == []


def test_a_centres_receipt_minutes_is_its_own(world):
    ok(world.rc.admin.patch(f"/v1/centres/{world.centre}", json={"receipt_minutes": 5}))
    delivered(world, world.resident())
    world.advance(minutes=4)
    assert unconfirmed(world) == []
    world.advance(minutes=1)
    assert len(unconfirmed(world)) == 3
    created = ok(world.rc.admin.post("/v1/centres", json={
        "id": "receipts-new", "name": "N", "receipt_minutes": None}), 201)
    assert created["receipt_minutes"] is None
    assert ok(world.rc.admin.post("/v1/centres", json={"id": "receipts-default", "name": "D"}),
              201)["receipt_minutes"] == 30


def test_authority_confirms_its_own_and_a_second_receipt_answers_the_first(world):
    res = world.resident()
    sent = delivered(world, res)
    police = authority_api(world, "police")
    event = sent["police"]["event_id"]
    first = ok(police.post(receipt_path(event), json={"received_by": "Officer Jensen",
                                                      "reference": "POL-77"}), 201)
    assert first["event_id"] == event and first["authority"] == "police"
    assert first["received_by"] == "Officer Jensen" and first["reference"] == "POL-77"
    assert first["recorded_by"] == police.cn
    assert instant(first["at"]) == world.now
    world.advance(minutes=3)
    again = ok(police.post(receipt_path(event), json={"received_by": "Someone else"}), 200)
    assert {k: again[k] for k in ("at", "received_by", "reference", "recorded_by")} == {
        k: first[k] for k in ("at", "received_by", "reference", "recorded_by")}
    assert world.rc.db.scalar(
        "SELECT count(*) FROM notification_receipts r JOIN deliveries d ON d.id = r.delivery "
        "WHERE d.event_id = %s", event) == 1
    # Notifications show it, to staff and to the authority.
    for api in (world.staff, police):
        items = by_authority(world.notifications(api=api, resident=res["id"]))
        assert items["police"]["receipt"] == {
            "at": first["at"], "received_by": "Officer Jensen", "reference": "POL-77",
            "recorded_by": police.cn}
    assert by_authority(world.notifications(resident=res["id"]))["municipality"]["receipt"] is None
    # Audited, naming the resident.
    rows = ok(world.rc.admin.get(f"/v1/audit?resident={res['id']}&limit=1000"))["items"]
    receipts = [r for r in rows if r["action"] == "notification_receipt"]
    assert [r["cn"] for r in receipts] == [police.cn, police.cn]
    assert receipts[0]["detail"]["event_id"] == event


def test_others_get_the_answer_of_an_event_that_does_not_exist(world):
    res = world.resident()
    sent = delivered(world, res)
    event = sent["police"]["event_id"]
    body = {"received_by": "x"}
    missing = error_of(authority_api(world, "police").post(
        receipt_path("evt_" + "0" * 32), json=body), 404)
    # Another authority of the same centre, and the police of another centre.
    other_kind = authority_api(world, "municipality")
    elsewhere = World(world.rc, world.receiver)
    police_elsewhere = authority_api(world, "police", centres=[elsewhere.centre])
    for api in (other_kind, police_elsewhere):
        err = error_of(api.post(receipt_path(event), json=body), 404)
        assert err["code"] == missing["code"] and err["field"] == missing["field"]
        assert event in err["message"] and world.centre not in err["message"]
    # Staff of another centre: 403 naming only the event.
    err = error_of(elsewhere.staff.post(receipt_path(event), json=body), 403)
    assert world.centre not in err["message"] and event in err["message"]
    error_of(world.staff.post(receipt_path("evt_" + "0" * 32), json=body), 404)
    assert all(n["receipt"] is None for n in world.notifications(resident=res["id"]))


def test_staff_record_a_confirmation_given_by_phone(world):
    res = world.resident()
    sent = delivered(world, res)
    got = ok(world.oncall.post(receipt_path(sent["immigration"]["event_id"]),
                               json={"received_by": "Udlændingestyrelsen, vagten"}), 201)
    assert got["recorded_by"] == world.oncall_cn and got["reference"] is None
    for bad, field in (({}, "received_by"), ({"received_by": ""}, "received_by"),
                       ({"received_by": "   "}, "received_by"),
                       ({"received_by": "x", "reference": 5}, "reference"),
                       ({"received_by": "x", "extra": 1}, "extra")):
        err = error_of(world.staff.post(receipt_path(sent["police"]["event_id"]), json=bad),
                       400)
        assert err["field"] == field, (bad, err)


def test_the_check_survives_a_restart(world):
    res = world.resident()
    delivered(world, res)
    world.rc.stop()
    world.rc.start()
    world.advance(minutes=29)
    assert unconfirmed(world) == []
    world.advance(minutes=1)
    assert len(unconfirmed(world)) == 3
    world.rc.stop()
    world.rc.start()
    world.advance(minutes=30)
    assert len(unconfirmed(world)) == 3, "not raised again after a restart"
