"""Paid periods reused rather than recomputed (issue 6, decisions.md "Payouts and corrections"):
a statement carries the corrections of the paid periods of its window, and a paid period that
nothing has changed since its payout is taken at its payout's net_ore instead of being
recomputed from the facts. These tests make sure that shortcut never changes money:

- every statement read here is read twice, with the setting allowance_reuse_paid 'on' (the
  default) and 'off' (every paid period recomputed, the reference), and the two must be equal;
- the money is also asserted by hand, so that two equal but wrong answers still fail;
- allowance_items() shows which path a paid period took, asserted wherever the scenario fixes
  it: a paid period's own item has "facts" when recomputed and "worth_ore" (no facts) when
  reused; an unpaid period's "earlier" lists a recomputed paid period of its window with its
  facts and leaves a reused one out (unchanged: nothing to carry).

Scenarios: each kind of retroactive change to a paid period (it must be recomputed and the
change carried into the next period), changes that only reach later days (the paid period stays
reused, nothing is carried), a payout made while the resident was absent (never reused: the
period's worth shrinks as the absence goes on), and a seeded random run comparing whole centre
exports (JSON and CSV) after every step. Rates and a centre's meal scheme or time zone are
global, so those tests have daemons (databases) of their own."""

import contextlib
import datetime
import os
import random
import types
import zoneinfo

import pytest
from allowance_helpers import (
    BASE_ORE,
    PHASE1_ORE,
    PHASE2_ORE,
    Centre,
    allowance_items,
    check_arithmetic,
    insert_absence,
    local,
    parse_csv,
    period,
    set_setting,
)
from harness import ok

P0, P1, P2 = period(0), period(1), period(2)
D1 = BASE_ORE + PHASE1_ORE  # a phase 1 day without free meals: 6816
D2 = BASE_ORE + PHASE2_ORE  # a phase 2 day without free meals: 9249
PAY_E = local("2026-01-19", "10:00")  # the first day after E = P0: E is paid
CHANGE = local("2026-01-20", "10:00")  # the changes come a day later
PAY_P1 = local("2026-02-02", "10:00")  # P1 is paid on the first day of P2


# ---- the two paths ---------------------------------------------------------------------------


@contextlib.contextmanager
def reuse_off(rc):
    """Every paid period recomputed for the block (the old behaviour, the reference)."""
    set_setting(rc, "allowance_reuse_paid", "off")
    try:
        yield
    finally:
        set_setting(rc, "allowance_reuse_paid", "on")


def clock(rc):
    return ok(rc.admin.get("/v1/clock"), 200)["now"]


def path_of(entry):
    """'recomputed' (facts given) or 'reused' (worth_ore given instead) for a paid period's item
    or an entry of "earlier"."""
    if entry.get("facts") is not None:
        return "recomputed"
    assert isinstance(entry.get("worth_ore"), int), f"neither facts nor worth_ore: {entry}"
    return "reused"


def item_of(rc, resident_id, start):
    [item] = allowance_items(rc, [resident_id], start, clock(rc))
    assert item["resident"]["id"] == resident_id
    return item


def paid_in_window(rc, residents, start):
    """{resident: [paid period starts]} of the correction window before start."""
    out = {r: [] for r in residents}
    for resident, paid in rc.db.query(
            "SELECT resident, period_start::text FROM payouts"
            " WHERE resident = ANY(%s) AND period_start < %s::date"
            " AND period_start >= %s::date - 14 * allowance_correction_periods()"
            " ORDER BY resident, period_start", list(residents), start, start):
        out[resident].append(paid)
    return out


def earlier_of(item, paid):
    """{paid period start: path} for the paid periods (paid: the window's) an unpaid period's
    item corrects. A paid period the item lists (always with its facts) was recomputed; one it
    leaves out (unchanged: worth what it was paid at, nothing to carry) was reused."""
    assert item["payout"] is None, f"{item['period_start']} is paid"
    listed = {e["period_start"]: path_of(e) for e in item["earlier"]}
    assert set(listed) <= set(paid), f"earlier lists unpaid periods: {listed}, paid {paid}"
    assert set(listed.values()) <= {"recomputed"}, f"earlier lists a period without facts: {item}"
    return {p: listed.get(p, "reused") for p in paid}


def earlier_paths(rc, resident_id, start):
    """{paid period start: path} of the paid periods of the window before an unpaid period."""
    return earlier_of(item_of(rc, resident_id, start),
                      paid_in_window(rc, [resident_id], start)[resident_id])


def paid_path(rc, resident_id, start):
    """The path of a paid period's own statement (its correction_ore)."""
    item = item_of(rc, resident_id, start)
    assert item["payout"] is not None, f"{start} is not paid"
    if path_of(item) == "reused":
        assert item["worth_ore"] == item["payout"]["net_ore"], item
        return "reused"
    return "recomputed"


def statement_both(rc, api, resident_id, start):
    """The resident's statement with reuse on, asserted equal to the one with reuse off (under
    which allowance_items must recompute everything)."""
    path = f"/v1/residents/{resident_id}/statements/{start}"
    on = ok(api.get(path), 200)
    with reuse_off(rc):
        off = ok(api.get(path), 200)
        item = item_of(rc, resident_id, start)
        if item["payout"] is not None:
            assert path_of(item) == "recomputed", item
        else:
            paid = paid_in_window(rc, [resident_id], start)[resident_id]
            assert earlier_of(item, paid) == {p: "recomputed" for p in paid}, item
    assert on == off, f"reuse on:\n{on}\nreuse off:\n{off}"
    check_arithmetic(on)
    return on


