"""The interactive round at the terminal (issue 15, defect 6), through a real pseudo-terminal of
80 columns: a part-done round resumes at the first resident not yet recorded; a resident with
an open absence is marked; after `b` the answer just given is shown (Enter keeps it); `/` jumps
to a case number or name; before "Send?" the dry run says in plain words which absences the
police hear of at once and why; nothing is sent until `y`."""

import datetime
import re

import pexpect
import pytest
from harness import ROLLCALL
from harness.world import Centre, at

DAY = "2026-11-20"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "06:20"))
    c = Centre(rc, prefix="scr", staff=True)
    people = {}
    # Everyone was counted at 06:00: thresholds run from then.
    for given, family in (("Farid", "Ahmadi"), ("Semhar", "Berhe"),
                          ("Oleksandr", "Chernenko")):
        people[given] = c.resident(case_number=rc.unique("SCR-"), given_name=given,
                                   family_name=family, arrival_date="2026-01-05",
                                   accounted_for_at=at(DAY, "06:00"))
    return {"centre": c, "people": people}


def spawn(rc, cn, *args):
    env = rc.client_env(cn)
    env["TERM"] = "dumb"
    return pexpect.spawn(str(ROLLCALL), ["round", *args], env=env, cwd=str(rc.dir),
                         encoding="utf-8", timeout=30, dimensions=(40, 80))


def current(rc, centre, slot):
    rows = rc.db.query(
        "SELECT r.given_name, o.status FROM observations o JOIN residents r ON r.id = o.resident "
        "WHERE o.centre = %s AND o.date = %s AND o.slot = %s AND o.current ORDER BY 1",
        centre, datetime.date.fromisoformat(DAY), slot)
    return dict(rows)


def test_resume_mark_back_jump_and_the_dry_run(rc, centre):
    c, people = centre["centre"], centre["people"]
    # Oleksandr was reported absent at 06:30 by someone.
    rc.set_clock(at(DAY, "06:30"))
    c.report(people["Oleksandr"]["id"], expect=(201,))
    rc.set_clock(at(DAY, "07:10"))
    # Another terminal recorded Farid (first by family name) already.
    c.round(DAY, 1, {people["Farid"]["id"]: "present"})

    child = spawn(rc, c.staff_cn, "--date", DAY, "--slot", "1")
    transcript = ""
    try:
        child.expect("Resuming at resident 2")
        child.expect(r"\[2/3\] \S+ Semhar Berhe \? ")
        child.send("p")
        child.expect(r"\[3/3\] \S+ Oleksandr Chernenko  \(ABSENT: open absence\) \? ")
        transcript += child.before
        # Back: the answer just given is shown, and Enter keeps it.
        child.send("b")
        child.expect("your answer: present - Enter keeps it")
        child.expect(r"\[2/3\]")
        child.send("\r")
        child.expect(r"\[3/3\]")
        # Jump to a name.
        child.send("/")
        child.expect("go to")
        child.send("Farid\r")
        child.expect(r"recorded: present - Enter keeps it")
        child.expect(r"\[1/3\] \S+ Farid Ahmadi \? ")
        child.send("a")  # a correction: Farid is not there after all
        child.expect(r"\[2/3\]")
        child.send("\r")
        child.expect(r"\[3/3\]")
        child.send("a")
        # The dry run: Farid's absence opens now; the present it corrects no longer counts,
        # so he was last accounted for at 06:00 and, 14, the authorities hear at 18:00, not
        # at once. Oleksandr's absence is open already: the round opens none for him.
        child.expect("Send\\?")
        summary = child.before
        transcript += summary
        assert "an absence opens" in summary, summary
        assert "2026-11-20 18:00 CET unless" in summary
        assert "12 hours without news, under 15" in summary
        assert "REPORTED TO THE POLICE AT ONCE" not in summary
        child.send("y")
        child.expect(pexpect.EOF)
        transcript += child.before
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert current(rc, c.id, 1) == {"Farid": "absent", "Semhar": "present",
                                   "Oleksandr": "absent"}
    for line in ANSI.sub("", transcript).replace("\r", "").split("\n"):
        assert len(line) <= 80, line


def test_dry_run_says_the_police_hear_at_once(rc, centre):
    c, people = centre["centre"], centre["people"]
    # At 19:00, 13 hours after 06:00: an absent answer for a 14-year-old is past 12 hours.
    rc.set_clock(at(DAY, "19:00"))
    before = rc.db.snapshot("observations", "absences")
    child = spawn(rc, c.staff_cn, "--date", DAY, "--slot", "2")
    try:
        seen = 0
        while seen < 3:
            index = child.expect(["Farid", "Semhar", "Oleksandr"])
            child.send("a" if index == 0 else "p")
            seen += 1
        child.expect("Send\\?")
        summary = child.before
        assert "REPORTED TO THE POLICE AT ONCE" in summary, summary
        assert "Farid" in summary.split("REPORTED")[0].splitlines()[-1]
        assert "last accounted for 2026-11-20 06:00 CET" in summary
        child.send("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    # The dry run changed nothing, and neither did "n".
    assert rc.db.snapshot("observations", "absences") == before
