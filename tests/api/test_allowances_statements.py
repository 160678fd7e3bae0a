"""Allowance statements (SPEC sections 6, 9 and 10): the worked examples of section 9, which days
are payable (arrival and departure, the 18th birthday, absences covering whole local days, an
open absence, daylight-saving days), the phase and the centre in force each day, the 14-day
grid, who may read a statement and its audit row."""

import pytest
from allowance_helpers import (
    BASE_ORE,
    PHASE1_ORE,
    PHASE2_ORE,
    Centre,
    days_of,
    day,
    insert_absence,
    lines_by_kind,
    local,
    period,
)
from harness import error_of, ok

P0 = period(0)  # 2026-01-05 .. 2026-01-18


@pytest.fixture(scope="module")
def tonder(rc):
    rc.set_clock(local("2026-01-20", "10:00"))
    return Centre(rc, free_meals=False, prefix="tonder")


@pytest.fixture(scope="module")
def meals(rc):
    return Centre(rc, free_meals=True, prefix="meals")


@pytest.fixture(autouse=True)
def clock(rc):
    rc.set_clock(local("2026-01-20", "10:00"))


def test_section9_phase2_without_free_meals_is_1294_86(tonder):
    r = tonder.resident(phase=2)
    st = tonder.statement(r["id"], P0)
    assert st["period_start"] == P0 and st["period_end"] == "2026-01-18"
    assert st["payable_days"] == 14
    assert lines_by_kind(st) == {
        "base": [(BASE_ORE, 14, 81774)],
        "supplement_phase2": [(PHASE2_ORE, 14, 47712)],
    }
    assert st["withdrawn_ore"] == 0
    assert st["total_ore"] == 129486
    assert st["payout"] is None
    assert st["resident"] == r["id"] and st["case_number"] == r["case_number"]


def test_section9_phase2_with_free_meals_is_477_12(meals):
    r = meals.resident(phase=2)
    st = meals.statement(r["id"], P0)
    assert st["payable_days"] == 14
    assert lines_by_kind(st) == {"supplement_phase2": [(PHASE2_ORE, 14, 47712)]}
    assert st["total_ore"] == 47712


def test_phase3_gets_no_supplement(tonder):
    r = tonder.resident(phase=3)
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 14
    assert lines_by_kind(st) == {"base": [(BASE_ORE, 14, 81774)]}


def test_arrival_day_included_mid_period(tonder):
    r = tonder.resident(arrival_date="2026-01-09")
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 10  # 9th .. 18th
    assert st["total_ore"] == 10 * (BASE_ORE + PHASE1_ORE)


def test_departure_day_excluded_mid_period(tonder):
    r = tonder.resident(departure_date="2026-01-12")
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 7  # 5th .. 11th
    assert st["total_ore"] == 7 * (BASE_ORE + PHASE1_ORE)


def test_arrival_and_departure_in_one_period(tonder):
    r = tonder.resident(arrival_date="2026-01-07", departure_date="2026-01-10")
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 3


def test_not_enrolled_in_the_period_pays_nothing(tonder):
    r = tonder.resident(arrival_date="2026-01-19")
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 0 and st["lines"] == [] and st["total_ore"] == 0


def test_18th_birthday_mid_period_ends_payment(tonder):
    # Born 2008-01-10: 18 on 2026-01-10, so the 5th .. 9th are payable.
    r = tonder.resident(date_of_birth="2008-01-10")
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 5
    assert st["total_ore"] == 5 * (BASE_ORE + PHASE1_ORE)


def test_18th_birthday_on_29_february_counts_as_age_does(rc, tonder):
    # Born 2008-02-29: age() makes the resident 18 on 2026-03-01, not on 28 February.
    rc.set_clock(local("2026-03-05"))
    r = tonder.resident(date_of_birth="2008-02-29", arrival_date=period(3))
    st = tonder.statement(r["id"], period(3))  # 2026-02-16 .. 2026-03-01
    assert st["payable_days"] == 13  # 16 Feb .. 28 Feb


def test_phase_change_mid_period(tonder):
    r = tonder.resident(phase=1)
    ok(tonder.manager.post(f"/v1/residents/{r['id']}/phases",
                           json={"phase": 2, "from": "2026-01-12"}), 201)
    st = tonder.statement(r["id"], P0)
    assert lines_by_kind(st) == {
        "base": [(BASE_ORE, 14, 14 * BASE_ORE)],
        "supplement_phase1": [(PHASE1_ORE, 7, 7 * PHASE1_ORE)],
        "supplement_phase2": [(PHASE2_ORE, 7, 7 * PHASE2_ORE)],
    }


def test_move_between_centres_paid_by_each_days_centre(rc, tonder, meals):
    # Tønder (no free meals) until the 11th, then a centre with free meals: the base allowance
    # is paid for the Tønder days only; the statement belongs to the centre of the last day.
    rc.manager_of(meals.id)
    r = tonder.resident(phase=2)
    mover = rc.create_account(rc.unique("mgr-both-"), "manager", [tonder.id, meals.id])
    api = rc.api(mover["cn"])
    ok(api.patch(f"/v1/residents/{r['id']}",
                 json={"centre": meals.id, "moved_on": "2026-01-12"}), 200)
    st = ok(api.get(f"/v1/residents/{r['id']}/statements/{P0}"), 200)
    assert st["payable_days"] == 14
    assert lines_by_kind(st) == {
        "base": [(BASE_ORE, 7, 7 * BASE_ORE)],
        "supplement_phase2": [(PHASE2_ORE, 14, 47712)],
    }
    assert st["centre"] == meals.id
    assert r["id"] in [i["resident"] for i in meals.statements(P0)["items"]]
    assert r["id"] not in [i["resident"] for i in tonder.statements(P0)["items"]]