def pay(rc, api, resident_id, start, at):
    rc.set_clock(at)
    return ok(pay_reply(api, resident_id, start), 201)


def pay_reply(api, resident_id, start):
    """A payout in person, or, while the resident is away (in person is refused then), by a
    guardian under a special agreement from the period's start: these tests are about what a
    payout during an absence settles, not about who collects it."""
    reply = api.post(f"/v1/residents/{resident_id}/payouts",
                     json={"period_start": start, "collected_by": "self"})
    if reply.status != 409 or reply.body["error"]["code"] != "absence_open":
        return reply
    agreements = ok(api.get(f"/v1/residents/{resident_id}/agreements"), 200)
    if not any(a["proxy_name"] == "Guardian" for a in agreements["items"]):
        ok(api.post(f"/v1/residents/{resident_id}/agreements",
                    json={"proxy_name": "Guardian", "from": start}), 201)
    return api.post(f"/v1/residents/{resident_id}/payouts",
                    json={"period_start": start, "collected_by": "Guardian"})


def carried(correction, own_net):
    """(adjustment, pending) of a period whose own net is own_net carrying one correction:
    an increase in full, a decrease only as far as the period's own amount allows."""
    if correction >= 0:
        return correction, 0
    applied = -min(-correction, own_net)
    return applied, correction - applied


# ---- a daemon, its centres and a manager of both ------------------------------------------------


def make_env(rc, free_meals=False):
    rc.set_clock(local("2026-01-05", "08:00"))
    env = types.SimpleNamespace(rc=rc)
    env.centre = Centre(rc, free_meals=free_meals, prefix="reuse")
    env.meals = Centre(rc, free_meals=True, prefix="reusemeals")
    cn = rc.unique("mgr-reuse-")
    rc.create_account(cn, "manager", [env.centre.id, env.meals.id])
    env.api = rc.api(cn)

    def resident(**fields):
        fields.setdefault("arrival_date", P0)
        fields.setdefault("phase", 1)
        return rc.create_resident(env.centre.id, **fields)

    env.resident = resident
    return env


@pytest.fixture(scope="module")
def env(rc):
    return make_env(rc)


def paid_and_reused(env, r, paid_net):
    """Pays E for r (the day after it), checks what was paid and that E is reused as long as
    nothing changes."""
    rc, api = env.rc, env.api
    paid = pay(rc, api, r["id"], P0, PAY_E)
    assert paid["net_ore"] == paid_net and paid["adjustment_ore"] == 0
    assert earlier_paths(rc, r["id"], P1) == {P0: "reused"}
    assert paid_path(rc, r["id"], P0) == "reused"
    assert statement_both(rc, api, r["id"], P0)["correction_ore"] == 0
    st1 = statement_both(rc, api, r["id"], P1)
    assert st1["adjustment_ore"] == 0 and st1["pending_correction_ore"] == 0
    return paid


# ---- 1. retroactive changes to a paid period ---------------------------------------------------


def insert(since_day, until_day=None):
    def change(env, r):
        insert_absence(env.rc, r["id"], env.centre.id, local(since_day, "00:00"),
                       local(until_day, "00:00") if until_day else None)
    return change


def move_absence(column, day_text):
    def change(env, r):
        instant = local(day_text, "00:00")
        if column == "returned_at":
            env.rc.db.execute("UPDATE absences SET returned_at = %s, closed_at = %s"
                              " WHERE resident = %s", instant, instant, r["id"])
        else:
            env.rc.db.execute("UPDATE absences SET since = %s WHERE resident = %s",
                              instant, r["id"])
    return change


def sanction(first, last, percent):
    def change(env, r):
        ok(env.api.post(f"/v1/residents/{r['id']}/sanctions", json={
            "from": first, "to": last, "percent": percent, "reason": "a late decision",
            "heard_at": local("2026-01-20", "09:00")}), 201)
    return change


def phase(new_phase, first):
    def change(env, r):
        ok(env.api.post(f"/v1/residents/{r['id']}/phases",
                        json={"phase": new_phase, "from": first}), 201)
    return change


def patch(**body):
    def change(env, r):
        sent = dict(body)
        if sent.get("centre") == "meals":
            sent["centre"] = env.meals.id
        ok(env.api.patch(f"/v1/residents/{r['id']}", json=sent), 200)
    return change


def Retro(change, paid, correction, p1_net, fields=None, before=None, at=CHANGE):
    """A retroactive change: made at `at` after E was paid `paid`; E is then worth paid +
    correction and P1's own amount is p1_net. fields: the resident's; before: done before E is
    paid."""
    return types.SimpleNamespace(change=change, paid=paid, correction=correction,
                                 p1_net=p1_net, fields=fields or {}, before=before, at=at)

