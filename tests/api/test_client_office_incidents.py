"""`rollcall incident CASE KIND` and `rollcall incidents` (issue 15, SPEC sections 7a and 10
v2): the description is written in $VISUAL, else $EDITOR, else vi (here small scripts); an
empty description or a failing editor sends nothing."""

import json
import re
import os

import pytest
from client_office_helpers import Office


@pytest.fixture(scope="module")
def office(rc):
    return Office(rc, "offinc")


def editor(tmp_path, name, body):
    """A stand-in editor: a shell script run as `EDITOR FILE`."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def writing(tmp_path, text, name="write-editor"):
    return editor(tmp_path, name, f"printf '%s\\n' '{text}' >> \"$1\"\n")


def incidents_of(office, resident_id):
    return office.rc.admin.pages("/v1/incidents", resident=resident_id)


@pytest.mark.parametrize("command, example", [
    ("incident", "rollcall incident TON-2026-0001 in9"),
    ("incidents", "rollcall incidents --resident TON-2026-0001"),
])
def test_help_has_a_demo_example(office, command, example):
    code, out, err = office.client(office.staff, command, "--help")
    assert code == 0, err
    assert "Example:" in out and example in out, out
    if command == "incident":
        assert "$VISUAL" in out and "$EDITOR" in out and "vi" in out


def test_incident_description_from_the_editor(office, tmp_path):
    r = office.resident()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # The editor also checks that the file is private (mode 0600): it holds text about a child.
    script = ("[ \"$(stat -c %a \"$1\")\" = 600 ] || exit 9\n"
              "printf '%s\\n' 'Took a phone from another resident.' >> \"$1\"\n")
    env = {"EDITOR": editor(tmp_path, "private-editor", script), "VISUAL": "",
           "TMPDIR": str(scratch)}
    code, out, err = office.client(office.staff, "incident", r["case_number"], "in9",
                                   "--occurred-at", "2026-11-19 21:30", "--police-report",
                                   "4100-123", env=env)
    assert code == 0, err
    assert "(in9)" in out and "2026-11-19 21:30 CET" in out, out
    [incident] = incidents_of(office, r["id"])
    assert incident["kind"] == "in9"
    # The editor's intro (the '#' lines) is not part of the description.
    assert incident["description"] == "Took a phone from another resident."
    assert incident["occurred_at"].startswith("2026-11-19T20:30:00"), incident
    assert incident["police_report_number"] == "4100-123"
    assert incident["reported_by"] == office.staff
    assert os.listdir(scratch) == []


def test_visual_comes_before_editor_and_json(office, tmp_path):
    r = office.resident()
    env = {"VISUAL": writing(tmp_path, "from VISUAL", "visual"),
           "EDITOR": writing(tmp_path, "from EDITOR", "editor")}
    code, out, err = office.client(office.staff, "--json", "incident", r["case_number"],
                                   "underretning", env=env)
    assert code == 0, err
    body = json.loads(out)
    assert body["kind"] == "underretning" and body["description"] == "from VISUAL"
    # Without --occurred-at: now by the daemon's clock.
    assert body["occurred_at"].startswith("2026-11-20T09:00:00"), body


@pytest.mark.parametrize("script", ["exit 0\n", "printf '\\n   \\n# only a comment\\n' >> \"$1\"\n",
                                    "exit 3\n"])
def test_empty_description_or_failing_editor_sends_nothing(office, tmp_path, script):
    r = office.resident()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"EDITOR": editor(tmp_path, "empty-editor", script), "VISUAL": "",
           "TMPDIR": str(scratch)}
    code, _out, err = office.client(office.staff, "incident", r["case_number"], "in8", env=env)
    assert code == 2, err
    assert "nothing was sent" in err, err
    assert incidents_of(office, r["id"]) == []
    # The temporary file holding the text is gone.
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("args, named", [
    (["in11"], "KIND"),
    (["in9", "--occurred-at", "tonight"], "--occurred-at"),
    (["in9", "--police-report", "x" * 101], "--police-report"),
])
def test_incident_mistakes_send_nothing_and_open_no_editor(office, tmp_path, args, named):
    r = office.resident()
    marker = tmp_path / "editor-ran"
    env = {"EDITOR": editor(tmp_path, "marking-editor", f"touch {marker}\n"), "VISUAL": ""}
    before = office.audit_rows(office.staff)
    code, _out, err = office.client(office.staff, "incident", r["case_number"], *args, env=env)
    office.assert_nothing_sent(office.staff, before, code, err)
    assert named in err, err
    assert not marker.exists()
    assert incidents_of(office, r["id"]) == []


def test_incident_refused_for_another_centre(office, rc, tmp_path):
    rc.create_account("offinc-other", "staff", [office.other])
    r = office.resident()
    env = {"EDITOR": writing(tmp_path, "not mine to report"), "VISUAL": ""}
    code, _out, err = office.client("offinc-other", "incident", f"id:{r['id']}", "in8", env=env)
    assert code == 1, err
    assert "centre your account is not for" in err, err
    assert incidents_of(office, r["id"]) == []


def test_incidents_lists_every_page(office, tmp_path):
    r = office.resident(given_name="Listed", family_name="Often")
    env = {"EDITOR": writing(tmp_path, "one more"), "VISUAL": ""}
    for _ in range(3):
        code, _out, err = office.client(office.staff, "incident", r["case_number"], "in10",
                                        env=env)
        assert code == 0, err
    code, out, err = office.client(office.staff, "--json", "incidents", "--resident",
                                   r["case_number"])
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed["items"]) == 3 and listed["next"] is None
    code, out, err = office.client(office.staff, "--json", "incidents", "--limit", "2")
    assert code == 0, err
    assert len(json.loads(out)["items"]) == 2
    code, out, err = office.client(office.staff, "incidents")
    assert code == 0, err
    assert f"{r['case_number']} Listed Often" in out and "in10" in out, out
    assert re.match(r".+: \d+ incident reports?\n", out), out  # the centre's name, the count
    assert len(incidents_of(office, r["id"])) == 3


def test_incidents_mistakes_and_refusal(office):
    before = office.audit_rows(office.staff)
    code, _out, err = office.client(office.staff, "incidents", "--resident", "id:-1")
    office.assert_nothing_sent(office.staff, before, code, err)
    assert "--resident" in err
    code, _out, err = office.client(office.staff, "incidents", "--centre", office.other)
    assert code == 1 and "not one of your centres" in err, err
