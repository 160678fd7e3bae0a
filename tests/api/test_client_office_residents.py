"""`rollcall resident add|show|edit|move|depart|phase|dob` (issue 15, SPEC section 10 v2): the
real client against the real daemon. Each command: the server's state afterwards through the
API, a usage error (exit 2, nothing sent), a refusal (exit 1, naming the role needed), --json,
and --help with an example of the demo's."""

import pytest
from client_office_helpers import Office


@pytest.fixture(scope="module")
def office(rc):
    return Office(rc, "offres")


def by_case(office, case_number):
    for item in office.rc.admin.pages(f"/v1/centres/{office.centre}/residents"):
        if item["case_number"] == case_number:
            return office.get(f"/v1/residents/{item['id']}")
    return None


@pytest.mark.parametrize("command", ["add", "show", "edit", "move", "depart", "phase", "dob"])
def test_help_has_a_demo_example(office, command):
    code, out, err = office.client(office.manager, "resident", command, "--help")
    assert code == 0, err
    assert f"usage: rollcall resident {command}" in out
    assert "Example" in out and "rollcall resident " + command + " TON-2026-0" in out, out


def test_resident_alone_lists_its_commands(office):
    code, out, err = office.client(office.manager, "resident", "--help")
    assert code == 0, err
    for command in ["add", "show", "edit", "move", "depart", "phase", "dob"]:
        assert f"rollcall resident {command}" in out
    code, _out, err = office.client(office.manager, "resident", "frobnicate")
    assert code == 2 and "'resident frobnicate' is not a command" in err, err


def test_add_reads_accounted_for_at_in_the_centres_time(office):
    code, out, err = office.client(
        office.manager, "resident", "add", "OFF-ADD-1", "--given", "Farid", "--family", "Noori",
        "--born", "2012-03-10", "--arrival", "2026-11-01", "--phase", "2",
        "--accounted-for-at", "2026-11-20 07:00", "--centre", office.centre)
    assert code == 0, err
    assert "Resident added." in out and "OFF-ADD-1 Farid Noori" in out
    # Shown with its zone, in the centre's local time.
    assert "2026-11-20 07:00 CET" in out, out
    resident = by_case(office, "OFF-ADD-1")
    assert resident is not None
    assert resident["date_of_birth"] == "2012-03-10"
    assert resident["arrival_date"] == "2026-11-01" and resident["phase"] == 2
    # 07:00 in Copenhagen in November is 06:00 UTC.
    assert resident["accounted_for_at"].startswith("2026-11-20T06:00:00"), resident


def test_add_json_is_the_created_resident(office):
    code, out, err = office.client(
        office.manager, "--json", "resident", "add", "OFF-ADD-2", "--given", "Semhar",
        "--family", "Kidane", "--born", "2010-07-01", "--arrival", "2026-11-02",
        "--centre", office.centre)
    assert code == 0, err
    body = office.json_of(out)
    assert body["case_number"] == "OFF-ADD-2" and body["id"] > 0


@pytest.mark.parametrize("args, named", [
    (["--family", "X", "--born", "2012-03-10", "--arrival", "2026-11-01"], "--given"),
    (["--given", "X", "--family", "X", "--born", "2012-02-30", "--arrival", "2026-11-01"],
     "--born"),
    (["--given", "X", "--family", "X", "--born", "2012-03-10"], "--arrival"),
    (["--given", "X", "--family", "X", "--born", "2012-03-10", "--arrival", "2026-11-01",
      "--phase", "4"], "--phase"),
    (["--given", "X", "--family", "X", "--born", "2012-03-10", "--arrival", "2026-11-01",
      "--accounted-for-at", "yesterday"], "--accounted-for-at"),
])
def test_add_mistakes_name_the_argument_and_send_nothing(office, args, named):
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "resident", "add", "OFF-BAD", *args,
                                    "--centre", office.centre)
    office.assert_nothing_sent(office.manager, before, code, err)
    assert named in err, err
    assert by_case(office, "OFF-BAD") is None


