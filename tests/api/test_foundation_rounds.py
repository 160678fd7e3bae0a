"""Attendance rounds (SPEC section 2): three rounds per local day at the centre's check times,
daylight-saving days included; statuses open/complete/overdue on the one clock; a whole round
stored all or nothing; corrections keep their history; staff see only their own centres."""

import datetime
import zoneinfo

import pytest
from harness import COPENHAGEN, UTC, error_of, instant, local, ok

def rounds_of(api, centre, day):
    body = ok(api.get(f"/v1/centres/{centre}/rounds?date={day}"))
    items = body["items"]
    assert [r["slot"] for r in items] == [1, 2, 3]
    assert all(r["date"] == day for r in items)
    return {r["slot"]: r for r in items}


def entries_by_resident(body):
    """The round detail's list of expected residents, keyed by resident id. The list is the one
    member of the round holding objects with a resident id."""
    lists = [
        v
        for v in body.values()
        if isinstance(v, list) and v and all(isinstance(e, dict) for e in v)
    ]
    assert len(lists) == 1, f"expected one list of residents in {body}"
    out = {}
    for entry in lists[0]:
        rid = entry.get("resident", entry.get("id"))
        if isinstance(rid, dict):
            rid = rid["id"]
        out[rid] = entry
    return out


def observation_status(entry):
    """The current observation's status of a round detail entry (None when not recorded)."""
    obs = entry.get("observation", entry)
    if obs is None:
        return None
    return obs.get("status")


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock("2026-11-20T06:30:00+01:00")
    a = rc.create_centre("rounds-a", name="Rounds A")["id"]
    b = rc.create_centre("rounds-b", name="Rounds B")["id"]
    rc.create_account("rounds-staff-a", "staff", [a])
    rc.create_account("rounds-staff-b", "staff", [b])
    r1 = rc.create_resident(a, arrival_date="2026-01-05", given_name="Bilal")["id"]
    r2 = rc.create_resident(a, arrival_date="2026-01-05", given_name="Nour")["id"]
    later = rc.create_resident(a, arrival_date="2026-12-01", given_name="Later")["id"]
    rb = rc.create_resident(b, arrival_date="2026-01-05", given_name="Other")["id"]
    return {
        "a": a,
        "b": b,
        "r1": r1,
        "r2": r2,
        "later": later,
        "rb": rb,
        "staff": rc.api("rounds-staff-a"),
        "staff_b": rc.api("rounds-staff-b"),
    }


def test_round_times_on_an_ordinary_day(rc, world):
    rounds = rounds_of(world["staff"], world["a"], "2026-11-20")
    for slot, hhmm in ((1, "07:00"), (2, "15:00"), (3, "23:00")):
        scheduled = instant(rounds[slot]["scheduled_at"])
        assert scheduled == local("2026-11-20", hhmm)
        assert scheduled.utcoffset() is not None
        assert instant(rounds[slot]["due_at"]) == scheduled + datetime.timedelta(minutes=60)
        assert rounds[slot]["expected"] == 2  # "later" arrives in December


@pytest.mark.parametrize(
    "day, utc_hours",
    [
        ("2026-03-28", (6, 14, 22)),  # CET, UTC+1
        ("2026-03-29", (5, 13, 21)),  # clocks go forward at 02:00: CEST, UTC+2
        ("2026-10-24", (5, 13, 21)),  # CEST
        ("2026-10-25", (6, 14, 22)),  # clocks go back at 03:00: CET again
    ],
)
def test_round_times_on_daylight_saving_days(rc, world, day, utc_hours):
    rounds = rounds_of(world["staff"], world["a"], day)
    for slot, hhmm, hour in zip((1, 2, 3), ("07:00", "15:00", "23:00"), utc_hours):
        scheduled = instant(rounds[slot]["scheduled_at"])
        # Both the time zone database and the worked hours agree on the instant.
        assert scheduled == local(day, hhmm)
        assert scheduled.astimezone(UTC).hour == hour
        assert scheduled.astimezone(UTC).minute == 0
        assert scheduled.astimezone(UTC).date().isoformat() == day


