"""Retention (SPEC section 7, v2): ten years after a resident's departure, at 03:00 local time
of their last centre, the record is anonymised by the timing engine, on the one clock: names
erased, case number anon-<id>, date of birth 1 January of its year, every free text erased;
counts, dates, amounts and the audit rows stay. GET /v1/retention?within_days=N is the dry run.
Nothing happens one second earlier, and nobody else's record changes.
"""

import datetime

from alerts_helpers import Centre
from harness import at, error_of, local, ok

PERIOD = "2026-11-09"


def record_rows(rc, resident):
    """What the database holds about a resident, table by table (for 'untouched')."""
    db = rc.db
    return {
        "resident": db.query("SELECT case_number, given_name, family_name, date_of_birth, "
                             "anonymised_at FROM residents WHERE id = %s", resident),
        "observations": db.query("SELECT id, note, status FROM observations "
                                 "WHERE resident = %s ORDER BY id", resident),
        "absences": db.query("SELECT id, note, concern FROM absences WHERE resident = %s "
                             "ORDER BY id", resident),
        "outbox": db.query("SELECT id, payload FROM outbox WHERE resident = %s ORDER BY id",
                           resident),
    }


def test_record_is_anonymised_ten_years_after_departure_at_0300_local(rc):
    rc.set_clock(at("2026-11-10", "10:00"))
    centre = Centre(rc, "retention")
    a = centre.resident(given_name="Amina", family_name="Haddad", date_of_birth="2012-03-10")
    b = centre.resident(given_name="Yonas", family_name="Tesfaye")
    c = centre.resident(given_name="Farah", family_name="Ali")
    d = centre.resident(given_name="Omar", family_name="Said")
    manager, staff = centre.manager, centre.staff
    # a's record: an observation with a note, an absence with a note and a concern, an
    # incident, a sanction, an agreement and a payout to the proxy it names.
    ok(staff.post(f"/v1/centres/{centre.id}/rounds/2026-11-10/1", json={"observations": [
        {"resident": a, "status": "present", "note": "asked about her brother"}]}))
    absence = centre.report(a, note="seen at the station")["id"]
    ok(staff.post(f"/v1/absences/{absence}/concern", json={"text": "an older man picked her up"}))
    rc.set_clock(at("2026-11-10", "14:00"))
    ok(staff.post(f"/v1/absences/{absence}/return", json={}))
    ok(manager.post(f"/v1/residents/{a}/incidents", json={
        "kind": "underretning", "occurred_at": at("2026-11-10", "12:00"),
        "description": "told staff she is afraid of going home"}), 201)
    ok(manager.post(f"/v1/residents/{a}/sanctions", json={
        "from": "2026-11-09", "to": "2026-11-09", "percent": 25,
        "reason": "broke the window in room 12", "heard_at": at("2026-11-10", "09:00")}), 201)
    ok(manager.post(f"/v1/residents/{a}/agreements", json={
        "proxy_name": "Leila Haddad", "from": "2026-11-01", "to": None}), 201)
    payout = ok(manager.post(f"/v1/residents/{a}/payouts", json={
        "period_start": PERIOD, "collected_by": "Leila Haddad"}), 201)
    statement_before = ok(manager.get(f"/v1/residents/{a}/statements/{PERIOD}"))
    # a leaves on 20 November, c a day later; d leaves too, but the departure is undone.
    for resident, day in ((a, "2026-11-20"), (c, "2026-11-21"), (d, "2026-11-21")):
        ok(manager.patch(f"/v1/residents/{resident}", json={"departure_date": day}))
    ok(manager.patch(f"/v1/residents/{d}", json={"departure_date": None}))

    instant_a = local("2036-11-20", "03:00")
    instant_c = local("2036-11-21", "03:00")
    rc.set_clock(at("2036-11-19", "12:00"))
    untouched = {r: record_rows(rc, r) for r in (b, c, d)}
    audit_before = ok(rc.admin.get(f"/v1/audit?resident={a}&limit=1000"))["items"]

    # The dry run: a within one day (15 hours away), c within two; b and d never.
    one = ok(rc.admin.get("/v1/retention?within_days=1"))
    assert [x["resident"] for x in one["items"]] == [a], one
    [item] = one["items"]
    assert item["departure_date"] == "2026-11-20" and item["centre"] == centre.id
    assert item["anonymise_at"] == "2036-11-20T02:00:00+00:00"  # 03:00 in Copenhagen (CET)
    two = ok(rc.admin.get("/v1/retention?within_days=2"))
    assert [x["resident"] for x in two["items"]] == [a, c], two
    paged = ok(rc.admin.get("/v1/retention?within_days=2&limit=1"))
    assert [x["resident"] for x in paged["items"]] == [a] and paged["next"] == str(a)
    rest = ok(rc.admin.get(f"/v1/retention?within_days=2&limit=1&after={paged['next']}"))
    assert [x["resident"] for x in rest["items"]] == [c] and rest["next"] is None
    assert error_of(rc.admin.get("/v1/retention?within_days=-1"), 400)["field"] == "within_days"
    assert centre.staff.get("/v1/retention").status == 403
    # The dry run changed nothing.
    assert ok(rc.admin.get(f"/v1/residents/{a}"))["given_name"] == "Amina"

    # One second before the instant nothing happens.
    rc.set_clock((instant_a - datetime.timedelta(seconds=1)).isoformat())
    got = ok(rc.admin.get(f"/v1/residents/{a}"))
    assert (got["given_name"], got["family_name"]) == ("Amina", "Haddad")

    # At the instant the record is anonymised.
    rc.set_clock(instant_a.isoformat())
    got = ok(rc.admin.get(f"/v1/residents/{a}"))
    assert (got["given_name"], got["family_name"]) == ("", "")
    assert got["case_number"] == f"anon-{a}" and got["date_of_birth"] == "2012-01-01"
    export = ok(rc.admin.get(f"/v1/residents/{a}/export"))
    assert export["resident"]["anonymised_at"] is not None
    assert [o["note"] for o in export["observations"]] == [None]
    [ab] = export["absences"]
    assert ab["note"] is None and ab["concern"] == "" and ab["since"] is not None
    assert [i["description"] for i in export["incidents"]] == ["anonymised"]
    assert [s["reason"] for s in export["sanctions"]] == ["anonymised"]
    assert [s["percent"] for s in export["sanctions"]] == [25]
    assert [g["proxy_name"] for g in export["agreements"]] == ["anonymised"]
    assert export["notifications"] and all(n["payload"] == {} for n in export["notifications"])
    text = str(export)
    for secret in ("Amina", "Haddad", "Leila", "station", "older man", "afraid", "window",
                   "brother", "2012-03-10"):
        assert secret not in text, secret
    # The money stays: the payout and the statement as paid, to the øre.
    [p] = ok(manager.get(f"/v1/residents/{a}/payouts"))["items"]
    assert (p["amount_ore"], p["net_ore"]) == (payout["amount_ore"], payout["net_ore"])
    statement_after = ok(manager.get(f"/v1/residents/{a}/statements/{PERIOD}"))
    assert statement_after["total_ore"] == statement_before["total_ore"]
    assert statement_after["lines"] == statement_before["lines"]
    # The audit trail is untouched, and records the anonymisation once.
    audit_after = ok(rc.admin.get(f"/v1/audit?resident={a}&limit=1000"))["items"]
    assert audit_after[: len(audit_before)] == audit_before
    assert [x["action"] for x in audit_after].count("resident_anonymise") == 1
    assert not any(x["action"] == "resident_anonymise" for x in audit_before)
    # Nobody else's record changed; c's instant has not come.
    assert {r: record_rows(rc, r) for r in (b, c, d)} == untouched
    assert [x["resident"] for x in ok(rc.admin.get("/v1/retention?within_days=1"))["items"]] \
        == [c]

    # c follows at its own instant; b (enrolled) and d (departure undone) never.
    rc.set_clock(instant_c.isoformat())
    assert ok(rc.admin.get(f"/v1/residents/{c}"))["case_number"] == f"anon-{c}"
    rc.set_clock(at("2046-12-01", "12:00"))
    assert ok(rc.admin.get(f"/v1/residents/{b}"))["given_name"] == "Yonas"
    assert ok(rc.admin.get(f"/v1/residents/{d}"))["given_name"] == "Omar"
    assert rc.db.count("audit", "action = 'resident_anonymise'") == 2


def test_records_departed_before_retention_existed_are_caught_up(rc):
    """A database upgraded from a release without retention has departed residents but no
    retention due rows: the 6-hourly top-up schedules them, and they are anonymised on time."""
    rc.set_clock(at("2026-11-10", "10:00"))
    centre = Centre(rc, "retention-old")
    r = centre.resident(given_name="Samir")
    ok(centre.manager.patch(f"/v1/residents/{r}", json={"departure_date": "2026-11-12"}))
    rc.db.execute("DELETE FROM due_events WHERE kind = 'retention' AND ref = %s", r)
    assert [x["resident"] for x in ok(rc.admin.get("/v1/retention?within_days=4000"))["items"]] \
        == [r]  # the dry run reads the stays, not the due rows
    rc.set_clock(at("2026-11-10", "17:00"))  # past the next top-up
    assert rc.db.count("due_events", "kind = 'retention' AND ref = %s", r) == 1
    rc.set_clock(at("2036-11-12", "03:00"))
    assert ok(rc.admin.get(f"/v1/residents/{r}"))["case_number"] == f"anon-{r}"
