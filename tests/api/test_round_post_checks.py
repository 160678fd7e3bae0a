"""POST .../rounds/{date}/{slot}: the first problem of a round is the one answered (SPEC
section 2), whichever way the daemon reaches it. op_round_post clears the common case with one
set-based check and sends anything else through its element-by-element loop (docs/performance.md);
these cases sit on the border between the two, so that a quick check that let something through,
or refused something good, fails here."""

import pytest
from harness import error_of, ok

DAY, SLOT = "2026-11-20", 1


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock("2026-11-20T07:10:00+01:00")
    centre = rc.create_centre(rc.unique("checks"))["id"]
    other = rc.create_centre(rc.unique("checks-other"))["id"]
    cn = rc.unique("checks-staff")
    rc.create_account(cn, "staff", [centre])
    r1 = rc.create_resident(centre, arrival_date="2026-01-05")["id"]
    r2 = rc.create_resident(centre, arrival_date="2026-01-05")["id"]
    later = rc.create_resident(centre, arrival_date="2026-12-01")["id"]
    elsewhere = rc.create_resident(other, arrival_date="2026-01-05")["id"]
    return {"api": rc.api(cn), "centre": centre, "r1": r1, "r2": r2, "later": later,
            "elsewhere": elsewhere}


def post(world, observations):
    return world["api"].post(f"/v1/centres/{world['centre']}/rounds/{DAY}/{SLOT}",
                             json={"observations": observations})


def test_a_good_round_is_stored_with_its_summary(world):
    body = ok(post(world, [{"resident": world["r1"], "status": "present"},
                           {"resident": world["r2"], "status": "excused", "reason": "hospital",
                            "note": None}]))
    assert (body["expected"], body["recorded"], body["status"]) == (2, 2, "complete")
    assert [(o["resident"], o["status"], o["reason"], o["current"])
            for o in body["observations"]] == [(world["r1"], "present", None, True),
                                               (world["r2"], "excused", "hospital", True)]


def test_a_correction_of_one_resident_keeps_the_round_complete(world):
    body = ok(post(world, [{"resident": world["r2"], "status": "present", "note": "back"}]))
    assert (body["expected"], body["recorded"], body["status"]) == (2, 2, "complete")
    assert [(o["resident"], o["note"]) for o in body["observations"]] == [(world["r2"], "back")]


def test_observed_at_goes_through_the_checks_of_each_element(world):
    ok(post(world, [{"resident": world["r1"], "status": "present",
                     "observed_at": "2026-11-20T06:05:00Z"}]))
    err = error_of(post(world, [{"resident": world["r1"], "status": "present"},
                                {"resident": world["r2"], "status": "present",
                                 "observed_at": "2026-11-20T09:00:00+01:00"}]), 400)
    assert err["field"] == "observations[1].observed_at", err


@pytest.mark.parametrize("second, status, code, field", [
    # The round is [r1 present, second]: the second element is the wrong one, so that the
    # index in the field is checked too. A resident given as a name is looked up in world.
    ({"status": "present"}, 400, "missing_field", "observations[1].resident"),
    ({"resident": "r2", "status": "excused"}, 400, "missing_field", "observations[1].reason"),
    ({"resident": "r2", "status": "absent", "reason": "leave"}, 400, "bad_field",
     "observations[1].reason"),
    ({"resident": "r2", "status": "excused", "reason": "holiday"}, 400, "bad_field",
     "observations[1].reason"),
    ({"resident": "r1", "status": "present"}, 400, "duplicate_resident",
     "observations[1].resident"),
    ({"resident": "later", "status": "present"}, 422, "not_expected",
     "observations[1].resident"),
    ({"resident": "elsewhere", "status": "present"}, 422, "not_expected",
     "observations[1].resident"),
    ({"resident": 987654321, "status": "present"}, 422, "unknown_resident",
     "observations[1].resident"),
])
def test_the_first_problem_is_answered_naming_its_element(world, second, status, code, field):
    second = dict(second)
    if isinstance(second.get("resident"), str):
        second["resident"] = world[second["resident"]]
    reply = post(world, [{"resident": world["r1"], "status": "present"}, second])
    err = error_of(reply, status)
    assert (err["code"], err.get("field")) == (code, field), err


def test_a_refused_round_stores_nothing(world):
    before = ok(world["api"].get(f"/v1/centres/{world['centre']}/rounds/{DAY}/{SLOT}"
                                 "?history=true"))
    error_of(post(world, [{"resident": world["r1"], "status": "absent"},
                          {"resident": world["r1"], "status": "present"}]), 400)
    after = ok(world["api"].get(f"/v1/centres/{world['centre']}/rounds/{DAY}/{SLOT}"
                                "?history=true"))
    assert after["residents"] == before["residents"]
