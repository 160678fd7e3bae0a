"""Offline rounds and `sync` (SPEC sections 2 and 10, v2; issue 15): a round taken through a real
pseudo-terminal while the daemon is stopped, from the expected residents the terminal fetched
last; kept under $XDG_STATE_HOME/rollcall/ (0600 files in a 0700 directory) with each
observation's observed_at; `sync` after the daemon is back stores them with their observed_at,
a second `sync` sends nothing, an observation another terminal recorded later stays current and
is named, and a corrupt state file is reported and kept, not deleted."""

import datetime
import json
import os
import stat

import pexpect
import pytest
from harness import ROLLCALL
from harness.world import Centre

DAY = datetime.date.today().isoformat()


def slot_now():
    """The round the terminal's clock picks (check times 07:00, 15:00, 23:00 in Copenhagen):
    the latest already due today, else yesterday's last."""
    hour = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=1))).hour
    if hour >= 23:
        return DAY, 3
    if hour >= 15:
        return DAY, 2
    if hour >= 7:
        return DAY, 1
    return (datetime.date.today() - datetime.timedelta(days=1)).isoformat(), 3


@pytest.fixture
def terminal(rc, tmp_path):
    """A centre, a staff account and a terminal (its own XDG cache and state directories). The
    daemon's clock is the real one, since the terminal's clock picks the offline round."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    rc.set_clock(now.isoformat())
    centre = Centre(rc, prefix="off", staff=True)
    names = {}
    for given in ("Farid", "Semhar", "Oleksandr"):
        r = centre.resident(case_number=rc.unique("OFF-"), given_name=given,
                            family_name="Test", arrival_date="2026-01-05")
        names[given] = r
    env = rc.client_env(centre.staff_cn)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TERM"] = "dumb"
    return {"centre": centre, "names": names, "env": env, "tmp": tmp_path}


def spawn(rc, env, *args):
    return pexpect.spawn(str(ROLLCALL), list(args), env=env, cwd=str(rc.dir),
                         encoding="utf-8", timeout=30, dimensions=(40, 80))


def run(rc, env, *args):
    from harness.client import run_client
    return run_client(args, env, rc.dir)


def answer_all(child, answers):
    seen = []
    while len(seen) < len(answers):
        names = [n for n in answers if n not in seen]
        index = child.expect(names)
        seen.append(names[index])
        child.send(answers[names[index]])


def pending_files(terminal):
    directory = terminal["tmp"] / "state" / "rollcall" / "pending"
    return sorted(directory.iterdir()) if directory.exists() else []


def observations(rc, centre, day, slot):
    return rc.db.query(
        "SELECT r.given_name, o.status, o.observed_at, o.recorded_by, o.current "
        "FROM observations o JOIN residents r ON r.id = o.resident "
        "WHERE o.centre = %s AND o.date = %s AND o.slot = %s ORDER BY o.id",
        centre, datetime.date.fromisoformat(day), slot)


def take_online_round_to_fill_the_cache(rc, terminal, day, slot):
    """A first round at the terminal while the server is up: the terminal keeps its residents.
    Quit without sending: nothing is stored."""
    child = spawn(rc, terminal["env"], "round", "--date", day, "--slot", str(slot))
    try:
        child.expect(["Farid", "Semhar", "Oleksandr"])
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    cache = terminal["tmp"] / "cache" / "rollcall"
    files = list(cache.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600


def test_offline_round_then_sync(rc, terminal):
    centre = terminal["centre"]
    day, slot = slot_now()
    take_online_round_to_fill_the_cache(rc, terminal, day, slot)
    assert observations(rc, centre.id, day, slot) == []

    rc.stop()
    try:
        child = spawn(rc, terminal["env"], "round")
        try:
            child.expect("OFFLINE")
            answer_all(child, {"Farid": "p", "Semhar": "a", "Oleksandr": "p"})
            child.expect("Keep it to send later")
            child.send("y")
            child.expect("3 observations waiting")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        assert child.exitstatus == 0
        files = pending_files(terminal)
        assert len(files) == 1
        assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(files[0].parent).st_mode) == 0o700
        kept = json.loads(files[0].read_text())
        assert kept["idempotency_key"] and len(kept["observations"]) == 3
        assert {o["status"] for o in kept["observations"]} == {"present", "absent"}
        # While the server is away, sync says it cannot reach it and keeps everything.
        code, out, err = run(rc, terminal["env"], "sync")
        assert code == 3, (out, err)
        assert "3 observations waiting" in out
        assert len(pending_files(terminal)) == 1
    finally:
        rc.start()
        rc.set_clock(datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                     .isoformat())

    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 0, (out, err)
    assert "Sent the offline round" in out and "3 observations stored" in out
    stored = observations(rc, centre.id, day, slot)
    assert sorted((g, s) for g, s, *_ in stored) == [
        ("Farid", "present"), ("Oleksandr", "present"), ("Semhar", "absent")]
    # Each with the instant staff answered, not when it was synced.
    by_name = {o["resident"]: o for o in kept["observations"]}
    for given, _status, observed_at, recorded_by, current in stored:
        resident = terminal["names"][given]["id"]
        assert observed_at == datetime.datetime.fromisoformat(by_name[resident]["observed_at"])
        assert recorded_by == centre.staff_cn and current
    assert pending_files(terminal) == []

    # A second sync sends nothing.
    before = rc.db.snapshot("observations")
    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 0 and "Nothing waiting" in out
    assert rc.db.snapshot("observations") == before


def test_another_terminal_later_observation_stays_current(rc, terminal):
    centre = terminal["centre"]
    day, slot = slot_now()
    take_online_round_to_fill_the_cache(rc, terminal, day, slot)
    rc.stop()
    try:
        child = spawn(rc, terminal["env"], "round")
        try:
            child.expect("OFFLINE")
            answer_all(child, {"Farid": "a", "Semhar": "p", "Oleksandr": "p"})
            child.expect("Keep it to send later")
            child.send("y")
            child.expect(pexpect.EOF)
        finally:
            child.close()
    finally:
        rc.start()
    # Meanwhile another terminal found Farid in his room, later than the offline answer.
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5))
    rc.set_clock(later.replace(microsecond=0).isoformat())
    farid = terminal["names"]["Farid"]["id"]
    centre.round(day, slot, {farid: "present"})
    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 0, (out, err)
    assert "Farid" in out and "now current instead: present" in out, out
    assert centre.staff_cn in out
    current = [(g, s) for g, s, _at, _by, cur in observations(rc, centre.id, day, slot) if cur]
    assert ("Farid", "present") in current and ("Farid", "absent") not in current


def test_power_cut_keeps_what_was_answered_and_round_resumes(rc, terminal):
    day, slot = slot_now()
    take_online_round_to_fill_the_cache(rc, terminal, day, slot)
    rc.stop()
    try:
        child = spawn(rc, terminal["env"], "round")
        try:
            child.expect("OFFLINE")
            index = child.expect(["Farid", "Semhar", "Oleksandr"])
            first = ["Farid", "Semhar", "Oleksandr"][index]
            child.send("p")
            child.expect(["Farid", "Semhar", "Oleksandr"])
            # The power goes: the process dies without a word.
            child.kill(9)
        finally:
            child.close(force=True)
        files = pending_files(terminal)
        assert len(files) == 1
        kept = json.loads(files[0].read_text())
        assert [o["status"] for o in kept["observations"]] == ["present"]
        assert first in kept["observations"][0]["label"]
        # The next round resumes after it.
        child = spawn(rc, terminal["env"], "round")
        try:
            child.expect("Resuming at resident 2")
            child.send("q")
            child.expect(pexpect.EOF)
        finally:
            child.close()
    finally:
        rc.start()
        rc.set_clock(datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                     .isoformat())
    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 0, (out, err)
    assert "1 observation stored" in out


def test_corrupt_state_file_is_reported_and_kept(rc, terminal):
    directory = terminal["tmp"] / "state" / "rollcall" / "pending"
    directory.mkdir(parents=True)
    broken = directory / "20260101T000000Z-deadbeef.json"
    broken.write_text('{"centre": "x", "observations": [')
    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 2, (out, err)
    assert "corrupt" in err and "20260101T000000Z-deadbeef.json" in err
    kept = directory / "20260101T000000Z-deadbeef.json.corrupt"
    assert kept.exists() and kept.read_text() == '{"centre": "x", "observations": ['
    # Not retried as a pending round again, and never deleted.
    code, out, err = run(rc, terminal["env"], "sync")
    assert code == 0 and "Nothing waiting" in out
    assert kept.exists()