RETROACTIVE = {
    # A late absence over whole days of E (the 8th, 9th and 10th).
    "late_absence": Retro(change=insert("2026-01-08", "2026-01-11"),
                          paid=14 * D1, correction=-3 * D1, p1_net=14 * D1),
    # ... over E's last day only.
    "late_absence_last_day": Retro(change=insert("2026-01-18", "2026-01-19"),
                                   paid=14 * D1, correction=-D1, p1_net=14 * D1),
    # An absence of the 8th and 9th turns out to have lasted until the 12th ...
    "returned_later": Retro(before=insert("2026-01-08", "2026-01-10"),
                            change=move_absence("returned_at", "2026-01-12"),
                            paid=12 * D1, correction=-2 * D1, p1_net=14 * D1),
    # ... or until the 21st, after E (a change whose new end lies beyond the paid period).
    "returned_after_the_period": Retro(before=insert("2026-01-08", "2026-01-10"),
                                       change=move_absence("returned_at", "2026-01-21"),
                                       at=local("2026-01-21", "10:00"),
                                       paid=12 * D1, correction=-9 * D1, p1_net=12 * D1),
    # ... or one of the 8th .. 11th ended on the 9th: money is owed to the resident.
    "returned_earlier": Retro(before=insert("2026-01-08", "2026-01-12"),
                              change=move_absence("returned_at", "2026-01-09"),
                              paid=10 * D1, correction=3 * D1, p1_net=14 * D1),
    # ... or one of the 10th and 11th had begun on the 7th.
    "since_earlier": Retro(before=insert("2026-01-10", "2026-01-12"),
                           change=move_absence("since", "2026-01-07"),
                           paid=12 * D1, correction=-3 * D1, p1_net=14 * D1),
    # Section 9's sanction: half the phase 1 supplement on 4 days.
    "sanction": Retro(change=sanction("2026-01-06", "2026-01-09", 50),
                      paid=14 * D1, correction=-4 * 488, p1_net=14 * D1),
    # A sanction from E's last day on (the rest of it falls in P1).
    "sanction_last_day": Retro(change=sanction("2026-01-18", "2026-01-25", 100),
                               paid=14 * D1, correction=-PHASE1_ORE,
                               p1_net=14 * D1 - 7 * PHASE1_ORE),
    # An age assessment: 18 on the 12th, so the 5th .. 11th are payable and P1 is not at all.
    "born_earlier": Retro(change=patch(date_of_birth="2008-01-12", reason="age assessment"),
                          paid=14 * D1, correction=-7 * D1, p1_net=0),
    # The other way round: thought 18 on the 12th, in fact a child all along.
    "born_later": Retro(fields={"date_of_birth": "2008-01-12"},
                        change=patch(date_of_birth="2012-03-10", reason="passport found"),
                        paid=7 * D1, correction=7 * D1, p1_net=14 * D1),
    # Phase 2 from the 12th, decided late.
    "phase_backdated": Retro(change=phase(2, "2026-01-12"),
                             paid=14 * D1, correction=7 * (PHASE2_ORE - PHASE1_ORE),
                             p1_net=14 * D2),
    # Phase 3 (no supplement) from E's last day.
    "phase_last_day": Retro(change=phase(3, "2026-01-18"),
                            paid=14 * D1, correction=-PHASE1_ORE, p1_net=14 * BASE_ORE),
    # Left on the 15th (the 5th .. 14th payable), recorded late: nothing left in P1 to carry it.
    "departure_backdated": Retro(change=patch(departure_date="2026-01-15"),
                                 paid=14 * D1, correction=-4 * D1, p1_net=0),
    # Left on E's last day, which is not payable.
    "departure_last_day": Retro(change=patch(departure_date="2026-01-18"),
                                paid=14 * D1, correction=-D1, p1_net=0),
    # A departure on the 15th turns out to have been on the 25th, or not to have happened.
    "departure_moved_later": Retro(before=patch(departure_date="2026-01-15"),
                                   change=patch(departure_date="2026-01-25"),
                                   paid=10 * D1, correction=4 * D1, p1_net=6 * D1),
    "departure_undone": Retro(before=patch(departure_date="2026-01-15"),
                              change=patch(departure_date=None),
                              paid=10 * D1, correction=4 * D1, p1_net=14 * D1),
    # Moved on the 12th to a centre with free meals: no base allowance from then on.
    "move_to_free_meals": Retro(fields={"phase": 2},
                                change=patch(centre="meals", moved_on="2026-01-12"),
                                paid=14 * D2, correction=-7 * BASE_ORE, p1_net=14 * PHASE2_ORE),
}


def check_retroactive(env, r, paid, correction, p1_net, api=None):
    """After a retroactive change to E (paid at `paid`, now worth paid + correction): E is
    recomputed, its statement shows the correction, P1 carries it (as far as P1's own amount
    allows), paying P1 settles what it carried, and P2 carries only what is left."""
    rc, api = env.rc, api or env.api
    adjustment, pending = carried(correction, p1_net)

    st0 = statement_both(rc, api, r["id"], P0)
    assert st0["correction_ore"] == correction
    assert st0["payout"]["net_ore"] == paid and st0["total_ore"] == paid  # as paid
    assert paid_path(rc, r["id"], P0) == "recomputed"

    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["adjustment_ore"] == adjustment
    assert st1["adjustments"] == ([{"period_start": P0, "amount_ore": adjustment}]
                                  if adjustment else [])
    assert st1["pending_correction_ore"] == pending
    assert st1["total_ore"] == p1_net + adjustment

    # Paying P1 settles the part it carried; the change still postdates E's payout, so E stays
    # recomputed (reusing it at its net_ore would undo the settled correction), while P1's own
    # payout saw the change and is reused.
    paid1 = pay(rc, api, r["id"], P1, PAY_P1)
    assert paid1["amount_ore"] == p1_net + adjustment and paid1["adjustment_ore"] == adjustment
    assert statement_both(rc, api, r["id"], P0)["correction_ore"] == pending
    st2 = statement_both(rc, api, r["id"], P2)
    assert earlier_paths(rc, r["id"], P2) == {P0: "recomputed", P1: "reused"}
    assert st2["adjustment_ore"] == 0  # all carried, or (pending) nothing payable in P2
    assert st2["pending_correction_ore"] == pending
    assert statement_both(rc, api, r["id"], P1)["correction_ore"] == 0


