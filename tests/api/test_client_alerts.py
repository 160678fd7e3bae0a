"""The on-call client (issue 15, defects 1-3): `alerts` and `watch` name every resident a
round_overdue alert lists, unknown ones first, with case numbers in --json; `watch` prints the
open alerts when it starts, the priority in colour on a terminal (plain through a pipe or with
NO_COLOR), the bell for urgent and normal only, the absence's reason, concern and notification
time, and says on stdout when the connection is lost and back; `ack` takes several ids and a
second acknowledgement says who acknowledged and when."""

import json
import re

import pexpect
import pytest
from alerts_helpers import Centre, at
from harness import ROLLCALL

DAY = "2026-11-20"


@pytest.fixture(scope="module")
def overdue(rc):
    """A centre of 20 residents whose 07:00 round nobody took; one was reported absent at 06:30
    (with a concern, so its alert is urgent)."""
    rc.set_clock(at(DAY, "06:00"))
    centre = Centre(rc)
    ids = [centre.resident(case_number=f"OV{rc.port}-{n:02d}", given_name=f"Name{n:02d}",
                           family_name="Test") for n in range(20)]
    rc.set_clock(at(DAY, "06:30"))
    absence = centre.report(ids[0], expect=(201,), concern="left with an unknown adult")
    rc.set_clock(at(DAY, "08:01"))
    overdue = centre.alerts_of("round_overdue")
    assert len(overdue) == 1 and len(overdue[0]["details"]["missing"]) == 20
    return {"centre": centre, "ids": ids, "absence": absence, "alert": overdue[0]}


def test_alerts_name_every_missing_resident_unknown_first(rc, overdue):
    centre = overdue["centre"]
    code, out, err = rc.client(centre.oncall_cn, "alerts", "--centre", centre.id)
    assert code == 0, err
    line = [x for x in out.splitlines() if "round_overdue" in x][0]
    assert "more" not in line
    cases = re.findall(rf"OV{rc.port}-\d\d", line)
    assert len(cases) == 20, line
    # The one already reported absent comes last, and says so.
    assert cases[-1] == f"OV{rc.port}-00"
    assert f"OV{rc.port}-00 Name00 Test (reported absent)" in line
    # And the times are the centre's, with its zone.
    assert f"{DAY} 08:00 CET" in out or f"{DAY} 08:01 CET" in out, out


def test_alerts_json_carries_case_numbers(rc, overdue):
    centre = overdue["centre"]
    code, out, err = rc.client(centre.oncall_cn, "--json", "alerts", "--centre", centre.id)
    assert code == 0, err
    alert = [a for a in json.loads(out)["items"] if a["kind"] == "round_overdue"][0]
    named = alert["details"]["missing_residents"]
    assert len(named) == 20
    assert all(n["case_number"].startswith(f"OV{rc.port}-") for n in named)
    assert named[-1]["case_number"] == f"OV{rc.port}-00" and named[-1]["reported_absent"]
    assert not any(n["reported_absent"] for n in named[:-1])
    # The server's own fields are untouched.
    assert alert["details"]["missing"] == overdue["alert"]["details"]["missing"]


def test_ack_takes_several_ids_and_a_second_ack_says_who(rc, overdue):
    centre = overdue["centre"]
    alerts = centre.alerts()
    first, second = alerts[0]["id"], alerts[1]["id"]
    code, out, err = rc.client(centre.oncall_cn, "ack", str(first), str(second))
    assert code == 0, err
    assert f"Alert {first}" in out and f"Alert {second}" in out
    assert "already" not in out
    acked = {a["id"]: a for a in centre.alerts(state="all")}
    assert acked[first]["acked_by"] == centre.oncall_cn
    assert acked[second]["acked_by"] == centre.oncall_cn
    # A colleague acknowledging again is told who did it, and when (centre time).
    other = centre.account("oncall")
    rc.set_clock(at(DAY, "08:30"))
    code, out, err = rc.client(other.cn, "ack", str(first))
    assert code == 0, err
    assert f"already acknowledged by {centre.oncall_cn} at {DAY} 08:01 CET" in out, out
    # A bad id sends nothing at all.
    code, _out, err = rc.client(centre.oncall_cn, "ack", str(second), "x1")
    assert code == 2 and "x1" in err


def spawn_watch(rc, cn, centre, env_extra=None):
    env = rc.client_env(cn)
    env["TERM"] = "xterm"
    env.pop("NO_COLOR", None)
    env.update(env_extra or {})
    return pexpect.spawn(str(ROLLCALL), ["watch", "--centre", centre], env=env,
                         cwd=str(rc.dir), encoding="utf-8", timeout=30, dimensions=(40, 200))


def test_watch_shows_open_alerts_priority_and_the_absence(rc):
    rc.set_clock(at(DAY, "10:00"))
    centre = Centre(rc)
    quiet = centre.resident(case_number=f"W{rc.port}-1")
    loud = centre.resident(case_number=f"W{rc.port}-2")
    centre.report(quiet, expect=(201,))
    child = spawn_watch(rc, centre.oncall_cn, centre.id)
    try:
        # What is open already, at once: the normal resident_absent alert, bold, with when
        # the authorities were notified (never accounted for since arrival: at once) and why.
        child.expect("1 open alert")
        child.expect("\x1b\\[1mopen: .*normal resident_absent")
        child.expect(r"authorities notified at 2026-11-20 10:00 CET; reason: 12 hours")
        child.expect("Live from now on")
        # An urgent alert: red and bold, the bell, the concern and the reason.
        centre.report(loud, expect=(201,), concern="said he would go to Germany")
        child.expect("\a\x1b\\[1;31m.*URGENT resident_absent")
        child.expect('reason: special concern; concern: "said he would go to Germany"')
        # The server going away is said on stdout, and so is its return.
        rc.stop()
        child.expect("CONNECTION TO THE SERVER LOST")
        rc.start()
        child.expect("Connected to the server again", timeout=60)
    finally:
        child.sendintr()
        child.close()


def test_watch_is_plain_without_a_colour_terminal(rc):
    rc.set_clock(at(DAY, "11:00"))
    centre = Centre(rc)
    centre.report(centre.resident(), expect=(201,), concern="worried")
    child = spawn_watch(rc, centre.oncall_cn, centre.id, {"NO_COLOR": "1"})
    try:
        child.expect(r"open: .*URGENT resident_absent")
        assert "\x1b[" not in child.before + child.after
        child.expect("Live from now on")
    finally:
        child.sendintr()
        child.close()
