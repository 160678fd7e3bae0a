"""Payouts (SPEC sections 6 and 10): once per resident and period, decided by a unique constraint
(a second payout, also one racing the first, gets 409 showing the first); in person, or by a
proxy only under a special agreement covering the payout day; a paid statement never changes,
and later corrections (a late absence, a sanction) are carried into the next period."""

import json
import threading

import pytest
from allowance_helpers import BASE_ORE, PHASE1_ORE, Centre, insert_absence, local, period
from harness import error_of, ok

P0, P1, P2 = period(0), period(1), period(2)
FULL = 14 * (BASE_ORE + PHASE1_ORE)  # 95424


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock(local("2026-01-19", "10:00"))
    return Centre(rc, prefix="payout")


@pytest.fixture(autouse=True)
def clock(rc):
    rc.set_clock(local("2026-01-19", "10:00"))


def test_payout_in_person_then_second_is_409_showing_the_first(rc, centre):
    r = centre.resident()
    paid = centre.payout(r["id"], P0)
    assert paid["id"] and paid["resident"] == r["id"] and paid["period_start"] == P0
    assert paid["collected_by"] == "self" and paid["amount_ore"] == FULL
    assert paid["paid_by"] == f"manager-{centre.id}"
    assert paid["statement"]["total_ore"] == FULL
    reply = centre.payout_reply(r["id"], P0)
    err = error_of(reply, 409)
    assert err["code"] == "already_paid" and err["field"] == "period_start"
    assert reply.body["payout"]["id"] == paid["id"]
    assert reply.body["payout"]["amount_ore"] == FULL
    assert rc.db.count("payouts", "resident = %s", r["id"]) == 1
    st = centre.statement(r["id"], P0)
    assert st["payout"]["id"] == paid["id"] and "statement" not in st["payout"]
    assert st["total_ore"] == FULL and st["correction_ore"] == 0