@pytest.mark.parametrize("name", list(RETROACTIVE))
def test_retroactive_change_recomputes_the_paid_period(env, name):
    case = RETROACTIVE[name]
    rc = env.rc
    rc.set_clock(local("2026-01-05", "08:00"))
    r = env.resident(**case.fields)
    if case.before:
        case.before(env, r)
    paid_and_reused(env, r, case.paid)
    rc.set_clock(case.at)
    case.change(env, r)
    check_retroactive(env, r, case.paid, case.correction, case.p1_net)


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def new_york(day_text, hhmm):
    """RFC 3339 text of local time hhmm on day in New York (west of UTC)."""
    return datetime.datetime.fromisoformat(f"{day_text}T{hhmm}:00").replace(
        tzinfo=NEW_YORK).isoformat()


@pytest.fixture(scope="module")
def ny(env):
    return Centre(env.rc, prefix="reuseny", timezone="America/New_York")


def test_return_moved_to_the_evening_of_the_last_day_west_of_utc(env, ny):
    """West of UTC an instant's local date is the day before its UTC date: a return moved to
    22:00 on E's last day in New York (03:00 the next day in UTC) still reaches E."""
    rc, at = env.rc, new_york
    rc.set_clock(at("2026-01-05", "08:00"))
    r = rc.create_resident(ny.id, arrival_date=P0, phase=1)
    rc.set_clock(at("2026-01-22", "10:00"))
    # Away from the 15th to the 20th (New York days).
    insert_absence(rc, r["id"], ny.id, at("2026-01-15", "00:00"), at("2026-01-21", "00:00"))
    paid = pay(rc, ny.manager, r["id"], P0, at("2026-01-22", "10:00"))
    assert paid["net_ore"] == 10 * D1
    assert earlier_paths(rc, r["id"], P1) == {P0: "reused"}
    st1 = statement_both(rc, ny.manager, r["id"], P1)
    assert st1["adjustment_ore"] == 0 and st1["total_ore"] == 12 * D1
    # In fact back at 22:00 on the 18th: the 18th .. 20th are owed (one of them E's).
    back = at("2026-01-18", "22:00")
    rc.db.execute("UPDATE absences SET returned_at = %s, closed_at = %s WHERE resident = %s",
                  back, back, r["id"])
    check_retroactive(env, r, 10 * D1, D1, 14 * D1, api=ny.manager)


def test_paid_on_the_evening_of_the_last_day_west_of_utc_while_away(env, ny):
    """Paid at 21:00 on E's last day in New York (already the next day in UTC) while away: the
    absence goes on covering that day once it ends, so E is never reused."""
    rc, at = env.rc, new_york
    rc.set_clock(at("2026-01-05", "08:00"))
    r = rc.create_resident(ny.id, arrival_date=P0, phase=1)
    rc.set_clock(at("2026-01-18", "21:00"))
    insert_absence(rc, r["id"], ny.id, at("2026-01-16", "00:00"))
    # The 16th and 17th are missed; the 18th has not ended.
    paid = pay(rc, ny.manager, r["id"], P0, at("2026-01-18", "21:00"))
    assert paid["net_ore"] == 12 * D1
    assert paid_path(rc, r["id"], P0) == "recomputed"
    rc.set_clock(at("2026-01-20", "10:00"))
    assert statement_both(rc, ny.manager, r["id"], P0)["correction_ore"] == -D1
    st1 = statement_both(rc, ny.manager, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["payable_days"] == 13  # the 19th missed as well
    assert st1["adjustment_ore"] == -D1 and st1["total_ore"] == 12 * D1


# ---- 1b. global changes: rates, a centre's meal scheme and time zone (own databases) -----------


def test_rate_changes_recompute_only_the_periods_they_reach(daemon_factory):
    env = make_env(daemon_factory())
    rc, api = env.rc, env.api
    r = env.resident()
    paid_and_reused(env, r, 14 * D1)
    rc.set_clock(CHANGE)
    # A new phase 1 supplement from the 26th reaches P1 only: E stays reused.
    created = ok(api.post("/v1/rates", json={"kind": "supplement_phase1", "per_day_ore": 1100,
                                             "valid_from": "2026-01-26", "valid_to": None}), 201)
    assert created["superseded"]["valid_to"] == "2026-01-25"
    p1_net = 14 * BASE_ORE + 7 * PHASE1_ORE + 7 * 1100
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "reused"}
    assert st1["adjustment_ore"] == 0 and st1["total_ore"] == p1_net
    assert paid_path(rc, r["id"], P0) == "reused"
    # A new base rate from the 12th reaches 7 days of E.
    ok(api.post("/v1/rates", json={"kind": "base", "per_day_ore": 6000,
                                   "valid_from": "2026-01-12", "valid_to": None}), 201)
    p1_net = 14 * 6000 + 7 * PHASE1_ORE + 7 * 1100
    # A resident paid for E after both changes: E is worth what it was paid, and reused.
    later = env.resident()
    paid_later = pay(rc, api, later["id"], P0, local("2026-01-20", "11:00"))
    assert paid_later["net_ore"] == 7 * D1 + 7 * (6000 + PHASE1_ORE)
    assert earlier_paths(rc, later["id"], P1) == {P0: "reused"}
    st1 = statement_both(rc, api, later["id"], P1)
    assert st1["adjustment_ore"] == 0 and st1["total_ore"] == p1_net
    check_retroactive(env, r, 14 * D1, 7 * (6000 - BASE_ORE), p1_net)


