"""GET /v1/notifications (SPEC sections 7 and 10): each notification's state per authority;
staff see their own centres; the authority role sees only its own authority's notifications of
its centres; paging and filters."""

from harness import error_of, ok
from harness.webhooks import AUTHORITIES, World, notify_config

FIELDS = {"event_id", "type", "authority", "due_at", "delivered_at", "attempts", "last_error"}


def test_authority_role_sees_only_its_own_notifications(daemon_factory, receiver):
    rc = daemon_factory(config=notify_config(receiver.ca))
    a = World(rc, receiver)
    b = World(rc, receiver)
    res_a = a.resident()
    res_b = b.resident()
    absence_a = a.report(res_a["id"], known_departure=True)
    b.report(res_b["id"], known_departure=True)
    receiver.wait_delivered(6)
    a.wait_notifications(lambda items: len(items) == 3 and all(i["delivered_at"] for i in items))

    rc.create_account("police-a", "authority", [a.centre], authority="police")
    police_a = rc.api("police-a")
    items = a.notifications(api=police_a)
    assert len(items) == 1
    item = items[0]
    assert FIELDS <= set(item)
    assert item["authority"] == "police" and item["centre"] == a.centre
    assert item["type"] == "absence.reported" and item["attempts"] == 1
    assert item["delivered_at"] and item["last_error"] is None
    sent = [q for q in receiver.requests("police") if q.json["centre"]["id"] == a.centre]
    assert [q.event_id for q in sent] == [item["event_id"]]
    assert a.notifications(api=police_a, centre=a.centre) == items
    assert a.notifications(api=police_a, absence=absence_a["id"]) == items
    error_of(police_a.get(f"/v1/notifications?centre={b.centre}"), 403)

    # Read-only, its own notifications only: nothing else of the API.
    error_of(police_a.get(f"/v1/incidents?centre={a.centre}"), 403)
    error_of(police_a.post(f"/v1/residents/{res_a['id']}/incidents",
                           json={"kind": "in8", "occurred_at": "2026-11-20T20:00:00Z",
                                 "description": "x"}), 403)
    error_of(police_a.get(f"/v1/absences/{absence_a['id']}"), 403)

    # Staff of centre b see b's notifications, never a's.
    error_of(b.staff.get(f"/v1/notifications?centre={a.centre}"), 403)
    mine = b.notifications()
    assert len(mine) == 3 and {i["centre"] for i in mine} == {b.centre}
    assert sorted(i["authority"] for i in mine) == sorted(AUTHORITIES)


def test_notification_list_pages_and_filters(daemon_factory, receiver):
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver)
    receiver.set_default("immigration", "500")
    residents = [world.resident() for _ in range(3)]
    absences = [world.report(r["id"], known_departure=True) for r in residents]
    world.wait_notifications(lambda items: len(items) == 9 and all(
        i["attempts"] >= 1 for i in items))

    first = ok(world.staff.get("/v1/notifications?limit=4"))
    assert len(first["items"]) == 4 and first["next"]
    second = ok(world.staff.get(f"/v1/notifications?limit=4&after={first['next']}"))
    third = ok(world.staff.get(f"/v1/notifications?limit=4&after={second['next']}"))
    assert third["next"] is None
    ids = [i["event_id"] for page in (first, second, third) for i in page["items"]]
    assert len(ids) == 9 and len(set(ids)) == 9

    pending = world.notifications(state="pending")
    assert len(pending) == 3 and {i["authority"] for i in pending} == {"immigration"}
    for i in pending:
        assert i["delivered_at"] is None and i["last_error"].startswith("HTTP 500")
        assert i["state"] == "retrying"
    assert len(world.notifications(state="delivered")) == 6
    assert len(world.notifications(absence=absences[1]["id"])) == 3
    assert len(world.notifications(resident=residents[2]["id"])) == 3

    error_of(world.staff.get("/v1/notifications?state=lost"), 400)
    error_of(world.staff.get("/v1/notifications?absence=x"), 400)
    error_of(world.staff.get("/v1/notifications?after=nonsense"), 400)
    error_of(world.staff.get("/v1/notifications?centre=nowhere"), 404)