def test_two_racing_payouts_one_wins(rc, centre):
    for attempt in range(3):
        r = centre.resident()
        barrier = threading.Barrier(4)
        replies = []

        def pay():
            barrier.wait()
            replies.append(centre.payout_reply(r["id"], P0))

        threads = [threading.Thread(target=pay) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(x.status for x in replies)
        assert statuses == [201, 409, 409, 409], [x.body for x in replies]
        winner = next(x.body for x in replies if x.status == 201)
        for x in replies:
            if x.status == 409:
                assert x.body["error"]["code"] == "already_paid"
                assert x.body["payout"]["id"] == winner["id"]
        assert rc.db.count("payouts", "resident = %s", r["id"]) == 1


def test_retry_with_the_same_idempotency_key_gives_the_first_answer(rc, centre):
    r = centre.resident()
    headers = {"Idempotency-Key": rc.unique("payout-key-")}
    first = centre.payout_reply(r["id"], P0, headers=headers)
    again = centre.payout_reply(r["id"], P0, headers=headers)
    assert first.status == again.status == 201
    assert first.body == again.body
    assert rc.db.count("payouts", "resident = %s", r["id"]) == 1


def test_proxy_needs_an_agreement_covering_the_day(rc, centre):
    r = centre.resident()
    err = error_of(centre.payout_reply(r["id"], P0, "Hassan Ali"), 403)
    assert err["code"] == "no_agreement" and err["field"] == "collected_by"
    # An agreement that ended before today does not cover the payout day.
    centre.agreement(r["id"], proxy_name="Hassan Ali", **{"from": "2026-01-01",
                                                          "to": "2026-01-18"})
    error_of(centre.payout_reply(r["id"], P0, "Hassan Ali"), 403)
    # Another person named in an agreement covering today may collect.
    agreement = centre.agreement(r["id"], proxy_name="Hassan Ali",
                                 **{"from": "2026-01-19", "to": "2026-02-28"})
    assert agreement["id"] and agreement["proxy_name"] == "Hassan Ali"
    error_of(centre.payout_reply(r["id"], P0, "Someone Else"), 403)
    assert rc.db.count("payouts", "resident = %s", r["id"]) == 0
    paid = centre.payout(r["id"], P0, "  hassan ali ")
    assert paid["collected_by"] == "Hassan Ali" and paid["agreement"] == agreement["id"]


def test_open_ended_agreement_and_bad_agreements(centre):
    r = centre.resident()
    centre.agreement(r["id"], proxy_name="Guardian", **{"from": "2026-01-01"})
    assert centre.payout(r["id"], P0, "Guardian")["collected_by"] == "Guardian"
    err = error_of(centre.manager.post(f"/v1/residents/{r['id']}/agreements",
                                       json={"proxy_name": "X", "from": "2026-02-01",
                                             "to": "2026-01-01"}), 400)
    assert err["field"] == "to"
    err = error_of(centre.manager.post(f"/v1/residents/{r['id']}/agreements",
                                       json={"from": "2026-02-01"}), 400)
    assert err["field"] == "proxy_name"


def test_period_not_started_and_off_grid(rc, centre):
    r = centre.resident()
    err = error_of(centre.payout_reply(r["id"], P2), 409)
    assert err["code"] == "period_not_started"
    err = error_of(centre.payout_reply(r["id"], "2026-01-07"), 400)
    assert err["field"] == "period_start"
    error_of(centre.payout_reply(999999, P0), 404)
    assert rc.db.count("payouts", "resident = %s", r["id"]) == 0


def test_paid_statement_is_fixed_and_corrections_carry_into_the_next_period(rc, centre):
    r = centre.resident()
    paid = centre.payout(r["id"], P0)
    assert paid["amount_ore"] == FULL
    # Later: a sanction on 4 days of the paid period, and a late absence (since arrival).
    rc.set_clock(local("2026-01-20", "10:00"))
    centre.sanction(r["id"], **{"from": "2026-01-06", "to": "2026-01-09", "percent": 50,
                                "reason": "late decision", "heard_at": local("2026-01-20", "09:00")})
    st0 = centre.statement(r["id"], P0)
    assert st0["total_ore"] == FULL and st0["withdrawn_ore"] == 0  # as paid
    assert st0["correction_ore"] == -1952
    st1 = centre.statement(r["id"], P1)
    assert st1["adjustment_ore"] == -1952
    assert st1["adjustments"] == [{"period_start": P0, "amount_ore": -1952}]
    assert st1["total_ore"] == FULL - 1952
    # Pay the next period with the adjustment; the correction is then settled.
    rc.set_clock(local("2026-02-02", "10:00"))
    paid1 = centre.payout(r["id"], P1)
    assert paid1["amount_ore"] == FULL - 1952 and paid1["adjustment_ore"] == -1952
    assert centre.statement(r["id"], P0)["correction_ore"] == 0
    assert centre.statement(r["id"], P2)["adjustment_ore"] == 0
    # A late absence over days of both paid periods (the 16th .. 20th: 3 days of the first,
    # 2 of the second) is carried into the period after them.
    insert_absence(rc, r["id"], centre.id, local("2026-01-16", "00:00"),
                   local("2026-01-21", "00:00"))
    assert centre.statement(r["id"], P0)["correction_ore"] == -3 * (BASE_ORE + PHASE1_ORE)
    assert centre.statement(r["id"], P1)["correction_ore"] == -2 * (BASE_ORE + PHASE1_ORE)
    st2 = centre.statement(r["id"], P2)
    assert st2["adjustment_ore"] == -5 * (BASE_ORE + PHASE1_ORE)
    assert st2["total_ore"] == FULL - 5 * (BASE_ORE + PHASE1_ORE)
    # Money already paid is never changed.
    assert [p[0] for p in rc.db.query(
        "SELECT amount_ore FROM payouts WHERE resident = %s ORDER BY period_start",
        r["id"])] == [FULL, FULL - 1952]


def test_a_correction_larger_than_the_period_waits(rc, centre):
    r = centre.resident(departure_date="2026-01-22")
    centre.payout(r["id"], P0)
    # Away the whole first period, found out later: it was worth nothing.
    insert_absence(rc, r["id"], centre.id, local("2026-01-05", "00:00"),
                   local("2026-01-19", "00:00"))
    rc.set_clock(local("2026-01-26", "10:00"))
    st1 = centre.statement(r["id"], P1)
    worth = 3 * (BASE_ORE + PHASE1_ORE)  # 19th .. 21st
    assert st1["total_ore"] == 0
    assert st1["adjustment_ore"] == -worth
    assert st1["pending_correction_ore"] == -FULL + worth


def test_payout_is_audited_and_in_the_list(rc, centre):
    r = centre.resident()
    paid = centre.payout(r["id"], P0)
    assert rc.db.count("audit", "resident = %s AND action = 'payout_create'", r["id"]) == 1
    listed = ok(centre.manager.get(f"/v1/residents/{r['id']}/payouts"), 200)
    assert [p["id"] for p in listed["items"]] == [paid["id"]]


def test_client_statement_and_payout_commands(rc, centre):
    """The rollcall client against these endpoints: statement, payout twice (refused, exit 1),
    payout by a proxy without an agreement (exit 1), the centre's CSV."""
    r = centre.resident(phase=2)
    cn = f"manager-{centre.id}"
    code, out, err = rc.client(cn, "--json", "statement", r["case_number"], P0)
    assert code == 0, err
    assert json.loads(out)["total_ore"] == 14 * (BASE_ORE + 3408)
    code, out, err = rc.client(cn, "statement", r["case_number"], P0)
    assert code == 0 and "1.294,86" in out, out + err
    code, out, err = rc.client(cn, "payout", r["case_number"], P0, "--proxy", "Stranger")
    assert code == 1, out + err
    code, out, err = rc.client(cn, "payout", r["case_number"], P0)
    assert code == 0, err
    code, out, err = rc.client(cn, "payout", r["case_number"], P0)
    assert code == 1 and "already_paid" in err, out + err
    code, out, err = rc.client(cn, "statements", "--centre", centre.id, P0, "--csv")
    assert code == 0, err
    assert out.splitlines()[0].startswith("period_start;period_end;centre;resident")
