"""The timing engine across crashes (SPEC sections 4 and 8): after kill -9 and a restart,
everything that fell due while the daemon was down is decided at once, and nothing twice, even
when the daemon died in the middle of deciding."""

import threading
import time

from alerts_helpers import Centre, at, instant, local, wait_until
from harness import ok

DAY = "2026-11-20"
NEXT = "2026-11-21"


def add_residents(rc, centre, count, date_of_birth="2012-03-10"):
    """count residents enrolled at centre since 2026-01-05, written directly (fast)."""
    tag = rc.unique("bulk")
    rows = rc.db.query(
        "INSERT INTO residents (case_number, given_name, family_name, date_of_birth, created_at)"
        " SELECT %s || '-' || n, 'Bulk', 'Resident ' || n, %s::date, '2026-01-01T00:00:00Z'"
        " FROM generate_series(1, %s) AS n RETURNING id",
        tag, date_of_birth, count)
    ids = [r[0] for r in rows]
    rc.db.execute(
        "INSERT INTO stays (resident, centre, from_date) SELECT r, %s, '2026-01-05'"
        " FROM unnest(%s::bigint[]) AS r", centre.id, ids)
    rc.db.execute(
        "INSERT INTO phases (resident, phase, from_date) SELECT r, 1, '2026-01-05'"
        " FROM unnest(%s::bigint[]) AS r", ids)
    return ids


def open_absences(rc, centre, residents):
    """Present at the 15:00 check, reported absent at 16:00: each due at 03:00 next day."""
    rc.set_clock(at(DAY, "15:00"))
    centre.round(DAY, 2, {r: "present" for r in residents})
    rc.set_clock(at(DAY, "16:00"))
    ids = []
    with centre.staff.session() as s:
        for r in residents:
            ids.append(ok(s.post(f"/v1/residents/{r}/absences", json={}), 201)["id"])
    return ids


def kill_9(rc):
    rc.proc.kill()
    rc.proc.wait()


def assert_each_decided_once(rc, absence_ids, notified_at=None):
    rows = rc.db.query(
        "SELECT a.id, a.notified_at, (SELECT count(*) FROM deliveries d"
        "  WHERE d.absence = a.id AND d.type = 'absence.reported')"
        " FROM absences a WHERE a.id = ANY(%s)", absence_ids)
    assert len(rows) == len(absence_ids)
    for absence_id, notified, deliveries in rows:
        assert notified is not None, f"absence {absence_id} not notified"
        assert deliveries == 3, f"absence {absence_id} has {deliveries} deliveries"
        if notified_at is not None:
            assert notified == notified_at
    # Each resident_absent alert was escalated once (15 minutes after 16:00, decided late).
    doubled = rc.db.query(
        "SELECT e.alert, count(*) FROM alert_events e JOIN alerts a ON a.id = e.alert"
        " WHERE a.absence = ANY(%s) AND e.kind = 'escalated' GROUP BY e.alert"
        " HAVING count(*) <> 1", absence_ids)
    assert doubled == []


def test_kill_9_with_due_events_pending_each_fires_once_after_restart(daemon_factory):
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    residents = [centre.resident() for _ in range(5)]
    absences = open_absences(rc, centre, residents)
    assert all(centre.absence(a)["notified_at"] is None for a in absences)

    kill_9(rc)
    # Nobody runs while the (test) clock moves past the 03:00 threshold.
    rc.db.execute("UPDATE clock_state SET now = %s", local(NEXT, "04:00"))
    rc.start()
    # Decided at start, without anyone asking.
    wait_until(lambda: all(centre.absence(a)["notified_at"] for a in absences),
               what="notifications after restart")
    assert_each_decided_once(rc, absences, notified_at=local(NEXT, "04:00"))
    # The alerts missed 11 hours of repeats: announced once each since 16:00.
    for a in centre.alerts_of("resident_absent"):
        announcements = rc.db.scalar(
            "SELECT count(*) FROM alert_events WHERE alert = %s AND kind <> 'raised'", a["id"])
        assert announcements == 1, a
        assert instant(a["last_announced_at"]) == local(NEXT, "04:00")
    # A later restart decides nothing again.
    kill_9(rc)
    rc.start()
    rc.set_clock(at(NEXT, "04:00"))
    assert_each_decided_once(rc, absences, notified_at=local(NEXT, "04:00"))


def test_kill_9_while_deciding_loses_and_doubles_nothing(daemon_factory):
    rc = daemon_factory()
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    residents = add_residents(rc, centre, 300)
    absences = open_absences(rc, centre, residents)

    # Move the clock past every threshold and kill the daemon while it decides.
    def put_clock():
        try:
            rc.admin.put("/v1/clock", json={"now": at(NEXT, "04:00")}, timeout=60)
        except OSError:
            pass  # the daemon dies under it: that is the point

    putter = threading.Thread(target=put_clock)
    putter.start()
    time.sleep(0.3)
    kill_9(rc)
    putter.join(60)
    partly = rc.db.scalar("SELECT count(*) FROM absences WHERE id = ANY(%s)"
                          " AND notified_at IS NOT NULL", absences)
    print(f"decided before the kill: {partly} of {len(absences)}")

    rc.db.execute("UPDATE clock_state SET now = %s", local(NEXT, "04:00"))
    rc.start()
    rc.set_clock(at(NEXT, "04:00"))  # answers once everything due is committed
    assert_each_decided_once(rc, absences)