def test_free_meals_switched_off_recomputes_every_paid_period(daemon_factory):
    env = make_env(daemon_factory(), free_meals=True)
    rc, api = env.rc, env.api
    r = env.resident()
    elsewhere = rc.create_resident(env.meals.id, arrival_date=P0, phase=1)
    paid_and_reused(env, r, 14 * PHASE1_ORE)
    pay(rc, api, elsewhere["id"], P0, PAY_E)
    rc.set_clock(CHANGE)
    centre = ok(rc.admin.patch(f"/v1/centres/{env.centre.id}", json={"free_meals": False}), 200)
    assert centre["free_meals"] is False
    # The other centre's resident is worth the same: whichever path, nothing is carried.
    assert statement_both(rc, api, elsewhere["id"], P1)["adjustment_ore"] == 0
    check_retroactive(env, r, 14 * PHASE1_ORE, 14 * BASE_ORE, 14 * D1)


def test_time_zone_change_recomputes_the_days_an_absence_covers(daemon_factory):
    env = make_env(daemon_factory())
    rc = env.rc
    r = env.resident()
    # From Copenhagen midnight to Copenhagen midnight: the 8th and 9th.
    insert_absence(rc, r["id"], env.centre.id, local("2026-01-08", "00:00"),
                   local("2026-01-10", "00:00"))
    paid_and_reused(env, r, 12 * D1)
    rc.set_clock(CHANGE)
    ok(rc.admin.patch(f"/v1/centres/{env.centre.id}", json={"timezone": "Europe/London"}), 200)
    # In London the absence runs from 23:00 on the 7th to 23:00 on the 9th: only the 8th.
    check_retroactive(env, r, 12 * D1, D1, 14 * D1)


# ---- 2. changes that reach only days after the paid period --------------------------------------

LATER = {
    # Whole days of P1 (the 21st and 22nd).
    "absence": (insert("2026-01-21", "2026-01-23"), 12 * D1),
    # Away since the 21st, still: at the clock (the 23rd, 10:00) the 21st and 22nd are missed.
    "open_absence": (insert("2026-01-21"), 12 * D1),
    # From P1's first day.
    "sanction": (sanction("2026-01-19", "2026-01-22", 50), 14 * D1 - 4 * 488),
    "phase": (phase(2, "2026-01-19"), 14 * D2),
    "departure_first_day": (patch(departure_date="2026-01-19"), 0),
    "departure": (patch(departure_date="2026-01-26"), 7 * D1),
}


@pytest.mark.parametrize("name", list(LATER))
def test_change_after_the_paid_period_keeps_it_reused(env, name):
    change, p1_net = LATER[name]
    rc, api = env.rc, env.api
    rc.set_clock(local("2026-01-05", "08:00"))
    r = env.resident()
    paid_and_reused(env, r, 14 * D1)
    rc.set_clock(local("2026-01-23", "10:00"))
    change(env, r)
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "reused"}
    assert st1["adjustment_ore"] == 0 and st1["adjustments"] == []
    assert st1["pending_correction_ore"] == 0
    assert st1["total_ore"] == p1_net
    assert paid_path(rc, r["id"], P0) == "reused"
    assert statement_both(rc, api, r["id"], P0)["correction_ore"] == 0


# ---- 3. a payout made while the resident was away -----------------------------------------------


def test_paid_during_an_absence_that_goes_on_is_never_reused(env):
    rc, api = env.rc, env.api
    rc.set_clock(local("2026-01-05", "08:00"))
    r = env.resident()
    # Reported at noon on the 10th; never accounted for since arrival: away since the 5th.
    rc.set_clock(local("2026-01-10", "12:00"))
    absence = ok(api.post(f"/v1/residents/{r['id']}/absences", json={}), 201)
    assert absence["since"] == "2026-01-04T23:00:00+00:00"
    # Paid on the 12th while still away: the 5th .. 11th were missed, the rest not yet.
    paid = pay(rc, api, r["id"], P0, local("2026-01-12", "10:00"))
    assert paid["net_ore"] == 7 * D1
    assert paid_path(rc, r["id"], P0) == "recomputed"
    # Still away after E ended: E is worth nothing now, P1 carries the 7 days paid.
    rc.set_clock(local("2026-01-21", "10:00"))
    st0 = statement_both(rc, api, r["id"], P0)
    assert st0["correction_ore"] == -7 * D1
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["payable_days"] == 12  # the 19th and 20th missed as well
    assert st1["adjustment_ore"] == -7 * D1 and st1["total_ore"] == 12 * D1 - 7 * D1
    # Back at 10:00 on the 21st; the period is still recomputed (same figures).
    ok(api.post(f"/v1/absences/{absence['id']}/return", json={}), 200)
    rc.set_clock(local("2026-01-22", "10:00"))
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["adjustment_ore"] == -7 * D1 and st1["total_ore"] == 5 * D1


