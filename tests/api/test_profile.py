"""The missing-person profile (SPEC section 3a, v2): GET/PUT /v1/residents/{id}/profile with its
history, field-level validation naming the field, the photo's limits (base64 JPEG of at most
512 KiB: 413 above, 400 for bytes that are not a JPEG), photo_taken_on not in the future on the
daemon clock, staff+ of the resident's centre only, every read and change audited, and the
profile in the resident's export and erased by retention.
"""

import base64
import json

import pytest
from alerts_helpers import Centre
from harness import at, error_of, local, ok

MAX_PHOTO = 512 * 1024


def jpeg(size=64, fill=b"\x11"):
    """Bytes that pass the JPEG check (SOI ... EOI) of exactly size bytes."""
    return b"\xff\xd8" + fill * (size - 4) + b"\xff\xd9"


def b64(data):
    return base64.b64encode(data).decode()


def full_profile(**changes):
    body = {
        "description": "1.55 m, slim, short black hair, scar above the left eyebrow",
        "photo_jpeg_base64": b64(jpeg()),
        "photo_taken_on": "2026-11-01",
        "languages": ["Tigrinya", "Arabic"],
        "contacts": [{"name": "Selam Tesfaye", "relation": "aunt", "phone": "+46 70 123 45 67"}],
        "places": ["Copenhagen Central Station", "the mosque in Tønder"],
        "medical": "asthma: inhaler twice a day",
        "risks": "contact with a man who offered work in Germany",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def centre(rc):
    rc.set_clock(at("2026-11-20", "10:00"))
    return Centre(rc, "profile")


def test_a_resident_without_a_profile_has_an_empty_one(centre):
    resident = centre.resident()
    got = ok(centre.staff.get(f"/v1/residents/{resident}/profile"))
    assert got == {"description": None, "photo_jpeg_base64": None, "photo_taken_on": None,
                   "languages": [], "contacts": [], "places": [], "medical": None,
                   "risks": None, "updated_at": None}


def test_put_then_get_returns_every_field(centre, rc):
    resident = centre.resident()
    body = full_profile()
    put = ok(centre.staff.put(f"/v1/residents/{resident}/profile", json=body), 200)
    got = ok(centre.staff.get(f"/v1/residents/{resident}/profile"))
    assert put == got
    for field, value in body.items():
        assert got[field] == value, field
    assert got["updated_at"] == "2026-11-20T09:00:00+00:00"  # the daemon clock, 10:00 CET
    assert base64.b64decode(got["photo_jpeg_base64"]) == jpeg()


def test_put_replaces_the_whole_profile_and_history_keeps_earlier_versions(centre, rc):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    ok(centre.staff.put(path, json=full_profile(description="first")))
    rc.set_clock(at("2026-11-20", "11:00"))
    ok(centre.manager.put(path, json=full_profile(description="second")))
    rc.set_clock(at("2026-11-20", "12:00"))
    # A field left out is empty in the new version; updated_at sent back is ignored.
    third = ok(centre.staff.put(path, json={"description": "third",
                                            "updated_at": "2020-01-01T00:00:00+00:00"}))
    assert third["photo_jpeg_base64"] is None and third["languages"] == []
    assert third["updated_at"] == "2026-11-20T11:00:00+00:00"
    plain = ok(centre.staff.get(path))
    assert plain["description"] == "third" and "history" not in plain
    with_history = ok(centre.staff.get(path + "?history=true"))
    assert with_history["description"] == "third"
    history = with_history["history"]
    assert [v["description"] for v in history] == ["second", "first"], history
    assert [v["updated_by"] for v in history] == [centre.manager.cn, centre.staff.cn]
    assert history[0]["updated_at"] == "2026-11-20T10:00:00+00:00"
    assert history[0]["version"] > history[1]["version"]
    assert history[1]["photo_jpeg_base64"] == b64(jpeg())
    rc.set_clock(at("2026-11-20", "10:00"))


def test_photo_of_512_kib_is_taken_and_a_larger_one_is_413(centre):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    got = ok(centre.staff.put(path, json=full_profile(photo_jpeg_base64=b64(jpeg(MAX_PHOTO)))))
    assert len(base64.b64decode(got["photo_jpeg_base64"])) == MAX_PHOTO
    err = error_of(centre.staff.put(path, json=full_profile(
        photo_jpeg_base64=b64(jpeg(MAX_PHOTO + 1)))), 413)
    assert err["field"] == "photo_jpeg_base64", err
    # The refused one changed nothing.
    assert len(base64.b64decode(ok(centre.staff.get(path))["photo_jpeg_base64"])) == MAX_PHOTO


@pytest.mark.parametrize("photo", [
    "not base64 at all!",
    "QUJD",                             # base64 of "ABC": not a JPEG
    b64(b"\xff\xd8" + b"\x00" * 20),    # no EOI
    b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20 + b"\xff\xd9"),
    "QUJ",                              # unpadded
    "",
])
def test_photo_that_is_not_a_base64_jpeg_is_400(centre, photo):
    resident = centre.resident()
    err = error_of(centre.staff.put(f"/v1/residents/{resident}/profile",
                                    json=full_profile(photo_jpeg_base64=photo)), 400)
    assert err["field"] == "photo_jpeg_base64", err