def test_check_time_in_the_skipped_or_repeated_hour_still_gives_three_ordered_rounds(rc, world):
    centre = rc.create_centre(check_times=["02:30", "15:00", "23:00"], grace_minutes=30)["id"]
    for day in ("2026-03-29", "2026-10-25"):
        rounds = rounds_of(rc.admin, centre, day)
        times = [instant(rounds[s]["scheduled_at"]) for s in (1, 2, 3)]
        assert times == sorted(times) and len(set(times)) == 3
        first = times[0].astimezone(COPENHAGEN)
        assert first.date().isoformat() == day
        assert (first.hour, first.minute) in ((2, 30), (3, 30)), first


def test_round_in_another_time_zone_and_check_times(rc, world):
    centre = rc.create_centre(
        timezone="America/New_York", check_times=["06:00", "14:00", "22:00"], grace_minutes=15
    )["id"]
    rounds = rounds_of(rc.admin, centre, "2026-03-08")  # US clocks go forward at 02:00
    zone = zoneinfo.ZoneInfo("America/New_York")
    for slot, hhmm in ((1, "06:00"), (2, "14:00"), (3, "22:00")):
        expected = datetime.datetime.fromisoformat(f"2026-03-08T{hhmm}:00").replace(tzinfo=zone)
        assert instant(rounds[slot]["scheduled_at"]) == expected
        assert instant(rounds[slot]["due_at"]) == expected + datetime.timedelta(minutes=15)


def test_statuses_follow_the_clock_open_overdue_complete(rc, world):
    staff, a, day = world["staff"], world["a"], "2026-11-20"
    rc.set_clock("2026-11-20T06:30:00+01:00")
    rounds = rounds_of(staff, a, day)
    assert [rounds[s]["status"] for s in (1, 2, 3)] == ["open", "open", "open"]
    assert rounds[1]["recorded"] == 0

    ok(staff.post(f"/v1/centres/{a}/rounds/{day}/1",
                  json={"observations": [{"resident": world["r1"], "status": "present"}]}))
    rounds = rounds_of(staff, a, day)
    assert (rounds[1]["status"], rounds[1]["recorded"], rounds[1]["expected"]) == ("open", 1, 2)

    # One minute before due (07:00 + 60 min) it is still open; one minute after, overdue.
    rc.set_clock("2026-11-20T07:59:00+01:00")
    assert rounds_of(staff, a, day)[1]["status"] == "open"
    rc.set_clock("2026-11-20T08:01:00+01:00")
    rounds = rounds_of(staff, a, day)
    assert rounds[1]["status"] == "overdue"
    assert rounds[2]["status"] == "open"

    # Completed late: complete.
    ok(staff.post(f"/v1/centres/{a}/rounds/{day}/1",
                  json={"observations": [{"resident": world["r2"], "status": "absent"}]}))
    rounds = rounds_of(staff, a, day)
    assert (rounds[1]["status"], rounds[1]["recorded"]) == ("complete", 2)


def test_whole_round_is_stored_in_one_request(rc, world):
    staff, a, day = world["staff"], world["a"], "2026-11-20"
    rc.set_clock("2026-11-20T15:05:00+01:00")
    reply = staff.post(
        f"/v1/centres/{a}/rounds/{day}/2",
        json={
            "observations": [
                {"resident": world["r1"], "status": "present", "note": "in the garden"},
                {"resident": world["r2"], "status": "excused", "reason": "hospital"},
            ]
        },
    )
    assert reply.status in (200, 201), reply
    rows = rc.db.query(
        "SELECT resident, status, reason, note, recorded_by, round_at FROM observations "
        "WHERE centre = %s AND date = %s AND slot = 2 AND current ORDER BY resident",
        a, datetime.date.fromisoformat(day),
    )
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == sorted(
        [
            (world["r1"], "present", None, "in the garden", "rounds-staff-a"),
            (world["r2"], "excused", "hospital", None, "rounds-staff-a"),
        ]
    )
    assert all(r[5] == local(day, "15:00") for r in rows)
    detail = ok(staff.get(f"/v1/centres/{a}/rounds/{day}/2"))
    entries = entries_by_resident(detail)
    assert set(entries) == {world["r1"], world["r2"]}
    assert observation_status(entries[world["r1"]]) == "present"
    assert observation_status(entries[world["r2"]]) == "excused"


