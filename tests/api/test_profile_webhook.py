"""The profile in absence.reported (SPEC sections 3a and 10, v2), at the HTTPS receiver: each
authority gets only the profile fields its rule allows (defaults: the police all but medical,
the municipality all, the Immigration Service none), a centre's authorities[].profile_fields
overrides that per authority (unknown names refused), the body as first sent is stored for the
delivery so that a retry carries the same fields, and every absence.reported carries its
receipt_url.
"""

import base64

from harness import error_of, ok
from harness.webhooks import AUTHORITIES, by_authority, verify

PHOTO = b"\xff\xd8" + b"\x42" * 100 + b"\xff\xd9"
PROFILE = {
    "description": "1.62 m, curly hair, green jacket",
    "photo_jpeg_base64": base64.b64encode(PHOTO).decode(),
    "photo_taken_on": "2026-10-01",
    "languages": ["Dari", "Pashto"],
    "contacts": [{"name": "Ahmad Karimi", "relation": "brother", "phone": "+49 151 2345678"}],
    "places": ["Hamburg Hauptbahnhof"],
    "medical": "diabetes: insulin every morning",
    "risks": "talked about going to Hamburg",
}


def with_profile(world, **changes):
    res = world.resident()
    ok(world.staff.put(f"/v1/residents/{res['id']}/profile", json=dict(PROFILE, **changes)))
    return res


def reported_bodies(world, count=3):
    reqs = world.receiver.wait_delivered(count)
    return {q.authority: q for q in reqs if q.json["type"] == "absence.reported"}


def test_each_authority_gets_the_fields_its_default_rule_allows(world):
    res = with_profile(world)
    world.report(res["id"], known_departure=True)
    got = reported_bodies(world)
    police = got["police"].json["profile"]
    assert police["photo_jpeg_base64"] == PROFILE["photo_jpeg_base64"]
    assert police["photo_taken_on"] == "2026-10-01"
    for field in ("description", "languages", "contacts", "places", "risks"):
        assert police[field] == PROFILE[field], field
    assert "medical" not in police, police
    municipality = got["municipality"].json["profile"]
    assert municipality["medical"] == PROFILE["medical"]
    assert municipality["photo_jpeg_base64"] == PROFILE["photo_jpeg_base64"]
    assert "profile" not in got["immigration"].json, got["immigration"].json
    assert "insulin" not in got["immigration"].body.decode()
    # The per-authority body is what is signed.
    for q in got.values():
        assert verify(world.secrets[q.authority], q.headers, q.body)


def test_no_profile_means_no_profile_member(world):
    res = world.resident()
    world.report(res["id"], known_departure=True)
    for q in reported_bodies(world).values():
        assert "profile" not in q.json, q.json
        assert q.json["receipt_url"].endswith(f"/v1/notifications/{q.event_id}/receipt")


def test_receipt_url_is_public_url_with_the_event_id(world):
    res = world.resident()
    world.report(res["id"], known_departure=True)
    port = world.rc.port
    for q in reported_bodies(world).values():
        assert q.json["receipt_url"] == (
            f"https://127.0.0.1:{port}/v1/notifications/{q.event_id}/receipt"), q.json