def test_add_by_staff_is_refused_naming_the_role_needed(office):
    code, _out, err = office.client(
        office.staff, "resident", "add", "OFF-STAFF", "--given", "A", "--family", "B",
        "--born", "2012-03-10", "--arrival", "2026-11-01")
    assert code == 1, err
    # Defect 5: the hint names what was refused, not "unknown or disabled".
    assert "the staff role may not do this" in err and "manager" in err, err
    assert "unknown or disabled" not in err
    assert by_case(office, "OFF-STAFF") is None


def test_show_gives_the_record_with_its_history(office):
    r = office.resident(given_name="Oleksandr", family_name="Melnyk")
    code, out, err = office.client(office.staff, "resident", "show", r["case_number"])
    assert code == 0, err
    assert f"{r['case_number']} Oleksandr Melnyk (resident {r['id']})" in out
    assert "2012-03-10" in out and "Børnecenter Tønder" in out
    code, out, err = office.client(office.staff, "--json", "resident", "show", f"id:{r['id']}")
    assert code == 0, err
    body = office.json_of(out)
    assert body["id"] == r["id"] and "date_of_birth_history" in body and "stays" in body


def test_show_mistakes(office):
    before = office.audit_rows(office.staff)
    code, _out, err = office.client(office.staff, "resident", "show", "id:x")
    office.assert_nothing_sent(office.staff, before, code, err)
    assert "id:x" in err
    code, _out, err = office.client(office.staff, "resident", "show", "NOBODY-1")
    assert code == 2 and "no resident with case number 'NOBODY-1'" in err, err


def test_show_of_another_centre_is_refused(office, rc):
    rc.create_account("offres-other", "staff", [office.other])
    r = office.resident()
    code, _out, err = office.client("offres-other", "resident", "show", f"id:{r['id']}")
    assert code == 1, err
    assert "not at any of your centres" in err and "centre your account is not for" in err, err


def test_edit_changes_the_names(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "resident", "edit", r["case_number"],
                                   "--family", "Haidary", "--given", "Amena")
    assert code == 0, err
    assert "Resident changed." in out and "Amena Haidary" in out
    now = office.get(f"/v1/residents/{r['id']}")
    assert (now["given_name"], now["family_name"]) == ("Amena", "Haidary")
    code, out, err = office.client(office.manager, "--json", "resident", "edit",
                                   r["case_number"], "--family", "Haidari",
                                   "--accounted-for-at", "2026-07-01 08:00",
                                   env={"TZ": "America/New_York"})
    assert code == 0, err
    body = office.json_of(out)
    assert body["family_name"] == "Haidari"
    # Local time is the centre's (summer time, UTC+2), whatever the terminal's zone.
    assert body["accounted_for_at"].startswith("2026-07-01T06:00:00"), body


def test_edit_mistakes_and_refusal(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "resident", "edit", r["case_number"])
    office.assert_nothing_sent(office.manager, before, code, err)
    assert "nothing to change" in err
    code, _out, err = office.client(office.manager, "resident", "edit", r["case_number"],
                                    "--given", " ")
    office.assert_nothing_sent(office.manager, before, code, err)
    assert "--given" in err
    code, _out, err = office.client(office.staff, "resident", "edit", r["case_number"],
                                    "--family", "Other")
    assert code == 1 and "manager" in err, err
    assert office.get(f"/v1/residents/{r['id']}")["family_name"] == "Haidari"


def test_move_to_another_centre_from_a_date(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "resident", "move", r["case_number"],
                                   office.other, "--on", "2026-11-25")
    assert code == 0, err
    assert "Resident moved." in out
    stays = office.get(f"/v1/residents/{r['id']}")["stays"]
    assert [(s["centre"], s["from"], s["to"]) for s in stays] == [
        (office.centre, "2026-01-05", "2026-11-25"), (office.other, "2026-11-25", None)]