def test_paid_during_an_absence_that_ended_in_the_period_is_recomputed(env):
    rc, api = env.rc, env.api
    rc.set_clock(local("2026-01-05", "08:00"))
    r = env.resident()
    rc.set_clock(local("2026-01-10", "12:00"))
    absence = ok(api.post(f"/v1/residents/{r['id']}/absences", json={}), 201)
    paid = pay(rc, api, r["id"], P0, local("2026-01-12", "10:00"))
    assert paid["net_ore"] == 7 * D1
    # Back at 09:00 on the 14th: the 5th .. 13th missed, the 14th .. 18th payable.
    rc.set_clock(local("2026-01-14", "09:00"))
    ok(api.post(f"/v1/absences/{absence['id']}/return", json={}), 200)
    rc.set_clock(CHANGE)
    assert statement_both(rc, api, r["id"], P0)["correction_ore"] == -2 * D1
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["adjustment_ore"] == -2 * D1 and st1["total_ore"] == 12 * D1


def test_paid_after_the_period_while_away_then_a_return_backdated_into_it(env):
    rc, api = env.rc, env.api
    rc.set_clock(local("2026-01-05", "08:00"))
    r = env.resident()
    rc.set_clock(local("2026-01-10", "12:00"))
    absence = ok(api.post(f"/v1/residents/{r['id']}/absences", json={}), 201)
    # Paid after E ended, still away: every day of E was missed.
    paid = pay(rc, api, r["id"], P0, local("2026-01-21", "10:00"))
    assert paid["net_ore"] == 0
    st1 = statement_both(rc, api, r["id"], P1)
    assert st1["adjustment_ore"] == 0 and st1["total_ore"] == 12 * D1  # 19th, 20th missed
    rc.set_clock(local("2026-01-23", "10:00"))
    st1 = statement_both(rc, api, r["id"], P1)
    assert st1["adjustment_ore"] == 0 and st1["total_ore"] == 10 * D1
    # The return is recorded late: back at 10:00 on the 15th, so the 15th .. 18th are owed.
    ok(api.post(f"/v1/absences/{absence['id']}/return",
                json={"at": local("2026-01-15", "10:00")}), 200)
    assert statement_both(rc, api, r["id"], P0)["correction_ore"] == 4 * D1
    st1 = statement_both(rc, api, r["id"], P1)
    assert earlier_paths(rc, r["id"], P1) == {P0: "recomputed"}
    assert st1["payable_days"] == 14
    assert st1["adjustment_ore"] == 4 * D1 and st1["total_ore"] == 18 * D1


# ---- 4. a seeded random run: whole centre exports, reuse on == off after every step -------------


