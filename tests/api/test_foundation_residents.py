"""Accounts, centres and residents (SPEC sections 1, 7 and 10): creation and reading, roles,
scoping of staff to their own centres, unique case numbers, date-of-birth corrections with their
history, asylum phases with effective dates, and residents enrolled on a given day."""

import pytest
from harness import error_of, ok


@pytest.fixture(scope="module")
def two_centres(rc):
    rc.set_clock("2026-03-01T12:00:00+01:00")
    a = rc.create_centre("tonder", name="Børnecenter Tønder", capacity=76)["id"]
    b = rc.create_centre("sandholm", name="Center Sandholm", capacity=78)["id"]
    rc.create_account("staff-a", "staff", [a])
    rc.create_account("staff-b", "staff", [b])
    rc.create_account("oncall-a", "oncall", [a])
    rc.create_account("staff-ab", "staff", [a, b])
    ra = rc.create_resident(a, given_name="Ahmad", family_name="Rahimi", case_number="A-1")
    rb = rc.create_resident(b, given_name="Hevin", family_name="Ali", case_number="B-1")
    return {"a": a, "b": b, "ra": ra, "rb": rb}


# -- accounts ----------------------------------------------------------------------------------


def test_bootstrap_admin_exists_with_admin_role(rc):
    role = rc.db.scalar("SELECT role FROM accounts WHERE cn = 'admin'")
    assert role == "admin"


def test_account_is_created_listed_and_patched(rc, two_centres):
    created = ok(
        rc.admin.post(
            "/v1/accounts",
            json={"cn": "manager-x", "role": "manager", "centres": [two_centres["a"]]},
        ),
        201,
    )
    assert created["cn"] == "manager-x"
    assert created["role"] == "manager"
    assert created["centres"] == [two_centres["a"]]
    assert created["disabled"] is False

    listed = ok(rc.admin.get("/v1/accounts"))
    assert set(listed) >= {"items", "next"}
    assert "manager-x" in [a["cn"] for a in listed["items"]]

    patched = ok(rc.admin.patch("/v1/accounts/manager-x", json={"centres": [two_centres["b"]]}))
    assert patched["centres"] == [two_centres["b"]]
    assert rc.db.query("SELECT centre FROM account_centres WHERE cn = 'manager-x'") == [
        (two_centres["b"],)
    ]


def test_duplicate_account_is_409(rc, two_centres):
    body = {"cn": "staff-a", "role": "staff", "centres": [two_centres["a"]]}
    error_of(rc.admin.post("/v1/accounts", json=body), 409)


def test_authority_account_needs_its_authority(rc, two_centres):
    body = {"cn": "police-a", "role": "authority", "centres": [two_centres["a"]]}
    err = error_of(rc.admin.post("/v1/accounts", json=body), 400)
    assert err.get("field") == "authority"
    body["authority"] = "police"
    ok(rc.admin.post("/v1/accounts", json=body), 201)
    body = {"cn": "staff-with-auth", "role": "staff", "centres": [], "authority": "police"}
    assert error_of(rc.admin.post("/v1/accounts", json=body), 400).get("field") == "authority"


def test_account_with_unknown_centre_is_refused(rc):
    body = {"cn": "nowhere-staff", "role": "staff", "centres": ["no-such-centre"]}
    reply = rc.admin.post("/v1/accounts", json=body)
    assert reply.status in (400, 404, 422), reply
    assert rc.db.count("accounts", "cn = 'nowhere-staff'") == 0


def test_accounts_are_admin_only(rc, two_centres):
    rc.create_account("manager-a", "manager", [two_centres["a"]])
    for cn in ("staff-a", "oncall-a", "manager-a"):
        error_of(rc.api(cn).get("/v1/accounts"), 403)
        body = {"cn": f"made-by-{cn}", "role": "admin", "centres": []}
        error_of(rc.api(cn).post("/v1/accounts", json=body), 403)
        error_of(rc.api(cn).patch("/v1/accounts/staff-b", json={"disabled": True}), 403)
    assert rc.db.count("accounts", "cn LIKE 'made-by-%'") == 0
    assert rc.db.scalar("SELECT disabled FROM accounts WHERE cn = 'staff-b'") is False


def test_patch_of_unknown_account_is_404(rc):
    error_of(rc.admin.patch("/v1/accounts/no-such-account", json={"disabled": True}), 404)


# -- centres -----------------------------------------------------------------------------------