def test_move_json_mistakes_and_refusal(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "resident", "move", r["case_number"],
                                    office.other, "--on", "25-11-2026")
    office.assert_nothing_sent(office.manager, before, code, err)
    assert "--on" in err
    code, _out, err = office.client(office.staff, "resident", "move", r["case_number"],
                                    office.other, "--on", "2026-11-25")
    assert code == 1, err
    code, out, err = office.client(office.manager, "--json", "resident", "move",
                                   r["case_number"], office.other)
    assert code == 0, err
    # Without --on: the daemon's today at the centre (the test clock's 2026-11-20).
    assert office.json_of(out)["stays"][-1] == {"centre": office.other, "from": "2026-11-20",
                                                "to": None}


def test_depart_records_the_departure_date(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "resident", "depart", r["case_number"],
                                   "2026-12-15")
    assert code == 0, err
    assert "Departure recorded" in out
    assert office.get(f"/v1/residents/{r['id']}")["departure_date"] == "2026-12-15"
    r2 = office.resident()
    code, out, err = office.client(office.manager, "--json", "resident", "depart",
                                   f"id:{r2['id']}", "2026-12-16")
    assert code == 0, err
    assert office.json_of(out)["departure_date"] == "2026-12-16"


def test_depart_mistakes_and_refusal(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "resident", "depart", r["case_number"],
                                    "soon")
    office.assert_nothing_sent(office.manager, before, code, err)
    assert "DATE" in err and "soon" in err
    code, _out, err = office.client(office.staff, "resident", "depart", r["case_number"],
                                    "2026-12-15")
    assert code == 1, err
    # The server's own refusal of a date before the arrival: exit 1, the field named.
    code, _out, err = office.client(office.manager, "resident", "depart", r["case_number"],
                                    "2025-01-01")
    assert code == 1 and "departure_date" in err, err
    assert office.get(f"/v1/residents/{r['id']}")["departure_date"] is None


def test_phase_from_a_date(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "resident", "phase", r["case_number"], "2",
                                   "--from", "2026-11-10")
    assert code == 0, err
    assert "Phase 2 from 2026-11-10 recorded." in out
    phases = office.get(f"/v1/residents/{r['id']}")["phases"]
    assert {"phase": 2, "from": "2026-11-10"} in phases
    code, out, err = office.client(office.manager, "--json", "resident", "phase",
                                   r["case_number"], "3", "--from", "2026-11-15")
    assert code == 0, err
    assert office.json_of(out)["phase"] == 3


def test_phase_mistakes_and_refusal(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    for args, named in ([["4"], "PHASE"], [["2", "--from", "2026-13-01"], "--from"]):
        code, _out, err = office.client(office.manager, "resident", "phase", r["case_number"],
                                        *args)
        office.assert_nothing_sent(office.manager, before, code, err)
        assert named in err, err
    code, _out, err = office.client(office.staff, "resident", "phase", r["case_number"], "2",
                                    "--from", "2026-11-10")
    assert code == 1, err
    assert [p["phase"] for p in office.get(f"/v1/residents/{r['id']}")["phases"]] == [1]


def test_dob_correction_keeps_the_history(office):
    r = office.resident()
    code, out, err = office.client(office.manager, "resident", "dob", r["case_number"],
                                   "2011-01-01", "--reason", "age assessment")
    assert code == 0, err
    assert "Date of birth corrected" in out and "2012-03-10 -> 2011-01-01" in out
    now = office.get(f"/v1/residents/{r['id']}")
    assert now["date_of_birth"] == "2011-01-01"
    assert now["date_of_birth_history"][0]["reason"] == "age assessment"
    code, out, err = office.client(office.manager, "--json", "resident", "dob",
                                   r["case_number"], "2011-02-01", "--reason", "second look")
    assert code == 0, err
    assert len(office.json_of(out)["date_of_birth_history"]) == 2


def test_dob_needs_a_reason_and_a_manager(office):
    r = office.resident()
    before = office.audit_rows(office.manager)
    code, _out, err = office.client(office.manager, "resident", "dob", r["case_number"],
                                    "2011-01-01")
    office.assert_nothing_sent(office.manager, before, code, err)
    assert "--reason" in err
    code, _out, err = office.client(office.staff, "resident", "dob", r["case_number"],
                                    "2011-01-01", "--reason", "x")
    assert code == 1, err
    assert office.get(f"/v1/residents/{r['id']}")["date_of_birth"] == "2012-03-10"