def test_a_centres_override_takes_effect(world):
    rc = world.rc
    auths = [{"kind": k, "url": world.receiver.url(k)} for k in AUTHORITIES]
    for a in auths:
        if a["kind"] == "police":
            a["profile_fields"] = ["description", "medical"]
        if a["kind"] == "immigration":
            a["profile_fields"] = ["photo"]
    centre = ok(rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": auths}))
    shown = {a["kind"]: a["profile_fields"] for a in centre["authorities"]}
    assert sorted(shown["police"]) == ["description", "medical"]
    assert shown["immigration"] == ["photo"]
    assert sorted(shown["municipality"]) == sorted(
        ["description", "photo", "languages", "contacts", "places", "medical", "risks"])
    res = with_profile(world)
    world.report(res["id"], known_departure=True)
    got = reported_bodies(world)
    police = got["police"].json["profile"]
    assert police["description"] == PROFILE["description"]
    assert police["medical"] == PROFILE["medical"]
    assert "photo_jpeg_base64" not in police and "contacts" not in police, police
    immigration = got["immigration"].json["profile"]
    assert immigration["photo_jpeg_base64"] == PROFILE["photo_jpeg_base64"]
    assert "description" not in immigration
    # A patch without profile_fields keeps the choice; null restores the kind's default.
    for a in auths:
        a.pop("profile_fields", None)
    kept = ok(rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": auths}))
    assert {a["kind"]: a["profile_fields"] for a in kept["authorities"]}["immigration"] == ["photo"]
    auths[2]["profile_fields"] = None
    reset = ok(rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": auths}))
    assert {a["kind"]: a["profile_fields"] for a in reset["authorities"]}["immigration"] == []


def test_unknown_profile_field_is_refused_naming_it(world):
    rc = world.rc
    auths = [{"kind": k, "url": world.receiver.url(k)} for k in AUTHORITIES]
    auths[1]["profile_fields"] = ["description", "religion"]
    err = error_of(rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": auths}),
                   400)
    assert err["field"] == "authorities[1].profile_fields", err
    new = [{"kind": "police", "url": world.receiver.url("police"),
            "secret": world.secrets["police"], "profile_fields": ["photo_jpeg_base64"]}]
    err = error_of(rc.admin.post("/v1/centres", json={"id": "profile-bad", "name": "X",
                                                     "authorities": new}), 400)
    assert err["field"] == "authorities[0].profile_fields", err
    auths[1]["profile_fields"] = "photo"
    err = error_of(rc.admin.patch(f"/v1/centres/{world.centre}", json={"authorities": auths}),
                   400)
    assert err["field"] == "authorities[1].profile_fields", err


def test_a_retry_carries_the_same_fields_after_the_profile_changed(world):
    world.receiver.script("police", ["500"])
    res = with_profile(world)
    world.report(res["id"], known_departure=True)
    world.wait_notifications(
        lambda items: len(items) == 3 and by_authority(items)["police"]["attempts"] == 1)
    # Changed between the first attempt and the retry: the retry still sends the first body.
    ok(world.staff.put(f"/v1/residents/{res['id']}/profile",
                       json=dict(PROFILE, description="changed after the first attempt")))
    world.advance(minutes=11)
    world.receiver.wait_delivered(1, "police")
    sent = world.receiver.requests("police")
    assert [q.mode for q in sent] == ["500", "ok"]
    assert sent[0].body == sent[1].body
    assert sent[1].json["profile"]["description"] == PROFILE["description"]
    # A later notification (a concern raised now) carries the profile as it is now.
    absence = world.open_absence(res["id"])
    ok(world.staff.post(f"/v1/absences/{absence['id']}/concern", json={"text": "seen at a bus"}))
    def concern(reqs):
        return [q for q in reqs if q.authority == "police" and q.delivered
                and q.json.get("reason") == "concern"]
    [later] = concern(world.receiver.wait_for(concern, what="the concern's absence.reported"))
    assert later.json["profile"]["description"] == "changed after the first attempt"


def test_a_512_kib_photo_reaches_the_authorities_that_may_see_it(world):
    big = b"\xff\xd8" + bytes(range(256)) * 2047 + b"\x00" * 252 + b"\xff\xd9"
    assert len(big) == 512 * 1024
    res = with_profile(world, photo_jpeg_base64=base64.b64encode(big).decode())
    world.report(res["id"], known_departure=True)
    got = reported_bodies(world)
    for kind in ("police", "municipality"):
        assert base64.b64decode(got[kind].json["profile"]["photo_jpeg_base64"]) == big, kind
        assert verify(world.secrets[kind], got[kind].headers, got[kind].body)
    assert len(got["immigration"].body) < 10000