def test_photo_taken_on_is_a_date_not_in_the_future(centre):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    ok(centre.staff.put(path, json=full_profile(photo_taken_on="2026-11-20")))  # today
    for bad in ("2026-11-21", "2026-13-01", "yesterday"):
        err = error_of(centre.staff.put(path, json=full_profile(photo_taken_on=bad)), 400)
        assert err["field"] == "photo_taken_on", (bad, err)
    err = error_of(centre.staff.put(path, json=full_profile(photo_taken_on=None)), 400)
    assert err["field"] == "photo_taken_on", err
    err = error_of(centre.staff.put(path, json={"photo_taken_on": "2026-11-01"}), 400)
    assert err["field"] == "photo_taken_on", err


@pytest.mark.parametrize("change,field", [
    ({"contacts": [{"name": "A", "relation": "aunt", "phone": "+45 12 34 56 78"},
                   {"name": "B", "relation": "uncle", "phone": "call me"}]}, "contacts[1].phone"),
    ({"contacts": [{"name": "A", "relation": "aunt", "phone": "12"}]}, "contacts[0].phone"),
    ({"contacts": [{"name": "A", "phone": "+45 12 34 56 78"}]}, "contacts[0].relation"),
    ({"contacts": [{"name": " ", "relation": "aunt", "phone": "+4512345678"}]}, "contacts[0].name"),
    ({"contacts": [{"name": "A", "relation": "aunt", "phone": "+4512345678", "x": 1}]},
     "contacts[0].x"),
    ({"languages": ["Arabic", ""]}, "languages[1]"),
    ({"languages": "Arabic"}, "languages"),
    ({"places": [7]}, "places[0]"),
    ({"description": "   "}, "description"),
    ({"medical": 5}, "medical"),
    ({"risks": "x" * 4001}, "risks"),
    ({"colour": "blue"}, "colour"),
])
def test_field_level_validation_names_the_field(centre, change, field):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    err = error_of(centre.staff.put(path, json=full_profile(**change)), 400)
    assert err["field"] == field, err
    assert ok(centre.staff.get(path))["updated_at"] is None, "nothing was stored"


def test_only_staff_plus_of_the_residents_centre(centre, rc):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    other = Centre(rc, "profile-other")
    for api in (other.staff, other.manager):
        err = error_of(api.get(path), 403)
        assert other.id not in err["message"] and centre.id not in err["message"]
        error_of(api.put(path, json=full_profile()), 403)
    rc.create_account("police-profile", "authority", [centre.id], authority="police")
    error_of(rc.api("police-profile").get(path), 403)
    ok(centre.oncall.put(path, json=full_profile()))
    ok(rc.admin.get(path))
    error_of(centre.staff.get("/v1/residents/99999999/profile"), 404)


def test_every_read_and_change_is_audited_without_the_content(centre, rc):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    ok(centre.staff.put(path, json=full_profile(medical=None)))
    ok(centre.staff.get(path))
    ok(centre.staff.get(path + "?history=true"))
    error_of(centre.staff.put(path, json=full_profile(photo_taken_on="2030-01-01")), 400)
    rows = ok(rc.admin.get(f"/v1/audit?resident={resident}&limit=1000"))["items"]
    mine = [r for r in rows if r["action"].startswith("resident_profile")]
    assert [(r["action"], r["outcome"]) for r in mine] == [
        ("resident_profile_put", "ok"), ("resident_profile_get", "ok"),
        ("resident_profile_get", "ok"), ("resident_profile_put", "refused:bad_field")], mine
    assert all(r["cn"] == centre.staff.cn for r in mine)
    assert mine[0]["detail"]["fields"] == ["description", "photo", "languages", "contacts",
                                           "places", "risks"], mine[0]
    text = str(mine)
    assert "scar" not in text and "Selam" not in text and "inhaler" not in text