class RandomRun:
    """Residents of one centre through four periods: arrivals, absences, sanctions, phases,
    departures, corrections of the date of birth, rate and meal scheme changes, payouts at
    random times; the centre's statements compared with reuse on and off after every step."""

    def __init__(self, rc, seed):
        self.rc = rc
        self.seed = seed
        self.rng = random.Random(seed)
        self.centre = Centre(rc, prefix="random")
        self.api = self.centre.manager
        self.residents = {}  # id -> {"arrival", "departure", "open": absence id or None}
        self.rate_from = {}  # kind -> the first day of its open-ended rate set here
        self.free_meals = False
        self.now = None
        self.counts = {"reused": 0, "recomputed": 0}
        self.last_totals = {}  # (resident, period) -> total_ore of the last comparison
        self.last_items = {}  # (resident, period) -> the statement of the last comparison
        self.log = []  # what was done, for the failure message

    # -- time ------------------------------------------------------------------------------------

    def set_now(self, day_text, hour, minute):
        self.now = datetime.datetime.fromisoformat(local(day_text, f"{hour:02d}:{minute:02d}"))
        self.rc.set_clock(self.now)

    @property
    def today(self):
        return self.now.date()

    def instant_between(self, low, high):
        """A random instant in [low, high]: a local midnight half of the time."""
        span = (high - low).total_seconds()
        at = low + datetime.timedelta(seconds=self.rng.uniform(0, max(span, 0)))
        if self.rng.random() < 0.5:
            midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
            if midnight >= low:
                at = midnight
        return at

    def day_after(self, days):
        return self.today + datetime.timedelta(days=days)

    # -- the operations ------------------------------------------------------------------------

    def arrive(self):
        arrival = max(datetime.date.fromisoformat(P0), self.day_after(-self.rng.randint(0, 9)))
        dob = self.rng.choice([
            "2011-05-17", "2012-03-10", "2010-11-02",
            # 18 during the run
            (datetime.date(2008, 1, 8) + datetime.timedelta(days=self.rng.randint(0, 50)))
            .isoformat()])
        r = self.rc.create_resident(self.centre.id, arrival_date=arrival.isoformat(),
                                    phase=self.rng.randint(1, 3), date_of_birth=dob)
        self.residents[r["id"]] = {"arrival": arrival, "departure": None, "open": None}
        self.log.append(f"arrive {r['id']} {arrival} {dob}")

    def pick(self):
        return self.rng.choice(sorted(self.residents))

    def arrival_instant(self, rid):
        return datetime.datetime.fromisoformat(local(self.residents[rid]["arrival"].isoformat(),
                                                     "00:00"))

    def absence(self, rid):
        """A closed absence somewhere between the arrival and now (late, or retroactive)."""
        since = self.instant_between(self.arrival_instant(rid), self.now)
        until = self.instant_between(since, min(self.now, since + datetime.timedelta(days=5)))
        insert_absence(self.rc, rid, self.centre.id, since.isoformat(), until.isoformat())
        self.log.append(f"absence {rid} {since} .. {until}")

    def open_absence(self, rid):
        state = self.residents[rid]
        if state["open"] is not None:
            return
        low = max(self.arrival_instant(rid), self.now - datetime.timedelta(days=4))
        since = self.instant_between(low, self.now)
        insert_absence(self.rc, rid, self.centre.id, since.isoformat(), None)
        state["open"] = self.rc.db.scalar(
            "SELECT id FROM absences WHERE resident = %s AND returned_at IS NULL", rid)
        self.log.append(f"open absence {rid} since {since}")

    def close_absence(self, rid):
        state = self.residents[rid]
        if state["open"] is None:
            return
        since = self.rc.db.scalar("SELECT since FROM absences WHERE id = %s", state["open"])
        at = self.instant_between(since, self.now)
        self.rc.db.execute("UPDATE absences SET returned_at = %s, closed_at = %s,"
                           " closed_by = 'test' WHERE id = %s", at, at, state["open"])
        state["open"] = None
        self.log.append(f"close absence {rid} at {at}")

    def move_return(self, rid):
        """A closed absence's return moved (it lasted longer, or shorter, than recorded)."""
        rows = self.rc.db.query("SELECT id, since FROM absences WHERE resident = %s"
                                " AND returned_at IS NOT NULL ORDER BY id", rid)
        if not rows:
            return
        absence_id, since = self.rng.choice(rows)
        at = self.instant_between(since, min(self.now, since + datetime.timedelta(days=6)))
        self.rc.db.execute("UPDATE absences SET returned_at = %s, closed_at = %s WHERE id = %s",
                           at, at, absence_id)
        self.log.append(f"move return of absence {absence_id} ({rid}) to {at}")

    def sanction(self, rid):
        first = max(datetime.date.fromisoformat(P0), self.day_after(self.rng.randint(-30, 7)))
        last = first + datetime.timedelta(days=self.rng.randint(0, 9))
        ok(self.api.post(f"/v1/residents/{rid}/sanctions", json={
            "from": first.isoformat(), "to": last.isoformat(),
            "percent": self.rng.choice([10, 25, 33, 50, 100]), "reason": "random decision",
            "heard_at": (self.now - datetime.timedelta(minutes=5)).isoformat()}), 201)
        self.log.append(f"sanction {rid} {first} .. {last}")

    def phase(self, rid):
        arrival = self.residents[rid]["arrival"]
        first = max(arrival, self.day_after(self.rng.randint(-30, 7)))
        new = self.rng.randint(1, 3)
        ok(self.api.post(f"/v1/residents/{rid}/phases",
                         json={"phase": new, "from": first.isoformat()}), 201)
        self.log.append(f"phase {rid} {new} from {first}")

    def depart(self, rid):
        state = self.residents[rid]
        if state["departure"] is not None and self.rng.random() < 0.5:
            ok(self.api.patch(f"/v1/residents/{rid}", json={"departure_date": None}), 200)
            state["departure"] = None
            self.log.append(f"departure of {rid} undone")
            return
        day_ = max(state["arrival"], self.day_after(self.rng.randint(-20, 10)))
        ok(self.api.patch(f"/v1/residents/{rid}", json={"departure_date": day_.isoformat()}), 200)
        state["departure"] = day_
        self.log.append(f"departure {rid} {day_}")

    def correct_birth(self, rid):
        dob = self.rng.choice([
            "2012-03-10",
            (datetime.date(2008, 1, 6) + datetime.timedelta(days=self.rng.randint(0, 60)))
            .isoformat()])
        ok(self.api.patch(f"/v1/residents/{rid}",
                          json={"date_of_birth": dob, "reason": "age assessment"}), 200)
        self.log.append(f"date of birth {rid} {dob}")

    def rate(self):
        kind = self.rng.choice(["base", "supplement_phase1", "supplement_phase2"])
        earliest = max(datetime.date.fromisoformat(P0),
                       self.rate_from.get(kind, datetime.date(2000, 1, 1))
                       + datetime.timedelta(days=1))
        first = max(earliest, self.day_after(self.rng.randint(-25, 5)))
        ok(self.api.post("/v1/rates", json={"kind": kind,
                                            "per_day_ore": self.rng.randint(500, 7000),
                                            "valid_from": first.isoformat(),
                                            "valid_to": None}), 201)
        self.rate_from[kind] = first
        self.log.append(f"rate {kind} from {first}")

    def switch_meals(self):
        self.free_meals = not self.free_meals
        ok(self.rc.admin.patch(f"/v1/centres/{self.centre.id}",
                               json={"free_meals": self.free_meals}), 200)
        self.log.append(f"free meals {self.free_meals}")

    def payout(self, rid, start):
        state = self.residents[rid]
        if datetime.date.fromisoformat(start) > self.today or \
                datetime.date.fromisoformat(start) + datetime.timedelta(days=14) \
                <= state["arrival"]:
            return
        reply = pay_reply(self.api, rid, start)
        if reply.status == 409:
            assert reply.body["error"]["code"] == "already_paid", reply.body
            return
        paid = ok(reply, 201)
        # What was paid is what the statement read with both paths just before said (unless
        # another payout of the resident since settled some of what it carried).
        expected = self.last_totals.get((rid, start))
        if expected is not None and paid["amount_ore"] != expected:
            raise AssertionError(
                f"seed {self.seed}: resident {rid} paid {paid['amount_ore']} for {start}, its"
                f" statement just before (reuse on and off) said {expected}:\npaid {paid}\n"
                f"statement {self.last_items.get((rid, start))}\nsteps:\n"
                + "\n".join(self.log))
        for key in [k for k in self.last_totals if k[0] == rid]:
            del self.last_totals[key]
        self.log.append(f"payout {rid} {start} at {self.now}: {paid['amount_ore']}")

    # -- one step ----------------------------------------------------------------------------

    def changes(self, count):
        rng = self.rng
        for _ in range(count):
            rid = self.pick()
            roll = rng.random()
            if roll < 0.22:
                self.absence(rid)
            elif roll < 0.32:
                self.open_absence(rid)
            elif roll < 0.40:
                self.close_absence(rid)
            elif roll < 0.50:
                self.move_return(rid)
            elif roll < 0.64:
                self.sanction(rid)
            elif roll < 0.78:
                self.phase(rid)
            elif roll < 0.86:
                self.depart(rid)
            else:
                self.correct_birth(rid)

    def periods_so_far(self):
        n = (self.today - datetime.date.fromisoformat(P0)).days // 14
        return [period(k) for k in range(n + 1)]

    def compare(self):
        """Every period so far: the centre's JSON and CSV with reuse on equal those with reuse
        off; counts which path the paid periods took."""
        self.last_totals.clear()  # a resident no longer listed must not keep an old total
        self.last_items.clear()
        for start in self.periods_so_far():
            on = self.centre.statements(start)
            csv_on = self.centre.csv_reply(start)
            with reuse_off(self.rc):
                off = self.centre.statements(start)
                csv_off = self.centre.csv_reply(start)
            assert csv_on.status == csv_off.status == 200
            context = f"seed {self.seed}, {start} at {self.now}; steps:\n" + \
                "\n".join(self.log[-40:])
            if on != off:
                by_id = {i["resident"]: i for i in off["items"]}
                differing = [(i, by_id.get(i["resident"])) for i in on["items"]
                             if i != by_id.get(i["resident"])]
                raise AssertionError(f"reuse on != off ({context}):\n{differing[:3]}")
            assert csv_on.body == csv_off.body, context
            header, rows = parse_csv(csv_on.body)
            assert [int(row["resident"]) for row in rows] == \
                [i["resident"] for i in on["items"]]
            for i in on["items"]:
                check_arithmetic(i)
                self.last_totals[(i["resident"], start)] = i["total_ore"]
                self.last_items[(i["resident"], start)] = i
        # Which path each paid period of the latest period's statements took.
        start = self.periods_so_far()[-1]
        paid = paid_in_window(self.rc, sorted(self.residents), start)
        for item in allowance_items(self.rc, sorted(self.residents), start,
                                    self.now.isoformat()):
            if item["payout"]:
                self.counts[path_of(item)] += 1
            else:
                for path in earlier_of(item, paid[item["resident"]["id"]]).values():
                    self.counts[path] += 1


