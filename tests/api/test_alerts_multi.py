"""Several rollcalld instances on one database (SPEC section 8): 1,000 absences falling due
together are each decided once, and watchers connected to either instance see every alert of
their centre."""

import re

from alerts_helpers import Centre, SseStream, at, local, wait_until
from harness import ok
from test_alerts_restart import add_residents, assert_each_decided_once

DAY = "2026-11-20"
NEXT = "2026-11-21"
COUNT = 1000


def test_two_daemons_1000_absences_each_decided_once_and_seen_everywhere(daemon_factory):
    a = daemon_factory()
    b = daemon_factory(database=a.dbname)
    a.set_clock(at(DAY, "08:00"))
    centre = Centre(a)
    residents = add_residents(a, centre, COUNT)

    watchers = [SseStream(a, centre.oncall_cn, centre.id),
                SseStream(b, centre.oncall_cn, centre.id),
                SseStream(b, f"manager-{centre.id}", centre.id)]
    try:
        for w in watchers:
            assert w.status == 200
            wait_until(lambda w=w: w.head is not None)

        a.set_clock(at(DAY, "15:00"))
        centre.round(DAY, 2, {r: "present" for r in residents})
        a.set_clock(at(DAY, "16:00"))
        wait_until(lambda: ok(b.admin.get("/v1/clock"))["now"].startswith("2026-11-20T15:00"),
                   what="the other instance's clock")
        # Half the reports through each instance.
        absences = []
        staff_b = b.api(centre.staff_cn)
        for half, api in ((residents[::2], centre.staff), (residents[1::2], staff_b)):
            with api.session() as s:
                for r in half:
                    absences.append(ok(s.post(f"/v1/residents/{r}/absences", json={}), 201)["id"])

        # All 1,000 fall due at 03:00; both instances decide (B through NOTIFY rc_clock).
        a.set_clock(at(NEXT, "03:00"))
        assert_each_decided_once(a, absences, notified_at=local(NEXT, "03:00"))

        expected = {row[0] for row in a.db.query(
            "SELECT seq FROM alert_events WHERE centre = %s", centre.id)}
        assert len(expected) >= 2 * COUNT  # raised and escalated, at least
        for w in watchers:
            got = w.collect(lambda events: expected <= {e.id for e in events}, timeout=120)
            ids = [e.id for e in got]
            assert len(ids) == len(set(ids)), "an event was delivered twice"
            assert not w.closed.is_set()
    finally:
        for w in watchers:
            w.close()

    decided = [sum(int(n) for n in re.findall(r"due: decided (\d+) due events", d.log_text()))
               for d in (a, b)]
    print(f"due events decided per instance (from the logs): {decided}")
