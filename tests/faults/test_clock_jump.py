"""Fault case 5 (issue 12): the test clock moved forward by three days in one PUT /v1/clock."""

from harness import at, instant, ok
from harness.faults import report

DAY = "2026-11-20"
END = "2026-11-23"


def test_three_days_at_once_fire_everything_once_in_order(world, receiver):
    """Injects: one PUT /v1/clock from 2026-11-20 16:00 to 2026-11-23 16:30 (local), over
    absences whose notifications fall due at four different instants in between (last present
    at 07:00 or 15:00, aged 14 or 15: 19:00, 03:00, 07:00 and 15:00 the next day) and nine
    rounds whose completion deadline passes unrecorded. Must hold: each absence is notified
    once (one delivery per authority, each event id received once at the receiver), each
    round's deadline raises one round_overdue alert, and both are decided in due order (ids
    ascending with the due instants)."""
    rc = world.rc
    world.set_clock(at(DAY, "07:00"))
    young = [world.resident_id(date_of_birth="2012-03-10") for _ in range(4)]
    older = [world.resident_id(date_of_birth="2011-06-01") for _ in range(4)]
    early = young[:2] + older[:2]  # present at 07:00 only
    late = young[2:] + older[2:]  # present at 15:00
    world.round(DAY, 1, {r: "present" for r in early + late})
    world.set_clock(at(DAY, "15:00"))
    world.round(DAY, 2, {r: "present" for r in late})
    world.set_clock(at(DAY, "16:00"))
    absences = [world.report(r)["id"] for r in early + late]
    due = {a: instant(world.absence(a)["notify_at"]) for a in absences}
    assert len(set(due.values())) == 4, due
    assert all(world.absence(a)["notified_at"] is None for a in absences)
    jump_from = rc.db.scalar("SELECT max(id) FROM alerts") or 0
    ok(rc.admin.put("/v1/clock", json={"now": at(END, "16:30")}, timeout=120))

    # Each absence notified once, the outbox rows written in the order of their due instants.
    rows = rc.db.query("SELECT id, absence FROM outbox WHERE type = 'absence.reported'"
                       " AND absence = ANY(%s) ORDER BY id", absences)
    assert sorted(a for _, a in rows) == sorted(absences), rows
    order = [due[a] for _, a in rows]
    assert order == sorted(order), f"notifications decided out of order: {rows}"
    per_authority = rc.db.query("SELECT absence, count(*) FROM deliveries WHERE absence = ANY(%s)"
                                " AND type = 'absence.reported' GROUP BY absence", absences)
    assert sorted(n for _, n in per_authority) == [3] * len(absences), per_authority
    received = receiver.wait_delivered(3 * len(absences), timeout=60)
    ids = [r.event_id for r in receiver.delivered()]
    duplicates = len(ids) - len(set(ids))
    assert duplicates == 0, f"{duplicates} webhook deliveries doubled"

    # One round_overdue alert per passed deadline, in deadline order.
    overdue = rc.db.query(
        "SELECT id, details->>'date', (details->>'slot')::int FROM alerts"
        " WHERE kind = 'round_overdue' AND centre = %s AND id > %s ORDER BY id",
        world.id, jump_from)
    rounds = [(d, s) for _, d, s in overdue]
    assert len(rounds) == len(set(rounds)), f"a round raised twice: {rounds}"
    expected = [(DAY, 3)] + [(d, s) for d in ("2026-11-21", "2026-11-22") for s in (1, 2, 3)] + [
        (END, 1), (END, 2)]
    assert rounds == expected, rounds
    report("clock_jump_3_days", absences=len(absences), notification_instants=4,
           deliveries=len(received) if isinstance(received, list) else 3 * len(absences),
           duplicates=duplicates, rounds_overdue=len(rounds), out_of_order=0)
