"""The examples in the --help of the managers' and the IT person's commands work against the
demo (issue 15): scripts/demo-data.py loads the demo centre "tonder" into a test daemon, and
each example is run as the demo account that would type it, in an order that makes sense for
a day at the office. The clock stands on 2026-12-03, so that the demo's residents (whose
arrivals count back from "today") include TON-2026-0001."""

import json
import shlex
import subprocess

import pytest
from harness import ROOT, ok

CLOCK = "2026-12-03T10:00:00+01:00"

# (command words, the demo account that runs the example)
EXAMPLES = [
    (["resident", "add"], "tonder-manager"),
    (["resident", "show"], "tonder-staff"),
    (["resident", "edit"], "tonder-manager"),
    (["resident", "dob"], "tonder-manager"),
    (["resident", "phase"], "tonder-manager"),
    (["sanction"], "tonder-manager"),
    (["agreement"], "tonder-manager"),
    (["rates"], "tonder-manager"),
    (["rates", "add"], "tonder-manager"),
    (["incident"], "tonder-staff"),
    (["incidents"], "tonder-staff"),
    (["account", "add"], "admin"),
    (["accounts"], "admin"),
    (["account", "disable"], "admin"),
    (["audit"], "admin"),
    (["export"], "admin"),
    (["resident", "move"], "tonder-manager"),
    (["resident", "depart"], "tonder-manager"),
]


@pytest.fixture(scope="module")
def demo(rc, tmp_path_factory):
    rc.set_clock(CLOCK)
    for cn in ["tonder-staff", "tonder-oncall", "tonder-manager"]:
        rc.pki.client(cn)
    subprocess.run(["/usr/bin/python3", str(ROOT / "scripts" / "demo-data.py"), rc.url,
                    str(rc.pki.dir)], check=True, capture_output=True, timeout=120)
    editor = tmp_path_factory.mktemp("editor") / "editor"
    editor.write_text("#!/bin/sh\nprintf 'Took a phone from another resident.\\n' >> \"$1\"\n")
    editor.chmod(0o755)
    return {"EDITOR": str(editor), "VISUAL": ""}


def example_of(help_text):
    """The first example command of a --help text, continuation lines joined."""
    lines = help_text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Example"))
    command = ""
    for line in lines[start + 1:]:
        command += line.strip()
        if not command.endswith("\\"):
            break
        command = command[:-1] + " "
    words = shlex.split(command)
    assert words[0] == "rollcall", command
    return words[1:]


def test_every_example_works_against_the_demo(rc, demo):
    for words, cn in EXAMPLES:
        if words == ["resident", "move"]:
            # The move's example needs a second centre of the manager's (its help says so);
            # from here on the manager names the centre, as the demo's one-centre examples
            # before did not need to.
            rc.create_centre("sandholm", name="Center Sandholm")
            ok(rc.admin.patch("/v1/accounts/tonder-manager",
                              json={"centres": ["tonder", "sandholm"]}), 200)
        code, out, err = rc.client(cn, *words, "--help")
        assert code == 0, err
        args = example_of(out)
        assert args[:len(words)] == words, (words, args)
        # `export CASE > FILE`: the redirection is the shell's.
        if ">" in args:
            args = args[:args.index(">")]
        code, out, err = rc.client(cn, *args, env=demo)
        assert code == 0, (args, out, err)
        assert out.strip(), args


def test_the_examples_left_their_mark(rc, demo):
    residents = {r["case_number"]: r for r in rc.admin.pages("/v1/centres/tonder/residents")}
    added = residents["TON-2026-0101"]
    assert added["given_name"] == "Amina"
    moved = ok(rc.admin.get("/v1/residents/" + str(
        next(r["id"] for r in rc.admin.pages("/v1/centres/sandholm/residents")
             if r["case_number"] == "TON-2026-0001"))), 200)
    assert moved["centre"] == "sandholm" and moved["departure_date"] == "2026-12-15"
    assert moved["date_of_birth"] == "2010-06-01"
    assert [a["cn"] for a in rc.admin.pages("/v1/accounts") if a["disabled"]] == ["tonder-anna"]
    incidents = rc.admin.pages("/v1/incidents", resident=moved["id"])
    assert [i["kind"] for i in incidents] == ["in9"]
    assert json.dumps(incidents).count("Took a phone") == 1


# The staff's, on-call staff's and managers' everyday commands, as the demo's accounts would
# type their examples (after the office's, which moved TON-2026-0001 away).
EVERYDAY = [
    (["residents"], "tonder-staff"),
    (["rounds"], "tonder-staff"),
    (["absent"], "tonder-staff"),
    (["concern"], "tonder-staff"),
    (["absences"], "tonder-staff"),
    (["alerts"], "tonder-oncall"),
    (["notifications"], "tonder-staff"),
    (["handover"], "tonder-staff"),
    (["profile"], "tonder-staff"),
    (["statement"], "tonder-manager"),
    (["payout"], "tonder-manager"),
    (["statements"], "tonder-manager"),
]


def test_the_everyday_examples_work_against_the_demo(rc, demo):
    for words, cn in EVERYDAY:
        code, out, err = rc.client(cn, *words, "--help")
        assert code == 0, err
        args = example_of(out)
        assert args[:len(words)] == words, (words, args)
        if ">" in args:
            args = args[:args.index(">")]
        code, out, err = rc.client(cn, *args, env=demo)
        assert code == 0, (args, out, err)
        assert out.strip(), args
    away = [a for a in rc.admin.pages("/v1/absences", centre="tonder", open="true")]
    assert any(a["reason"] == "concern" for a in away), away