def test_centre_defaults_and_secrets_never_returned(rc):
    created = ok(
        rc.admin.post(
            "/v1/centres",
            json={
                "id": "ask4us",
                "name": "Ask4US",
                "operator": "Test operator",
                "capacity": 8,
                "authorities": [
                    {
                        "kind": "municipality",
                        "url": "https://kommune.example/hook",
                        "secret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                    }
                ],
            },
        ),
        201,
    )
    assert created["id"] == "ask4us"
    assert created["timezone"] == "Europe/Copenhagen"
    assert created["check_times"] == ["07:00", "15:00", "23:00"]
    assert created["grace_minutes"] == 60
    assert created["free_meals"] is False
    assert "whsec_" not in repr(created)
    got = ok(rc.admin.get("/v1/centres/ask4us"))
    assert "whsec_" not in repr(got)
    assert [a["kind"] for a in got["authorities"]] == ["municipality"]
    assert "secret" not in got["authorities"][0]
    listed = ok(rc.admin.get("/v1/centres"))
    assert "whsec_" not in repr(listed)


def test_centre_secret_in_another_form_is_refused(rc):
    body = {
        "id": "badsecret",
        "name": "Bad secret",
        "capacity": 1,
        "authorities": [{"kind": "police", "url": "https://politi.example/", "secret": "hunter2"}],
    }
    err = error_of(rc.admin.post("/v1/centres", json=body), 400)
    assert "secret" in (err.get("field") or "")
    assert rc.db.count("centres", "id = 'badsecret'") == 0


def test_centre_patch_and_duplicate(rc, two_centres):
    patched = ok(rc.admin.patch(f"/v1/centres/{two_centres['a']}", json={"grace_minutes": 45}))
    assert patched["grace_minutes"] == 45
    ok(rc.admin.patch(f"/v1/centres/{two_centres['a']}", json={"grace_minutes": 60}))
    body = {"id": two_centres["a"], "name": "Again", "capacity": 1}
    error_of(rc.admin.post("/v1/centres", json=body), 409)


def test_staff_see_only_their_own_centres(rc, two_centres):
    a, b = two_centres["a"], two_centres["b"]
    ok(rc.api("staff-a").get(f"/v1/centres/{a}"))
    error_of(rc.api("staff-a").get(f"/v1/centres/{b}"), 403)
    listed = ok(rc.api("staff-a").get("/v1/centres"))
    assert [c["id"] for c in listed["items"]] == [a]
    both = ok(rc.api("staff-ab").get("/v1/centres"))
    assert sorted(c["id"] for c in both["items"]) == sorted([a, b])
    error_of(rc.api("staff-a").post("/v1/centres", json={"id": "x", "name": "x", "capacity": 1}), 403)
    error_of(rc.api("staff-a").patch(f"/v1/centres/{a}", json={"capacity": 1}), 403)


def test_unknown_centre_is_404_for_admin(rc):
    error_of(rc.admin.get("/v1/centres/no-such-centre"), 404)


# -- residents ---------------------------------------------------------------------------------


def test_resident_is_created_and_read(rc, two_centres):
    r = two_centres["ra"]
    assert isinstance(r["id"], int)
    for key, value in {
        "case_number": "A-1",
        "given_name": "Ahmad",
        "family_name": "Rahimi",
        "date_of_birth": "2012-03-10",
        "centre": two_centres["a"],
        "arrival_date": "2026-01-05",
        "departure_date": None,
        "phase": 1,
    }.items():
        assert r[key] == value, (key, r)
    got = ok(rc.api("staff-a").get(f"/v1/residents/{r['id']}"))
    assert {k: got[k] for k in r if k != "date_of_birth_history"} == {
        k: r[k] for k in r if k != "date_of_birth_history"
    }


def test_cross_centre_resident_read_and_change_refused(rc, two_centres):
    rb = two_centres["rb"]["id"]
    error_of(rc.api("staff-a").get(f"/v1/residents/{rb}"), 403)
    error_of(rc.api("oncall-a").get(f"/v1/residents/{rb}"), 403)
    manager_a = rc.manager_of(two_centres["a"])
    error_of(manager_a.patch(f"/v1/residents/{rb}", json={"given_name": "Changed"}), 403)
    error_of(manager_a.get(f"/v1/centres/{two_centres['b']}/residents"), 403)
    error_of(rc.api("staff-a").get(f"/v1/centres/{two_centres['b']}/residents"), 403)
    assert rc.db.scalar("SELECT given_name FROM residents WHERE id = %s", rb) == "Hevin"
    # Staff of both centres see both.
    ok(rc.api("staff-ab").get(f"/v1/residents/{rb}"))


def test_cross_centre_resident_creation_refused(rc, two_centres):
    manager_a = rc.manager_of(two_centres["a"])
    body = {
        "case_number": "A-IN-B",
        "given_name": "X",
        "family_name": "Y",
        "date_of_birth": "2010-01-01",
        "centre": two_centres["b"],
        "arrival_date": "2026-01-05",
        "phase": 1,
    }
    error_of(manager_a.post("/v1/residents", json=body), 403)
    assert rc.db.count("residents", "case_number = 'A-IN-B'") == 0


def test_staff_cannot_create_residents(rc, two_centres):
    body = {
        "case_number": "BY-STAFF",
        "given_name": "X",
        "family_name": "Y",
        "date_of_birth": "2010-01-01",
        "centre": two_centres["a"],
        "arrival_date": "2026-01-05",
        "phase": 1,
    }
    error_of(rc.api("staff-a").post("/v1/residents", json=body), 403)
    assert rc.db.count("residents", "case_number = 'BY-STAFF'") == 0


def test_case_number_is_unique_409(rc, two_centres):
    before = rc.db.count("residents")
    for centre in (two_centres["a"], two_centres["b"]):
        manager = rc.manager_of(centre)
        body = {
            "case_number": "A-1",
            "given_name": "Other",
            "family_name": "Person",
            "date_of_birth": "2011-01-01",
            "centre": centre,
            "arrival_date": "2026-02-01",
            "phase": 1,
        }
        err = error_of(manager.post("/v1/residents", json=body), 409)
        assert err.get("field") == "case_number"
    assert rc.db.count("residents") == before


def test_resident_patch_of_names(rc, two_centres):
    r = rc.create_resident(two_centres["a"], given_name="Mariam", family_name="Yusuf")
    manager = rc.manager_of(two_centres["a"])
    patched = ok(manager.patch(f"/v1/residents/{r['id']}", json={"family_name": "Yousuf"}))
    assert patched["family_name"] == "Yousuf"
    assert patched["given_name"] == "Mariam"


def test_date_of_birth_change_needs_reason_and_keeps_history(rc, two_centres):
    r = rc.create_resident(two_centres["a"], date_of_birth="2010-05-01")
    manager = rc.manager_of(two_centres["a"])
    path = f"/v1/residents/{r['id']}"

    err = error_of(manager.patch(path, json={"date_of_birth": "2008-05-01"}), 400)
    assert err.get("field") == "reason"
    assert rc.db.scalar("SELECT date_of_birth::text FROM residents WHERE id = %s", r["id"]) == "2010-05-01"
    assert rc.db.count("resident_dob_history", "resident = %s", r["id"]) == 0

    reason = "Age assessment by the Immigration Service, case 41-2026"
    patched = ok(manager.patch(path, json={"date_of_birth": "2008-05-01", "reason": reason}))
    assert patched["date_of_birth"] == "2008-05-01"
    history = patched["date_of_birth_history"]
    assert len(history) == 1
    text = repr(history[0])
    assert "2010-05-01" in text and "2008-05-01" in text and reason in text

    ok(manager.patch(path, json={"date_of_birth": "2008-09-01", "reason": "Corrected again"}))
    got = ok(rc.api("staff-a").get(path))
    assert got["date_of_birth"] == "2008-09-01"
    assert len(got["date_of_birth_history"]) == 2
    rows = rc.db.query(
        "SELECT old_date_of_birth::text, new_date_of_birth::text, reason, changed_by "
        "FROM resident_dob_history WHERE resident = %s ORDER BY id",
        r["id"],
    )
    assert rows == [
        ("2010-05-01", "2008-05-01", reason, manager.cn),
        ("2008-05-01", "2008-09-01", "Corrected again", manager.cn),
    ]


def test_phases_take_effect_from_their_date(rc, two_centres):
    rc.set_clock("2026-03-01T12:00:00+01:00")
    r = rc.create_resident(two_centres["a"], arrival_date="2026-02-01", phase=1)
    manager = rc.manager_of(two_centres["a"])
    path = f"/v1/residents/{r['id']}"
    created = ok(manager.post(f"{path}/phases", json={"phase": 2, "from": "2026-04-01"}), 201)
    assert created["phase"] == 2 and created["from"] == "2026-04-01"
    assert ok(manager.get(path))["phase"] == 1
    # The clock only moves forward: 21:30 UTC on 31 March is still 31 March in Copenhagen.
    rc.set_clock("2026-03-31T23:30:00+02:00")
    assert ok(manager.get(path))["phase"] == 1
    rc.set_clock("2026-04-01T00:30:00+02:00")  # local date 2026-04-01
    assert ok(manager.get(path))["phase"] == 2
    rows = rc.db.query(
        "SELECT phase, from_date::text FROM phases WHERE resident = %s ORDER BY from_date",
        r["id"],
    )
    assert rows == [(1, "2026-02-01"), (2, "2026-04-01")]


def test_phases_are_for_managers_only(rc, two_centres):
    r = two_centres["ra"]["id"]
    error_of(rc.api("staff-a").post(f"/v1/residents/{r}/phases", json={"phase": 2, "from": "2026-05-01"}), 403)
    error_of(
        rc.manager_of(two_centres["b"]).post(
            f"/v1/residents/{r}/phases", json={"phase": 2, "from": "2026-05-01"}
        ),
        403,
    )
    assert rc.db.count("phases", "resident = %s", r) == 1


def test_bad_phase_is_400(rc, two_centres):
    r = two_centres["ra"]["id"]
    manager = rc.manager_of(two_centres["a"])
    for body, field in (
        ({"phase": 4, "from": "2026-05-01"}, "phase"),
        ({"phase": 2, "from": "2026-05-32"}, "from"),
        ({"phase": 2}, "from"),
    ):
        assert error_of(manager.post(f"/v1/residents/{r}/phases", json=body), 400).get("field") == field
    assert rc.db.count("phases", "resident = %s", r) == 1


def test_residents_enrolled_on_a_day(rc, two_centres):
    centre = rc.create_centre()["id"]
    rc.create_account(f"staff-{centre}", "staff", [centre])
    staff = rc.api(f"staff-{centre}")
    leaving = rc.create_resident(
        centre, arrival_date="2026-01-05", departure_date="2026-03-01", case_number="ON-1"
    )
    arriving = rc.create_resident(centre, arrival_date="2026-02-15", case_number="ON-2")

    def enrolled(day):
        body = ok(staff.get(f"/v1/centres/{centre}/residents?on={day}"))
        assert body["next"] is None
        return sorted(r["id"] for r in body["items"])

    assert enrolled("2026-01-04") == []
    assert enrolled("2026-01-05") == [leaving["id"]]  # arrival day included
    assert enrolled("2026-02-15") == sorted([leaving["id"], arriving["id"]])
    assert enrolled("2026-02-28") == sorted([leaving["id"], arriving["id"]])
    assert enrolled("2026-03-01") == [arriving["id"]]  # departure day excluded
    assert enrolled("2027-01-01") == [arriving["id"]]


def test_departure_recorded_by_patch_ends_enrolment(rc, two_centres):
    centre = rc.create_centre()["id"]
    r = rc.create_resident(centre, arrival_date="2026-01-05")
    manager = rc.manager_of(centre)
    patched = ok(manager.patch(f"/v1/residents/{r['id']}", json={"departure_date": "2026-02-10"}))
    assert patched["departure_date"] == "2026-02-10"
    ids = [x["id"] for x in ok(manager.get(f"/v1/centres/{centre}/residents?on=2026-02-10"))["items"]]
    assert r["id"] not in ids
    ids = [x["id"] for x in ok(manager.get(f"/v1/centres/{centre}/residents?on=2026-02-09"))["items"]]
    assert r["id"] in ids
    err = error_of(manager.patch(f"/v1/residents/{r['id']}", json={"departure_date": "2025-12-01"}), 400)
    assert err.get("field") == "departure_date"


def test_list_pages_with_limit_and_after(rc):
    centre = rc.create_centre()["id"]
    made = sorted(rc.create_resident(centre)["id"] for _ in range(5))
    manager = rc.manager_of(centre)
    seen, after, pages = [], None, 0
    while True:
        path = f"/v1/centres/{centre}/residents?on=2026-06-01&limit=2"
        if after:
            path += f"&after={after}"
        body = ok(manager.get(path))
        assert len(body["items"]) <= 2
        seen += [r["id"] for r in body["items"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        assert pages < 10
    assert sorted(seen) == made
    assert pages == 3
