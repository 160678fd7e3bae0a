"""GET /v1/residents/{id}/export is the resident's whole record (SPEC section 7): besides the
stays, phases, observations, allowances and audit rows, the absences with their notes and
concern texts, every notification sent about them with its delivery history, the incident
reports and the alerts about them, and nothing of anybody else. The export itself is audited.
"""

import json

from alerts_helpers import Centre
from harness import at, ok

SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="


def test_export_holds_absences_notifications_incidents_and_alerts(rc):
    rc.set_clock(at("2026-03-02", "06:00"))
    centre = Centre(rc, "export", authorities=[
        {"kind": k, "url": f"https://127.0.0.1:1/{k}", "secret": SECRET}
        for k in ("municipality", "police", "immigration")])
    r = centre.resident()
    other = centre.resident()
    # The 07:00 round passes its grace with nobody checked: round_overdue names both.
    rc.set_clock(at("2026-03-02", "08:30"))
    # Then r is reported absent with a note, a concern follows (the authorities are told at
    # once), and r comes back.
    absence = centre.report(r, note="left after breakfast")["id"]
    ok(centre.staff.post(f"/v1/absences/{absence}/concern",
                         json={"text": "talked about meeting an older man"}))
    rc.set_clock(at("2026-03-02", "12:00"))
    ok(centre.staff.post(f"/v1/absences/{absence}/return", json={}))
    ok(centre.manager.post(f"/v1/residents/{r}/incidents", json={
        "kind": "in10", "occurred_at": at("2026-03-02", "11:00"),
        "description": "held back at the door"}), 201)
    # Somebody else's absence must not appear.
    centre.report(other, note="the other resident's note")

    export = ok(rc.admin.get(f"/v1/residents/{r}/export"))
    [a] = export["absences"]
    assert a["id"] == absence and a["resident"] == r
    assert a["note"] == "left after breakfast"
    assert a["concern"] == "talked about meeting an older man"
    assert a["concern_by"] == centre.staff_cn and a["returned_at"] is not None
    assert "the other resident's note" not in str(export)

    types = [n["type"] for n in export["notifications"]]
    assert "absence.reported" in types and "absence.returned" in types, types
    assert "incident.in10" in types, types
    reported = next(n for n in export["notifications"] if n["type"] == "absence.reported")
    assert reported["payload"]["resident"]["case_number"] == export["resident"]["case_number"]
    assert sorted(d["authority"] for d in reported["deliveries"]) == [
        "immigration", "municipality", "police"]
    # Nobody listens there: each delivery shows its attempts and why they failed.
    for d in reported["deliveries"]:
        assert set(d) >= {"event_id", "attempts", "last_error", "delivered_at", "state"}

    [incident] = export["incidents"]
    assert incident["description"] == "held back at the door" and incident["kind"] == "in10"

    kinds = {x["kind"] for x in export["alerts"]}
    # Never delivered, so the authorities' receipt (absence_reported) is not among them.
    assert {"round_overdue", "resident_absent", "resident_returned"} <= kinds, kinds
    overdue = [x for x in export["alerts"] if x["kind"] == "round_overdue"]
    assert all(r in x["details"]["missing"] for x in overdue)
    assert all(x["resident"] in (r, None) for x in export["alerts"])

    # The export is audited, and its own row is in the export.
    assert any(row["action"] == "resident_export" for row in export["audit"])
    other_export = ok(rc.admin.get(f"/v1/residents/{other}/export"))
    assert [x["id"] for x in other_export["absences"]] != [absence]
    assert other_export["incidents"] == []
    assert all(n["type"] != "incident.in10" for n in other_export["notifications"])


def test_client_writes_the_export_to_a_file(rc, tmp_path):
    rc.set_clock(at("2026-03-02", "06:00"))
    centre = Centre(rc, "export-cli")
    r = centre.resident(case_number=rc.unique("EXP-"))
    case = ok(rc.admin.get(f"/v1/residents/{r}"))["case_number"]
    centre.report(r, note="gone to the station")
    code, out, err = rc.client("admin", "export", case, "--centre", centre.id)
    assert code == 0, err
    record = json.loads(out)
    api = ok(rc.admin.get(f"/v1/residents/{r}/export"))
    # The same document, but for the later export's own audit row.
    assert {k: v for k, v in record.items() if k != "audit"} == \
        {k: v for k, v in api.items() if k != "audit"}
    assert record["absences"][0]["note"] == "gone to the station"
    assert api["audit"][: len(record["audit"])] == record["audit"]
    assert [a["action"] for a in api["audit"]].count("resident_export") == 2
    # By id too, and a case number nobody has is a usage error naming it.
    code, out, err = rc.client("admin", "export", f"id:{r}")
    assert code == 0 and json.loads(out)["resident"]["id"] == r, err
    code, out, err = rc.client("admin", "export", "NOBODY-1", "--centre", centre.id)
    assert code == 2 and "NOBODY-1" in err and out == "", (code, out, err)
    # Staff may not export.
    code, out, err = rc.client(centre.staff_cn, "export", f"id:{r}")
    assert code == 1 and out == "", (code, out, err)
