"""The round dry run (SPEC section 2, v2): POST .../rounds/{date}/{slot}?dry_run=true answers the
absences the round would open, each with since, notify_at, reason and notify_now, through the
same checks as the real round, and writes nothing: no observation, absence, alert, outbox row,
idempotency row or audit row of a change; the read is audited. Sent for real afterwards (with
the same Idempotency-Key) the round does what the dry run said."""

import pytest
from alerts_helpers import Centre, at, instant, local
from harness import error_of, ok

DAY = "2026-11-20"
TABLES = ("observations", "absences", "alerts", "deliveries", "idempotency")


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "06:30"))
    c = Centre(rc, prefix="dryrun")
    c.counted = c.resident(arrival_date="2026-04-18",
                           accounted_for_at=local(DAY, "06:15").isoformat())
    c.uncounted = c.resident(arrival_date="2026-04-18")
    c.here = c.resident(arrival_date="2026-04-18")
    return c


def counts(rc):
    return {t: rc.db.count(t) for t in TABLES}


def test_the_dry_run_says_what_the_round_would_do_and_does_nothing(rc, centre):
    rc.set_clock(at(DAY, "07:00"))
    body = {"observations": [
        {"resident": centre.counted, "status": "absent"},
        {"resident": centre.uncounted, "status": "absent"},
        {"resident": centre.here, "status": "present"}]}
    path = f"/v1/centres/{centre.id}/rounds/{DAY}/1"
    before = counts(rc)
    audit_before = rc.db.count("audit")
    headers = {"Idempotency-Key": "dry-then-real-1"}
    dry = ok(centre.staff.post(path + "?dry_run=true", json=body, headers=headers), 200)
    assert dry["dry_run"] is True
    by_resident = {a["resident"]: a for a in dry["absences"]}
    assert set(by_resident) == {centre.counted, centre.uncounted}
    a, b = by_resident[centre.counted], by_resident[centre.uncounted]
    assert instant(a["since"]) == local(DAY, "06:15")
    assert instant(a["notify_at"]) == local(DAY, "18:15")
    assert a["reason"] == "threshold_12h" and a["notify_now"] is False
    # Away "since the arrival day": the police would hear of it the moment the round is sent.
    assert instant(b["since"]) == local("2026-04-18", "00:00")
    assert b["notify_now"] is True

    assert counts(rc) == before
    rows = rc.db.query("SELECT action, resident FROM audit ORDER BY id OFFSET %s",
                       audit_before)
    assert sorted(rows) == sorted(("round_dry_run", r) for r in
                                  (centre.counted, centre.uncounted, centre.here)), rows

    # Sent for real with the same key: it acts (the dry run claimed no key), as foretold.
    real = ok(centre.staff.post(path, json=body, headers=headers), 200)
    assert "dry_run" not in real
    opened = {r: centre.open_absence(r) for r in (centre.counted, centre.uncounted)}
    for r, absence in opened.items():
        assert instant(absence["since"]) == instant(by_resident[r]["since"])
        assert instant(absence["notify_at"]) == instant(by_resident[r]["notify_at"])
        assert absence["reason"] == by_resident[r]["reason"]
    assert centre.open_absence(centre.here) is None


def test_the_dry_run_refuses_what_the_round_refuses(rc, centre):
    rc.set_clock(at(DAY, "07:00"))
    path = f"/v1/centres/{centre.id}/rounds/{DAY}/1?dry_run=true"
    err = error_of(centre.staff.post(path, json={"observations": [
        {"resident": centre.here, "status": "excused"}]}), 400)
    assert err["field"] == "observations[0].reason"
    err = error_of(centre.staff.post(f"/v1/centres/{centre.id}/rounds/{DAY}/1?dry_run=maybe",
                                     json={"observations": [
                                         {"resident": centre.here, "status": "present"}]}), 400)
    assert err["field"] == "dry_run"
    assert rc.db.count("observations", "centre = %s", centre.id) == 0