@pytest.mark.parametrize("who", ["unknown", "other_centre", "not_yet_arrived"])
def test_round_is_all_or_nothing_naming_the_unknown_resident(rc, world, who):
    staff, a, day = world["staff"], world["a"], "2026-11-20"
    rc.set_clock("2026-11-20T23:05:00+01:00")
    bad = {"unknown": 987654321, "other_centre": world["rb"], "not_yet_arrived": world["later"]}[who]
    before = rc.db.snapshot("observations")
    reply = staff.post(
        f"/v1/centres/{a}/rounds/{day}/3",
        json={
            "observations": [
                {"resident": world["r1"], "status": "present"},
                {"resident": bad, "status": "present"},
            ]
        },
    )
    assert 400 <= reply.status < 500 and reply.status != 403, reply
    err = error_of(reply, reply.status)
    assert str(bad) in err["message"] or err.get("field") == "observations[1].resident", err
    assert rc.db.snapshot("observations") == before


def test_excused_needs_a_reason_and_only_excused_takes_one(rc, world):
    staff, a, day = world["staff"], world["a"], "2026-11-20"
    before = rc.db.snapshot("observations")
    for obs in (
        {"resident": world["r1"], "status": "excused"},
        {"resident": world["r1"], "status": "present", "reason": "leave"},
    ):
        reply = staff.post(f"/v1/centres/{a}/rounds/{day}/3", json={"observations": [obs]})
        assert error_of(reply, 400).get("field") == "observations[0].reason"
    assert rc.db.snapshot("observations") == before


def test_correction_keeps_history(rc, world):
    staff, a, day = world["staff"], world["a"], "2026-11-21"
    rc.set_clock("2026-11-21T07:10:00+01:00")
    path = f"/v1/centres/{a}/rounds/{day}/1"
    ok(staff.post(path, json={"observations": [{"resident": world["r1"], "status": "absent"}]}))
    ok(staff.post(path, json={"observations": [
        {"resident": world["r1"], "status": "present", "note": "was in the kitchen"}]}))

    rows = rc.db.query(
        "SELECT status, current FROM observations WHERE resident = %s AND date = %s AND slot = 1 "
        "ORDER BY id",
        world["r1"], datetime.date.fromisoformat(day),
    )
    assert rows == [("absent", False), ("present", True)]

    current = entries_by_resident(ok(staff.get(path)))
    assert observation_status(current[world["r1"]]) == "present"
    assert "absent" not in repr(current[world["r1"]])
    with_history = ok(staff.get(f"{path}?history=true"))
    text = repr(entries_by_resident(with_history)[world["r1"]])
    assert "absent" in text and "present" in text and "was in the kitchen" in text
    # A correction does not count the resident twice.
    assert rounds_of(staff, a, day)[1]["recorded"] == 1


def test_cross_centre_rounds_refused(rc, world):
    b, day = world["b"], "2026-11-20"
    error_of(world["staff"].get(f"/v1/centres/{b}/rounds?date={day}"), 403)
    error_of(world["staff"].get(f"/v1/centres/{b}/rounds/{day}/1"), 403)
    before = rc.db.snapshot("observations")
    reply = world["staff"].post(
        f"/v1/centres/{b}/rounds/{day}/1",
        json={"observations": [{"resident": world["rb"], "status": "present"}]},
    )
    error_of(reply, 403)
    assert rc.db.snapshot("observations") == before
    ok(world["staff_b"].get(f"/v1/centres/{b}/rounds?date={day}"))


def test_rounds_of_unknown_centre_is_404(rc, world):
    error_of(rc.admin.get("/v1/centres/no-such-centre/rounds?date=2026-11-20"), 404)