def test_export_holds_the_profile_and_its_history(centre, rc):
    resident = centre.resident()
    path = f"/v1/residents/{resident}/profile"
    ok(centre.staff.put(path, json=full_profile(description="before")))
    ok(centre.staff.put(path, json=full_profile(description="after")))
    export = ok(rc.admin.get(f"/v1/residents/{resident}/export"))
    profile = export["profile"]
    assert profile["current"]["description"] == "after"
    assert profile["current"]["photo_jpeg_base64"] == b64(jpeg())
    assert [v["description"] for v in profile["history"]] == ["before"]
    empty = ok(rc.admin.get(f"/v1/residents/{centre.resident()}/export"))["profile"]
    assert empty == {"current": None, "history": []}


def test_retention_erases_the_profile_and_its_history(rc):
    rc.set_clock(at("2026-11-20", "10:00"))
    centre = Centre(rc, "profile-retention")
    gone, kept = centre.resident(), centre.resident()
    for resident in (gone, kept):
        for text in ("first", "second"):
            ok(centre.staff.put(f"/v1/residents/{resident}/profile",
                                json=full_profile(description=text)))
    ok(centre.manager.patch(f"/v1/residents/{gone}", json={"departure_date": "2026-11-20"}))
    rc.set_clock(local("2036-11-20", "02:59"))
    assert rc.db.query("SELECT count(*) FROM resident_profiles WHERE resident = %s",
                       gone) == [(2,)]
    rc.set_clock(local("2036-11-20", "03:00"))
    assert rc.db.query("SELECT count(*) FROM resident_profiles WHERE resident = %s",
                       gone) == [(0,)]
    assert ok(rc.admin.get(f"/v1/residents/{gone}/profile"))["updated_at"] is None
    assert ok(rc.admin.get(f"/v1/residents/{gone}/export"))["profile"] == {
        "current": None, "history": []}
    assert rc.db.query("SELECT count(*) FROM resident_profiles WHERE resident = %s",
                       kept) == [(2,)]
    rc.set_clock(at("2026-11-20", "10:00"))


# --------------------------------------------------------------------------------------------
# The client: rollcall profile CASE [--photo FILE [--taken-on DATE]] [--fields FILE]


def test_client_shows_uploads_a_photo_and_edits_fields_keeping_the_rest(rc, tmp_path):
    rc.set_clock(at("2026-11-20", "10:00"))
    centre = Centre(rc, "profile-client")
    rc.create_account("profile-client-staff", "staff", [centre.id])
    case = "PC-1"
    resident = centre.resident(case_number=case)
    code, out, err = rc.client("profile-client-staff", "profile", case)
    assert code == 0, err
    assert "no missing-person profile" in out, out
    ok(centre.staff.put(f"/v1/residents/{resident}/profile", json=full_profile(
        photo_jpeg_base64=None, photo_taken_on=None)))

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(2000, b"\x21"))
    code, out, err = rc.client("profile-client-staff", "profile", case, "--photo", str(photo),
                               "--taken-on", "2026-11-02")
    assert code == 0, err
    got = ok(centre.staff.get(f"/v1/residents/{resident}/profile"))
    assert base64.b64decode(got["photo_jpeg_base64"]) == jpeg(2000, b"\x21")
    assert got["photo_taken_on"] == "2026-11-02"
    assert got["description"] == full_profile()["description"], "other fields kept"
    assert got["contacts"] == full_profile()["contacts"]

    fields = tmp_path / "fields.json"
    fields.write_text('{"risks": "may try to reach Malmö", "medical": null}')
    code, out, err = rc.client("profile-client-staff", "--json", "profile", case, "--fields",
                               str(fields))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["risks"] == "may try to reach Malmö" and shown["medical"] is None
    assert base64.b64decode(shown["photo_jpeg_base64"]) == jpeg(2000, b"\x21"), "photo kept"
    history = ok(centre.staff.get(f"/v1/residents/{resident}/profile?history=true"))["history"]
    assert len(history) == 2

    code, out, err = rc.client("profile-client-staff", "profile", case)
    assert code == 0, err
    assert "may try to reach Malmö" in out and "Selam Tesfaye (aunt)" in out, out
    assert "taken on 2026-11-02" in out, out

    # Refusals: the server's (exit 1, naming the field) and usage errors (exit 2).
    photo.write_bytes(b"GIF89a not a jpeg")
    code, out, err = rc.client("profile-client-staff", "profile", case, "--photo", str(photo),
                               "--taken-on", "2026-11-02")
    assert code == 1 and "photo_jpeg_base64" in err, (code, err)
    code, _out, err = rc.client("profile-client-staff", "profile", case, "--taken-on",
                                "2026-11-02")
    assert code == 2, err
    code, _out, err = rc.client("profile-client-staff", "profile", case, "--fields",
                                str(tmp_path / "missing.json"))
    assert code == 2, err
    code, out, _err = rc.client("profile-client-staff", "profile", "--help")
    assert code == 0 and "rollcall profile" in out and "Example" in out, out
