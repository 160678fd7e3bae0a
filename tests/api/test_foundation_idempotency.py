"""Idempotency (SPEC section 8): every mutating request takes an Idempotency-Key; a retry gives the
first answer, byte for byte, and never a second effect; the same key with another body is 422."""

import threading

import pytest
from harness import error_of, ok


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock("2026-11-20T10:00:00+01:00")
    centre = rc.create_centre()["id"]
    rc.create_account(f"staff-{centre}", "staff", [centre])
    return centre


def resident_body(centre, case_number):
    return {
        "case_number": case_number,
        "given_name": "Abdirahman",
        "family_name": "Warsame",
        "date_of_birth": "2011-08-14",
        "centre": centre,
        "arrival_date": "2026-01-05",
        "phase": 2,
    }


def test_retry_returns_the_identical_answer_and_makes_one_row(rc, centre):
    manager = rc.manager_of(centre)
    headers = {"Idempotency-Key": "create-IDEM-1"}
    first = manager.post("/v1/residents", json=resident_body(centre, "IDEM-1"), headers=headers)
    assert first.status == 201, first
    second = manager.post("/v1/residents", json=resident_body(centre, "IDEM-1"), headers=headers)
    assert second.status == 201
    assert second.body == first.body
    assert rc.db.count("residents", "case_number = 'IDEM-1'") == 1
    assert rc.db.count("stays", "resident = %s", first.body["id"]) == 1
    # The replay is audited as such.
    assert rc.db.count("audit", "cn = %s AND outcome = 'replayed'", manager.cn) >= 1


def test_same_key_with_another_body_is_422_and_changes_nothing(rc, centre):
    manager = rc.manager_of(centre)
    headers = {"Idempotency-Key": "create-IDEM-2"}
    ok(manager.post("/v1/residents", json=resident_body(centre, "IDEM-2"), headers=headers), 201)
    reply = manager.post("/v1/residents", json=resident_body(centre, "IDEM-3"), headers=headers)
    err = error_of(reply, 422)
    assert err["code"] == "idempotency_mismatch"
    assert rc.db.count("residents", "case_number = 'IDEM-3'") == 0


def test_keys_belong_to_their_account(rc, centre):
    rc.create_account("second-manager", "manager", [centre])
    headers = {"Idempotency-Key": "shared-key"}
    a = rc.manager_of(centre).post(
        "/v1/residents", json=resident_body(centre, "IDEM-4"), headers=headers
    )
    b = rc.api("second-manager").post(
        "/v1/residents", json=resident_body(centre, "IDEM-5"), headers=headers
    )
    assert (a.status, b.status) == (201, 201), (a, b)
    assert a.body["id"] != b.body["id"]


def test_a_refusal_is_replayed_too(rc, centre):
    manager = rc.manager_of(centre)
    ok(manager.post("/v1/residents", json=resident_body(centre, "IDEM-6")), 201)
    headers = {"Idempotency-Key": "dup-IDEM-6"}
    first = manager.post("/v1/residents", json=resident_body(centre, "IDEM-6"), headers=headers)
    error_of(first, 409)
    second = manager.post("/v1/residents", json=resident_body(centre, "IDEM-6"), headers=headers)
    assert (second.status, second.body) == (first.status, first.body)


def test_round_retry_stores_one_observation(rc, centre):
    r = rc.create_resident(centre, arrival_date="2026-01-05")
    staff = rc.api(f"staff-{centre}")
    path = f"/v1/centres/{centre}/rounds/2026-11-20/1"
    body = {"observations": [{"resident": r["id"], "status": "present"}]}
    headers = {"Idempotency-Key": "round-2026-11-20-1"}
    first = staff.post(path, json=body, headers=headers)
    assert first.status in (200, 201), first
    second = staff.post(path, json=body, headers=headers)
    assert (second.status, second.body) == (first.status, first.body)
    assert rc.db.count("observations", "resident = %s", r["id"]) == 1
    # Without the key, the same body is a second observation (a correction), kept in history.
    ok(staff.post(path, json=body))
    assert rc.db.count("observations", "resident = %s", r["id"]) == 2
    assert rc.db.count("observations", "resident = %s AND current", r["id"]) == 1


def test_concurrent_twins_make_one_row(rc, centre):
    manager = rc.manager_of(centre)
    headers = {"Idempotency-Key": "twins-IDEM-7"}
    replies = []

    def send():
        replies.append(
            manager.post("/v1/residents", json=resident_body(centre, "IDEM-7"), headers=headers)
        )

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(replies) == 6
    assert {r.status for r in replies} == {201}, replies
    assert len({r.body["id"] for r in replies}) == 1
    assert rc.db.count("residents", "case_number = 'IDEM-7'") == 1