def test_random_run_reuse_equals_recompute(daemon_factory):
    seed = int(os.environ.get("ROLLCALL_REUSE_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"seed {seed} (rerun with ROLLCALL_REUSE_SEED={seed})")
    rc = daemon_factory()
    rc.set_clock(local(P0, "08:00"))
    run = RandomRun(rc, seed)
    rng = run.rng
    run.set_now(P0, 8, 0)
    for _ in range(24):
        run.arrive()
    rate_step, meals_step = rng.sample(range(2, 11), 2)
    step = 0
    for n in range(4):
        start = datetime.date.fromisoformat(period(n))
        offsets = sorted(rng.sample(range(1, 13), 3)) if n else [2, 6, 11]
        for i, offset in enumerate(offsets):
            step += 1
            day_text = (start + datetime.timedelta(days=offset)).isoformat()
            run.set_now(day_text, rng.randint(7, 21), rng.choice([0, 15, 30, 45]))
            if rng.random() < 0.5:
                run.arrive()
            run.changes(rng.randint(4, 9))
            if step == rate_step:
                run.rate()
            if step == meals_step:
                run.switch_meals()
            run.compare()
            # Pay: the previous period for most residents at the first step of a period, and
            # the current period now and then (mid-period).
            for rid in sorted(run.residents):
                if n and i == 0 and rng.random() < 0.8:
                    run.payout(rid, period(n - 1))
                if rng.random() < 0.12:
                    run.payout(rid, period(n))
            run.compare()
    print(f"paid periods: {run.counts}")
    assert run.counts["reused"] >= 30, run.counts
    assert run.counts["recomputed"] >= 15, run.counts
