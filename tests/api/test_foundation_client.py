"""The staff client (SPEC section 10, Client): the real rollcall binary against a real rollcalld.
Help and usage, exit statuses (0 done, 1 refused by the server, 2 usage, 3 unreachable),
`residents`, a batch round from a file, and the interactive round through a real
pseudo-terminal (pexpect): keys p/a/e, the summary, send; the observations land in the database.
"""

import datetime
import json

import pexpect
import pytest
from harness import ROLLCALL, free_port, ok

COMMANDS = [
    "round", "absent", "concern", "returned", "residents", "alerts", "ack", "watch",
    "statement", "payout",
]
DAY = "2026-11-20"


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock("2026-11-20T07:05:00+01:00")
    centre = rc.create_centre("client-c", name="Børnecenter Tønder", capacity=76)["id"]
    rc.create_account("client-staff", "staff", [centre])
    people = [
        rc.create_resident(centre, case_number="CL-1", given_name="Farid", family_name="Noori",
                           date_of_birth="2012-03-10", arrival_date="2026-01-05"),
        rc.create_resident(centre, case_number="CL-2", given_name="Semhar", family_name="Kidane",
                           date_of_birth="2010-07-01", arrival_date="2026-01-05"),
        rc.create_resident(centre, case_number="CL-3", given_name="Oleksandr",
                           family_name="Melnyk", date_of_birth="2009-12-24",
                           arrival_date="2026-02-01", phase=2),
    ]
    return {"centre": centre, "people": people}


def current_statuses(rc, centre, day, slot):
    rows = rc.db.query(
        "SELECT r.case_number, o.status, o.reason, o.note FROM observations o "
        "JOIN residents r ON r.id = o.resident "
        "WHERE o.centre = %s AND o.date = %s AND o.slot = %s AND o.current ORDER BY 1",
        centre, datetime.date.fromisoformat(day), slot,
    )
    return {case: (status, reason, note) for case, status, reason, note in rows}


def test_help_lists_every_command(rc):
    code, out, _err = rc.client("admin", "--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out, command


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(rc, command):
    code, out, _err = rc.client("admin", command, "--help")
    assert code == 0
    assert f"rollcall {command}" in out or f"usage: rollcall {command}" in out, out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["absent"],                        # missing CASE
        ["ack"],                           # missing ID
        ["ack", "1", "x"],                 # one id that is not a number: none is sent
        ["residents", "--no-such-option"],
        ["residents", "--on", "2026-02-30"],
        ["round", "--slot", "1"],          # --slot without --date
        ["round", "--date", DAY, "--slot", "4"],
        ["statement", "CL-1", "not-a-date"],
    ],
)
def test_usage_errors_exit_2(rc, args):
    code, out, err = rc.client("admin", *args)
    assert code == 2, (args, out, err)
    assert err.strip(), "a usage error says why on stderr"


def test_missing_configuration_is_a_usage_error(rc, tmp_path):
    code, _out, err = rc.client(
        "admin", "residents", env={"ROLLCALL_CONFIG": str(tmp_path / "nope.conf")}
    )
    assert code == 2
    assert "nope.conf" in err


def test_unreachable_server_exits_3(rc):
    port = free_port()
    code, _out, err = rc.client(
        "client-staff", "residents", url=f"https://localhost:{port}", timeout=60
    )
    assert code == 3, err
    assert err.strip()


def test_refusal_by_the_server_exits_1_with_the_message(rc, world):
    # A valid certificate whose CN has no account: the server answers 403.
    code, out, err = rc.client("client-nobody", "residents", "--centre", world["centre"])
    assert code == 1, (out, err)
    assert "account" in err.lower() or "forbidden" in err.lower(), err


def test_explicit_config_option(rc, world):
    config = rc.client_config("client-staff")
    code, out, err = rc.client(
        "client-nobody", "--config", config, "residents", "--on", DAY
    )
    assert code == 0, err
    assert "CL-1" in out


def test_residents_lists_the_centre(rc, world):
    code, out, err = rc.client("client-staff", "residents", "--on", DAY)
    assert code == 0, err
    for person in world["people"]:
        assert person["case_number"] in out
        assert person["given_name"] in out
        assert person["family_name"] in out
    # The staff member's one centre is the default; a date before CL-3 arrived leaves it out.
    code, out, err = rc.client("client-staff", "residents", "--on", "2026-01-20")
    assert code == 0, err
    assert "CL-1" in out and "CL-3" not in out


def test_residents_json(rc, world):
    code, out, err = rc.client("client-staff", "--json", "residents", "--on", DAY)
    assert code == 0, err
    body = json.loads(out)
    assert sorted(r["case_number"] for r in body["items"]) == ["CL-1", "CL-2", "CL-3"]