def test_absence_whole_days_not_payable_part_of_a_day_payable(rc, tonder):
    r = tonder.resident()
    # Reported at noon on the 7th, never accounted for since arrival: since = the 5th 00:00.
    rc.set_clock(local("2026-01-07", "12:00"))
    absence = tonder.report_absence(r["id"])
    rc.set_clock(local("2026-01-08", "10:00"))
    tonder.return_absence(absence["id"])
    # The 5th, 6th and 7th were covered from 00:00 to 24:00; the 8th only until 10:00.
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 11
    # Away from 10:00 to 20:00 on the 8th: part of a day, still payable.
    rc.set_clock(local("2026-01-08", "15:00"))
    second = tonder.report_absence(r["id"])
    rc.set_clock(local("2026-01-08", "20:00"))
    tonder.return_absence(second["id"])
    rc.set_clock(local("2026-01-20", "10:00"))
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 11
    assert st["total_ore"] == 11 * (BASE_ORE + PHASE1_ORE)


def test_open_absence_counts_until_the_clock(rc, tonder):
    r = tonder.resident()
    rc.set_clock(local("2026-01-10", "12:00"))
    tonder.report_absence(r["id"])  # since the 5th 00:00, still open
    st = tonder.statement(r["id"], P0)
    assert st["payable_days"] == 9  # 5th..9th missed; the 10th has not ended
    rc.set_clock(local("2026-01-12", "08:00"))
    assert tonder.statement(r["id"], P0)["payable_days"] == 7


def test_dst_spring_day_is_one_day(rc, tonder):
    # 2026-03-29 has 23 hours in Copenhagen. Period 6 runs 2026-03-16 .. 2026-03-29.
    start = period(5)
    assert start == "2026-03-16"
    rc.set_clock(local("2026-04-01"))
    whole = tonder.resident(arrival_date=start)
    assert tonder.statement(whole["id"], start)["payable_days"] == 14
    # Away from local midnight to local midnight of the 29th: 23 hours, a whole day.
    covered = tonder.resident(arrival_date=start)
    insert_absence(rc, covered["id"], tonder.id, "2026-03-28T23:00:00+00:00",
                   "2026-03-29T22:00:00+00:00")
    assert tonder.statement(covered["id"], start)["payable_days"] == 13
    # Half an hour late: the day is not covered from 00:00.
    late = tonder.resident(arrival_date=start)
    insert_absence(rc, late["id"], tonder.id, "2026-03-28T23:30:00+00:00",
                   "2026-03-29T22:00:00+00:00")
    assert tonder.statement(late["id"], start)["payable_days"] == 14


def test_dst_autumn_day_is_one_day(rc, tonder):
    # 2026-10-25 has 25 hours in Copenhagen. Period 21 runs 2026-10-12 .. 2026-10-25.
    start = period(20)
    assert start == "2026-10-12"
    rc.set_clock(local("2026-10-28"))
    covered = tonder.resident(arrival_date=start)
    insert_absence(rc, covered["id"], tonder.id, "2026-10-24T22:00:00+00:00",
                   "2026-10-25T23:00:00+00:00")
    assert tonder.statement(covered["id"], start)["payable_days"] == 13
    # 24 hours from local midnight end at 23:00 local: the 25-hour day is not covered.
    short = tonder.resident(arrival_date=start)
    insert_absence(rc, short["id"], tonder.id, "2026-10-24T22:00:00+00:00",
                   "2026-10-25T22:00:00+00:00")
    assert tonder.statement(short["id"], start)["payable_days"] == 14


def test_period_start_off_the_grid_is_400_naming_it(tonder):
    r = tonder.resident()
    for bad in ("2026-01-06", "2026-01-19x", "2025-12-22", "2026-02-30"):
        err = error_of(tonder.statement_reply(r["id"], bad), 400)
        assert err["field"] == "period_start", (bad, err)
    err = error_of(tonder.statement_reply(r["id"], "2026-01-12"), 400)
    assert "2026-01-05" in err["message"] and "2026-01-19" in err["message"]


def test_unknown_resident_is_404(tonder):
    error_of(tonder.statement_reply(999999, P0), 404)


def test_staff_may_not_read_statements_and_other_centres_are_refused(rc, tonder, meals):
    r = tonder.resident()
    cn = rc.unique("staff-allow-")
    rc.create_account(cn, "staff", [tonder.id])
    error_of(rc.api(cn).get(f"/v1/residents/{r['id']}/statements/{P0}"), 403)
    error_of(meals.manager.get(f"/v1/residents/{r['id']}/statements/{P0}"), 403)
    error_of(meals.manager.get(f"/v1/centres/{tonder.id}/statements/{P0}"), 403)


def test_statement_read_is_audited(rc, tonder):
    r = tonder.resident()
    before = rc.db.count("audit", "resident = %s AND action = 'statement_read'", r["id"])
    tonder.statement(r["id"], P0)
    assert rc.db.count("audit", "resident = %s AND action = 'statement_read'", r["id"]) \
        == before + 1
    error_of(tonder.statement_reply(r["id"], "2026-01-06"), 400)
    assert rc.db.count("audit", "resident = %s AND outcome LIKE 'refused:%%'", r["id"]) >= 1


def test_statement_days_match_the_days(tonder):
    # A resident present every day of a later period: 14 days at every rate.
    r = tonder.resident(phase=2, arrival_date=period(0))
    for n in range(3):
        st = tonder.statement(r["id"], period(n))
        assert st["payable_days"] == 14
        assert days_of(st, "base") == 14 and days_of(st, "supplement_phase2") == 14
        assert st["period_end"] == day(period(n), 13)
