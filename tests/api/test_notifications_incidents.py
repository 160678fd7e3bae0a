"""Incident reports (SPEC section 7a): IN8 and IN10 to the Immigration Service, IN9 to the
Immigration Service and the police with the police report number, underretning to the
municipality, through the same outbox and signed webhooks as absence notifications."""

import time

import pytest
from harness import error_of, ok
from harness.webhooks import verify

OCCURRED = "2026-11-20T20:15:00+01:00"


def report(world, resident_id, **body):
    body.setdefault("occurred_at", OCCURRED)
    body.setdefault("description", "What happened, in the staff member's words.")
    return world.staff.post(f"/v1/residents/{resident_id}/incidents", json=body)


@pytest.mark.parametrize(
    "kind, recipients",
    [("in8", {"immigration"}), ("in10", {"immigration"}), ("underretning", {"municipality"})],
)
def test_incident_goes_to_the_authorities_its_kind_names(world, kind, recipients):
    res = world.resident(date_of_birth="2012-03-10")
    incident = ok(report(world, res["id"], kind=kind), 201)
    assert incident["kind"] == kind and incident["resident"] == res["id"]
    assert incident["centre"] == world.centre
    assert {n["authority"] for n in incident["notifications"]} == recipients
    reqs = world.receiver.wait_delivered(len(recipients))
    time.sleep(0.5)
    reqs = world.receiver.requests()
    assert {q.authority for q in reqs} == recipients, "nobody else is told"
    for q in reqs:
        body = q.json
        assert verify(world.secrets[q.authority], q.headers, q.body)
        assert body["type"] == f"incident.{kind}"
        assert body["event_id"] == q.event_id
        assert body["incident"] == incident["id"]
        assert body["kind"] == kind
        assert body["centre"]["id"] == world.centre
        assert body["resident"]["case_number"] == res["case_number"]
        assert body["resident"]["age"] == 14
        assert body["description"] == "What happened, in the staff member's words."
        assert body["reported_by"] == world.staff_cn


def test_in9_needs_the_police_report_number_and_goes_to_immigration_and_police(world):
    res = world.resident()
    err = error_of(report(world, res["id"], kind="in9"), 400)
    assert err["field"] == "police_report_number"
    err = error_of(report(world, res["id"], kind="in9", police_report_number=None), 400)
    assert err["field"] == "police_report_number"
    assert ok(world.staff.get(f"/v1/incidents?centre={world.centre}"))["items"] == []

    incident = ok(report(world, res["id"], kind="in9", police_report_number="4300-12345-00123-26"),
                  201)
    reqs = world.receiver.wait_delivered(2)
    time.sleep(0.5)
    reqs = world.receiver.requests()
    assert sorted(q.authority for q in reqs) == ["immigration", "police"]
    for q in reqs:
        assert q.json["type"] == "incident.in9"
        assert q.json["police_report_number"] == "4300-12345-00123-26"
    got = ok(world.staff.get(f"/v1/incidents/{incident['id']}"))
    assert {n["authority"] for n in got["notifications"]} == {"immigration", "police"}
    assert all(n["delivered_at"] for n in got["notifications"])


def test_incident_refusals_name_the_field_and_change_nothing(world):
    res = world.resident()
    assert error_of(report(world, res["id"], kind="in11"), 400)["field"] == "kind"
    assert error_of(report(world, res["id"], kind="in8", occurred_at="2026-11-21T10:00:00Z"),
                    400)["field"] == "occurred_at"
    assert error_of(report(world, res["id"], kind="in8", description=""), 400)["field"] == \
        "description"
    assert error_of(report(world, res["id"], kind="in8", occurred_at="yesterday"), 400)[
        "field"] == "occurred_at"
    error_of(report(world, 999999, kind="in8"), 404)
    assert ok(world.staff.get(f"/v1/incidents?centre={world.centre}"))["items"] == []
    time.sleep(0.3)
    assert world.receiver.requests() == []


def test_incident_list_filters_and_scope(world):
    first = world.resident()
    second = world.resident()
    a = ok(report(world, first["id"], kind="in8"), 201)
    b = ok(report(world, second["id"], kind="underretning"), 201)
    c = ok(report(world, second["id"], kind="in10"), 201)
    listed = ok(world.staff.get(f"/v1/incidents?centre={world.centre}"))["items"]
    assert [i["id"] for i in listed] == [a["id"], b["id"], c["id"]]
    by_resident = ok(world.staff.get(f"/v1/incidents?resident={second['id']}"))["items"]
    assert [i["id"] for i in by_resident] == [b["id"], c["id"]]
    by_kind = ok(world.staff.get("/v1/incidents?kind=in10"))["items"]
    assert [i["id"] for i in by_kind] == [c["id"]]
    paged = ok(world.staff.get(f"/v1/incidents?centre={world.centre}&limit=2"))
    assert len(paged["items"]) == 2 and paged["next"]

    # Staff of another centre see none of it.
    other = world.rc.create_centre()["id"]
    world.rc.create_account("staff-elsewhere", "staff", [other])
    elsewhere = world.rc.api("staff-elsewhere")
    error_of(elsewhere.get(f"/v1/incidents?centre={world.centre}"), 403)
    error_of(elsewhere.get(f"/v1/incidents/{a['id']}"), 403)
    assert ok(elsewhere.get("/v1/incidents"))["items"] == []
    error_of(elsewhere.post(f"/v1/residents/{first['id']}/incidents",
                            json={"kind": "in8", "occurred_at": OCCURRED, "description": "x"}),
             403)
