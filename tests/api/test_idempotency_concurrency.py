"""Idempotency under concurrency (SPEC section 8): two requests with the same Idempotency-Key
sent at the same instant, on separate connections and to two daemons of one database, give one
effect: the twin waits for the first and replays its answer (or, were it still in flight, gets
409 idempotency_in_progress), never a second effect and never a 500. Many pairs at once, for
round POSTs and absence reports and returns."""

import concurrent.futures
import threading

import pytest
from alerts_helpers import Centre, at
from harness import ok

DAY = "2026-11-20"
PAIRS = 12


@pytest.fixture
def pair(daemon_factory):
    """Two daemons on one database, a centre, and the staff account's Api on each."""
    first = daemon_factory()
    second = daemon_factory(database=first.dbname)
    first.set_clock(at(DAY, "08:00"))
    centre = Centre(first)
    return first, centre, [centre.staff, second.api(centre.staff_cn)]


def fire_twins(apis, requests):
    """requests: [(method, path, body, key)]; each sent twice, once through each daemon, all
    released together by one barrier. Returns [(first reply, second reply)] in order."""
    barrier = threading.Barrier(2 * len(requests))

    def send(job):
        (method, path, body, key), api = job
        barrier.wait(30)
        return api.request(method, path, json=body, headers={"Idempotency-Key": key})

    jobs = [(r, api) for r in requests for api in apis]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        replies = list(pool.map(send, jobs))
    return [(replies[2 * i], replies[2 * i + 1]) for i in range(len(requests))]


def check_one_answer(twins, statuses):
    """Both twins answered as one request; the other may only be 409 in progress."""
    for a, b in twins:
        assert a.status < 500 and b.status < 500, (a, b)
        in_progress = [
            r for r in (a, b)
            if r.status == 409 and r.body["error"]["code"] == "idempotency_in_progress"
        ]
        done = [r for r in (a, b) if r not in in_progress]
        assert done, (a, b)
        assert all(r.status in statuses for r in done), (a, b)
        assert all((r.status, r.body) == (done[0].status, done[0].body) for r in done), (a, b)


def effects(rc, action, resident):
    """Audit rows of the op that acted (a replay is audited as 'replayed')."""
    return rc.db.count("audit", "action = %s AND resident = %s AND outcome = 'ok'", action,
                       resident)


def test_twin_rounds_store_one_observation_each(pair):
    rc, centre, apis = pair
    residents = centre.residents(PAIRS)
    rc.set_clock(at(DAY, "07:05"))
    requests = [
        ("POST", f"/v1/centres/{centre.id}/rounds/{DAY}/1",
         {"observations": [{"resident": r, "status": "present"}]}, f"round-twin-{r}")
        for r in residents
    ]
    twins = fire_twins(apis, requests)
    check_one_answer(twins, (200, 201))
    for r in residents:
        assert rc.db.count("observations", "resident = %s", r) == 1, r


def test_twin_absence_reports_open_one_absence_and_add_nothing(pair):
    rc, centre, apis = pair
    residents = centre.residents(PAIRS)
    rc.set_clock(at(DAY, "09:00"))
    requests = [
        ("POST", f"/v1/residents/{r}/absences", {"note": "not at breakfast"}, f"report-{r}")
        for r in residents
    ]
    twins = fire_twins(apis, requests)
    check_one_answer(twins, (201,))
    for r in residents:
        assert rc.db.count("absences", "resident = %s", r) == 1, r
        # A second effect would be a 200 "added to the open absence", audited once more.
        assert effects(rc, "absence.report", r) == 1, r


def test_twin_returns_close_the_absence_once(pair):
    rc, centre, apis = pair
    residents = centre.residents(PAIRS)
    rc.set_clock(at(DAY, "09:00"))
    absences = [ok(centre.staff.post(f"/v1/residents/{r}/absences", json={}), 201)["id"]
                for r in residents]
    rc.set_clock(at(DAY, "10:00"))
    requests = [("POST", f"/v1/absences/{a}/return", {}, f"return-{a}") for a in absences]
    twins = fire_twins(apis, requests)
    # A second effect would show as 409 "already returned" beside a 200.
    check_one_answer(twins, (200,))
    for r in residents:
        assert effects(rc, "absence.return", r) == 1, r


def test_twin_keys_with_different_bodies_act_once_and_refuse_the_other(pair):
    rc, centre, apis = pair
    residents = centre.residents(PAIRS)
    rc.set_clock(at(DAY, "07:05"))
    barrier = threading.Barrier(2 * PAIRS)

    def send(job):
        r, status, api = job
        barrier.wait(30)
        body = {"observations": [{"resident": r, "status": status}]}
        return api.post(f"/v1/centres/{centre.id}/rounds/{DAY}/1", json=body,
                        headers={"Idempotency-Key": f"mixed-{r}"})

    jobs = [(r, s, api) for r in residents for s, api in zip(("present", "absent"), apis)]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        replies = list(pool.map(send, jobs))
    for i, r in enumerate(residents):
        a, b = replies[2 * i], replies[2 * i + 1]
        assert sorted([a.status, b.status])[1] == 422 or 409 in (a.status, b.status), (a, b)
        assert min(a.status, b.status) in (200, 201), (a, b)
        assert rc.db.count("observations", "resident = %s", r) == 1, r