def test_batch_round_from_a_file(rc, world, tmp_path):
    path = tmp_path / "round.txt"
    path.write_text(
        "# 07:00 round, written by hand\n"
        "CL-1 present\n"
        "\n"
        "CL-2 excused hospital appointment at Sønderborg\n"
        "CL-3 absent not in his room\n"
    )
    code, out, err = rc.client(
        "client-staff", "round", "--date", DAY, "--slot", "1", "--file", path
    )
    assert code == 0, (out, err)
    assert current_statuses(rc, world["centre"], DAY, 1) == {
        "CL-1": ("present", None, None),
        "CL-2": ("excused", "hospital", "appointment at Sønderborg"),
        "CL-3": ("absent", None, "not in his room"),
    }


def test_batch_round_with_a_mistake_sends_nothing_and_names_the_line(rc, world, tmp_path):
    before = rc.db.snapshot("observations")
    path = tmp_path / "bad-round.txt"
    path.write_text("CL-1 present\nCL-2 sleeping\n")
    code, _out, err = rc.client(
        "client-staff", "round", "--date", DAY, "--slot", "2", "--file", path
    )
    assert code == 2, err
    assert "2" in err
    path.write_text("CL-1 present\nNO-SUCH-CASE present\n")
    code, _out, err = rc.client(
        "client-staff", "round", "--date", DAY, "--slot", "2", "--file", path
    )
    assert code in (1, 2), err
    assert "NO-SUCH-CASE" in err
    assert rc.db.snapshot("observations") == before


def spawn_round(rc, cn, *args):
    return pexpect.spawn(
        str(ROLLCALL),
        ["round", *args],
        env=rc.client_env(cn),
        cwd=str(rc.dir),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )


def answer_residents(child, answers, stop_at="(?i)send\\?"):
    """Answers each resident the round shows, in whatever order it shows them: answers maps a
    given name to a function(child) that presses the keys. Returns once stop_at appears, with
    the names answered in order."""
    seen = []
    while True:
        # Only names not yet answered: the summary names some residents again.
        names = [name for name in answers if name not in seen]
        index = child.expect([stop_at, *names])
        if index == 0:
            return seen
        name = names[index - 1]
        seen.append(name)
        answers[name](child)


def press(key):
    return lambda child: child.send(key)


def excuse_school_trip(child):
    child.send("e")
    child.expect("(?i)reason")
    child.send("s")
    child.expect("(?i)note")
    child.send("museum visit\r")


def test_interactive_round_through_a_terminal(rc, world):
    rc.set_clock("2026-11-20T15:10:00+01:00")
    child = spawn_round(rc, "client-staff", "--date", DAY, "--slot", "2")
    try:
        # Each expected resident in turn, one key each; then the one-screen summary, and
        # nothing is sent until y.
        seen = answer_residents(
            child,
            {"Farid": press("p"), "Semhar": excuse_school_trip, "Oleksandr": press("a")},
        )
        assert sorted(seen) == ["Farid", "Oleksandr", "Semhar"]
        summary = child.before
        assert "Oleksandr" in summary or "CL-3" in summary, summary
        child.send("y")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert current_statuses(rc, world["centre"], DAY, 2) == {
        "CL-1": ("present", None, None),
        "CL-2": ("excused", "school_trip", "museum visit"),
        "CL-3": ("absent", None, None),
    }
    # And through the API, as staff see it.
    rounds = ok(rc.api("client-staff").get(f"/v1/centres/{world['centre']}/rounds?date={DAY}"))
    slot2 = [r for r in rounds["items"] if r["slot"] == 2][0]
    assert (slot2["status"], slot2["recorded"], slot2["expected"]) == ("complete", 3, 3)


def test_interactive_round_quit_sends_nothing(rc, world):
    before = rc.db.snapshot("observations")
    child = spawn_round(rc, "client-staff", "--date", DAY, "--slot", "3")
    try:
        child.expect(["Farid", "Semhar", "Oleksandr"])
        child.send("p")
        child.expect(["Farid", "Semhar", "Oleksandr"])
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert rc.db.snapshot("observations") == before


def test_interactive_round_declined_at_send_sends_nothing(rc, world):
    before = rc.db.snapshot("observations")
    child = spawn_round(rc, "client-staff", "--date", DAY, "--slot", "3")
    try:
        seen = answer_residents(
            child, {"Farid": press("p"), "Semhar": press("p"), "Oleksandr": press("p")}
        )
        assert len(seen) == 3
        child.send("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert rc.db.snapshot("observations") == before
