"""`rollcall rounds` and `rollcall absences` (SPEC section 10, v2; issue 15): today's rounds with
who is not yet accounted for (unknown ones first, then those already reported absent), and the
open absences with the time left until the authorities are notified; each in human form and
with --json (case numbers included), --help with an example, and the exit statuses of
section 10."""

import json

import pytest
from harness.world import Centre, at

DAY = "2026-11-20"


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock(at(DAY, "06:00"))
    c = Centre(rc, prefix="rnd", staff=True)
    people = {}
    for given, family in (("Farid", "Ahmadi"), ("Semhar", "Berhe"), ("Oleksandr", "Chernenko")):
        people[given] = c.resident(case_number=rc.unique("RND-"), given_name=given,
                                   family_name=family, date_of_birth="2012-03-10",
                                   arrival_date="2026-01-05", accounted_for_at=at(DAY, "05:00"))
    # Farid (first by name) was reported absent at 06:30, with nothing known yet: the
    # authorities hear at 17:00 (12 hours after 05:00; he is 14).
    rc.set_clock(at(DAY, "06:30"))
    c.report(people["Farid"]["id"], expect=(201,))
    # The 07:00 round: only Oleksandr recorded so far.
    rc.set_clock(at(DAY, "07:20"))
    c.round(DAY, 1, {people["Oleksandr"]["id"]: "present"})
    return {"centre": c, "people": people}


def test_rounds_lists_the_day_and_who_is_not_accounted_for(rc, centre):
    c, people = centre["centre"], centre["people"]
    code, out, err = rc.client(c.staff_cn, "rounds", "--centre", c.id)
    assert code == 0, err
    assert f"{DAY} 07:00 CET" in out and f"{DAY} 15:00 CET" in out
    assert "1 of 3" in out
    tail = out.split("not accounted for:")[1]
    lines = [x.strip() for x in tail.strip().splitlines()]
    # Nobody knows where Semhar is: first. Farid was reported absent: after, and marked.
    assert lines[0].startswith(people["Semhar"]["case_number"]), lines
    assert lines[1].startswith(people["Farid"]["case_number"]) and "reported absent" in lines[1]
    assert "Oleksandr" not in tail


def test_rounds_json_carries_case_numbers(rc, centre):
    c, people = centre["centre"], centre["people"]
    code, out, err = rc.client(c.staff_cn, "--json", "rounds", "--centre", c.id)
    assert code == 0, err
    document = json.loads(out)
    assert document["next"] is None and len(document["items"]) == 3
    first = [r for r in document["items"] if r["slot"] == 1][0]
    assert [u["case_number"] for u in first["unaccounted"]] == [
        people["Semhar"]["case_number"], people["Farid"]["case_number"]]
    assert [u["reported_absent"] for u in first["unaccounted"]] == [False, True]
    # Rounds not due yet name nobody.
    assert "unaccounted" not in [r for r in document["items"] if r["slot"] == 3][0]


def test_absences_shows_time_left(rc, centre):
    c, people = centre["centre"], centre["people"]
    code, out, err = rc.client(c.staff_cn, "absences", "--centre", c.id)
    assert code == 0, err
    line = [x for x in out.splitlines() if people["Farid"]["case_number"] in x][0]
    assert f"{DAY} 05:00 CET" in line
    # 07:20 to 17:00 is 9 h 40 min.
    assert f"in 9 h 40 min ({DAY} 17:00 CET)" in line, line
    assert "12 hours without news, under 15" in line
    code, out, err = rc.client(c.staff_cn, "--json", "absences", "--centre", c.id)
    assert code == 0, err
    items = json.loads(out)["items"]
    assert [(a["case_number"], a["minutes_left"]) for a in items] == [
        (people["Farid"]["case_number"], 580)]


def test_absences_after_a_concern_says_notified(rc, centre):
    c, people = centre["centre"], centre["people"]
    absence = c.open_absence(people["Farid"]["id"])
    ok = rc.api(c.staff_cn).post(f"/v1/absences/{absence['id']}/concern",
                                 json={"text": "seen at the station"})
    assert ok.status in (200, 201), ok.body
    code, out, err = rc.client(c.staff_cn, "absences", "--centre", c.id)
    assert code == 0, err
    assert f"notified {DAY} 07:20 CET" in out and "seen at the station" in out


@pytest.mark.parametrize("command", ["rounds", "absences", "sync"])
def test_help_has_an_example(rc, command):
    code, out, _err = rc.client("admin", command, "--help")
    assert code == 0
    assert f"usage: rollcall {command}" in out and f"  rollcall {command}" in out


def test_usage_and_refusal_statuses(rc, centre):
    c = centre["centre"]
    code, _out, err = rc.client(c.staff_cn, "rounds", "--date", "2026-02-30")
    assert code == 2 and "--date" in err
    stranger = Centre(rc, prefix="rnd-other", staff=True)
    code, _out, err = rc.client(stranger.staff_cn, "absences", "--centre", c.id)
    assert code == 1, err
