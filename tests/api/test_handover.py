"""The shift handover (SPEC section 4a, v2): GET /v1/centres/{id}/handover?at=INSTANT lists the
open absences (with notify_at / notified_at and delivery and receipt per authority), the
unacknowledged alerts (age and priority), who the last round before the handover left
unaccounted for, notifications undelivered or unconfirmed, residents turning 18 within 30 days
and residents without a current profile; at each check time the document goes out once on the
centre's alert streams (`event: handover`) and to its e-mail channels, whichever instance
decides it and across restarts."""

import json

import pytest
from alerts_helpers import Centre, SseStream, at, wait_until
from harness import error_of, ok
from harness.smtp import SmtpRelay

DAY = "2026-11-20"


@pytest.fixture
def relay(receiver_pki):
    r = SmtpRelay(tls_dir=receiver_pki)
    try:
        yield r
    finally:
        r.close()


def handovers(relay):
    return [m for m in relay.messages() if m.event_type == "handover"]


def mail_config(relay, receiver_pki):
    return {"smtp_relay": relay.host_port, "smtp_from": "rollcall@centre.example",
            "smtp_ca": str(receiver_pki / "ca.crt"), "instance_name": "handover-a"}


def with_mail_channel(rc, centre):
    ok(rc.admin.patch(f"/v1/centres/{centre.id}", json={"oncall_channels": [
        {"kind": "email", "to": "duty@centre.example", "min_priority": "urgent"}]}))


# -- the document -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scene(rc):
    """At Tønder on 2026-11-20: Amal reported away with a concern at 10:00, Bashir turning 18 on
    2026-12-01, Chiara never accounted for in the 07:00 round."""
    rc.set_clock(at(DAY, "06:00"))
    centre = Centre(rc)
    amal = centre.resident(given_name="Amal", family_name="Haddad", case_number="HO-A")
    bashir = centre.resident(given_name="Bashir", family_name="Noori", case_number="HO-B",
                             date_of_birth="2008-12-01")
    chiara = centre.resident(given_name="Chiara", family_name="Okafor", case_number="HO-C")
    rc.set_clock(at(DAY, "07:10"))
    centre.round(DAY, 1, {amal: "present", bashir: "present"})
    rc.set_clock(at(DAY, "10:00"))
    absence = centre.report(amal, expect=(201,), concern="left with an unknown adult")
    rc.set_clock(at(DAY, "10:30"))
    return {"centre": centre, "amal": amal, "bashir": bashir, "chiara": chiara,
            "absence": absence}


def get_handover(centre, api=None, **query):
    path = f"/v1/centres/{centre.id}/handover"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return (api or centre.staff).get(path)


def test_the_handover_lists_every_item_with_what_staff_need_to_act(rc, scene):
    centre = scene["centre"]
    doc = ok(get_handover(centre))
    assert doc["centre"] == centre.id
    assert doc["at"].startswith("2026-11-20T09:30:00")  # now: 10:30 local
    assert set(doc) >= {"open_absences", "open_alerts", "unaccounted", "notifications",
                        "turning_18", "without_profile"}

    [away] = doc["open_absences"]
    assert away["resident"] == scene["amal"] and away["case_number"] == "HO-A"
    assert (away["given_name"], away["family_name"]) == ("Amal", "Haddad")
    assert away["absence"] == scene["absence"]["id"]
    assert away["reason"] == "concern" and away["concern"] == "left with an unknown adult"
    assert away["since"].startswith("2026-11-20T06:10:00")  # the 07:10 present
    assert away["notify_at"].startswith("2026-11-20T09:00:00")
    assert away["notified_at"].startswith("2026-11-20T09:00:00")
    authorities = {a["authority"]: a for a in away["authorities"]}
    assert set(authorities) == {"municipality", "police", "immigration"}
    for a in authorities.values():
        assert a["event_id"].startswith("evt_") and a["type"] == "absence.reported"
        assert "delivered_at" in a and "state" in a
        assert a["receipt"] is None  # no receipt recorded

    kinds = {a["kind"]: a for a in doc["open_alerts"]}
    absent = kinds["resident_absent"]
    assert absent["priority"] == "urgent"  # a concern
    assert absent["age_minutes"] == 30
    assert absent["case_number"] == "HO-A" and absent["given_name"] == "Amal"
    priorities = [a["priority"] for a in doc["open_alerts"]]
    rank = {"urgent": 0, "normal": 1, "info": 2}
    assert priorities == sorted(priorities, key=rank.get), "most urgent first"

    assert [(u["resident"], u["date"], u["slot"]) for u in doc["unaccounted"]] == [
        (scene["chiara"], DAY, 1)]
    assert doc["unaccounted"][0]["case_number"] == "HO-C"

    reported = [n for n in doc["notifications"] if n["absence"] == scene["absence"]["id"]]
    assert {n["authority"] for n in reported} == {"municipality", "police", "immigration"}
    for n in reported:
        assert n["state"] in ("undelivered", "unconfirmed")
        assert n["case_number"] == "HO-A" and n["receipt"] is None

    [young] = doc["turning_18"]
    assert young["resident"] == scene["bashir"] and young["turns_18_on"] == "2026-12-01"
    assert young["days_left"] == 11

    # Nobody in the scene has a profile yet.
    assert {p["resident"] for p in doc["without_profile"]} == {
        scene["amal"], scene["bashir"], scene["chiara"]}
    assert all(p["missing"] == "none" for p in doc["without_profile"])


def test_at_chooses_the_round_and_the_alerts_age(rc, scene):
    centre = scene["centre"]
    # At 07:00 the last round before the handover is the previous day's 23:00 (nobody was
    # expected in it yet: arrivals are 2026-01-05, so everyone).
    doc = ok(get_handover(centre, at="2026-11-20T12:00:00%2B01:00"))
    assert doc["at"].startswith("2026-11-20T11:00:00")
    assert [u["resident"] for u in doc["unaccounted"]] == [scene["chiara"]]
    absent = [a for a in doc["open_alerts"] if a["kind"] == "resident_absent"][0]
    assert absent["age_minutes"] == 120
    early = ok(get_handover(centre, at="2026-11-20T07:00:00%2B01:00"))
    assert {u["date"] for u in early["unaccounted"]} == {"2026-11-19"}
    assert all(u["slot"] == 3 for u in early["unaccounted"])


@pytest.mark.parametrize("bad", ["yesterday", "2026-11-20", "2026-11-20T25:00:00Z",
                                 "2026-11-20T10:00:00"])
def test_at_must_be_an_rfc3339_instant(rc, scene, bad):
    err = error_of(get_handover(scene["centre"], at=bad), 400)
    assert err["field"] == "at"


def test_staff_of_another_centre_are_refused(rc, scene):
    other = Centre(rc, prefix="elsewhere")
    error_of(get_handover(scene["centre"], api=other.staff), 403)


def test_reading_the_handover_is_audited_per_resident(rc, scene):
    centre = scene["centre"]
    ok(get_handover(centre))
    rows = rc.db.query("SELECT DISTINCT resident FROM audit WHERE action = 'handover.get' "
                       "AND cn = %s", centre.staff_cn)
    assert {r[0] for r in rows} >= {scene["amal"], scene["bashir"], scene["chiara"]}


# -- rollcall handover ---------------------------------------------------------------------------

def test_rollcall_handover_prints_one_screen(rc, scene):
    centre = scene["centre"]
    code, out, err = rc.client(centre.staff_cn, "handover", "--centre", centre.id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Shift handover: Tønder, 2026-11-20 10:30")
    assert "AWAY (1)" in lines
    away = lines[lines.index("AWAY (1)") + 1]
    assert "HO-A Amal Haddad" in away and "since 2026-11-20 07:10" in away
    assert "concern" in away and "notified 2026-11-20 10:00" in away and "police" in away
    assert any(line.startswith("  URGENT resident_absent") and "HO-A" in line
               and "30 min" in line for line in lines)
    i = next(i for i, line in enumerate(lines) if line.startswith("NOT ACCOUNTED FOR"))
    assert "2026-11-20 07:00" in lines[i] and "HO-C Chiara Okafor" in lines[i + 1]
    assert any("HO-B Bashir Noori" in line and "2026-12-01 (11 days)" in line for line in lines)
    assert len(lines) <= 40, "one screen"


def test_rollcall_handover_at_and_json(rc, scene):
    centre = scene["centre"]
    code, out, err = rc.client(centre.staff_cn, "--json", "handover", "--centre", centre.id,
                               "--at", "2026-11-20T12:00:00+01:00")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["at"].startswith("2026-11-20T11:00:00")
    assert [a["resident"] for a in doc["open_absences"]] == [scene["amal"]]
    code, _out, err = rc.client(centre.staff_cn, "handover", "--at", "tomorrow")
    assert code == 2 and "--at" in err
    code, out, _err = rc.client(centre.staff_cn, "handover", "--help")
    assert code == 0 and "Example:" in out and "rollcall handover" in out


# -- the push at check times -------------------------------------------------------------------

def test_at_15_00_one_handover_on_the_stream_and_one_mail(daemon_factory, relay, receiver_pki):
    rc = daemon_factory(config=mail_config(relay, receiver_pki))
    rc.set_clock(at(DAY, "13:00"))
    centre = Centre(rc)
    resident = centre.resident(case_number="HO-MAIL-1")
    with_mail_channel(rc, centre)  # min_priority urgent: the handover goes whatever it is
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        rc.set_clock(at(DAY, "14:59"))
        assert watcher.drain(quiet=0.3, names=("handover",)) == []
        rc.set_clock(at(DAY, "15:00"))
        ev = watcher.next(timeout=10, names=("handover",))
        doc = json.loads(ev.data)
        assert isinstance(ev.id, int)  # in the centre's sequence: a reconnect replays it
        assert doc["centre"] == centre.id and doc["at"].startswith("2026-11-20T14:00:00")
        # The 07:00 round was before this centre existed; 15:00's is the one that starts now,
        # so the last round before the handover is none of today's: nobody is unaccounted.
        assert {"open_absences", "open_alerts", "unaccounted", "notifications", "turning_18",
                "without_profile"} <= set(doc)
        assert resident in {p["resident"] for p in doc["without_profile"]}
        mails = relay.wait_for(lambda msgs: len(handovers(relay)) >= 1, what="the handover mail")
        rc.set_clock(at(DAY, "15:30"))
        assert watcher.drain(quiet=0.5, names=("handover",)) == []
    [mail] = handovers(relay)
    assert mails and mail.rcpt_tos == ["duty@centre.example"]
    assert mail.subject.startswith("[HANDOVER] Tønder 2026-11-20 15:00")
    assert "Shift handover at Tønder" in mail.text
    assert "Without a current missing-person profile: 1" in mail.text
    assert "Amal" not in mail.text  # names stay out of e-mail
    # The delivery is visible like an alert's.
    items = ok(centre.oncall.get(f"/v1/centres/{centre.id}/channel-deliveries"))["items"]
    assert [d["type"] for d in items if d["type"] == "handover"] == ["handover"]


def test_no_handover_twice_across_restarts_and_a_missed_one_goes_at_start(
        daemon_factory, relay, receiver_pki):
    rc = daemon_factory(config=mail_config(relay, receiver_pki))
    rc.set_clock(at(DAY, "13:00"))
    centre = Centre(rc)
    with_mail_channel(rc, centre)
    rc.set_clock(at(DAY, "15:00"))
    relay.wait_for(lambda msgs: len(handovers(relay)) == 1, what="the 15:00 handover")
    rc.stop()
    rc.start()
    rc.set_clock(at(DAY, "15:10"))
    # Down across 23:00 (the stored test clock moved on meanwhile): the handover that fell due
    # while the daemon was down goes out at start, once, without anyone moving the clock.
    rc.stop()
    rc.db.execute("UPDATE clock_state SET now = %s", at(DAY, "23:05"))
    rc.start()
    relay.wait_for(lambda msgs: len(handovers(relay)) == 2, what="the 23:00 handover")
    rc.stop()
    rc.start()
    rc.set_clock(at(DAY, "23:30"))
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        assert watcher.drain(quiet=1.0, names=("handover",)) == []
    subjects = [m.subject for m in handovers(relay)]
    assert len(subjects) == 2, subjects
    assert "15:00" in subjects[0] and "23:00" in subjects[1]
    assert rc.db.count("handovers", "centre = %s AND sent_at IS NOT NULL", centre.id) == 2


def test_a_clock_jump_over_two_check_times_hands_over_the_latest_only(rc):
    rc.set_clock("2026-11-22T12:00:00+01:00")
    centre = Centre(rc, prefix="jump")
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        rc.set_clock("2026-11-23T08:00:00+01:00")  # past 15:00, 23:00 and 07:00
        events = watcher.collect(lambda evs: len(evs) >= 1, names=("handover",))
        assert watcher.drain(quiet=0.5, names=("handover",)) == []
    assert [json.loads(e.data)["at"][:19] for e in events] == ["2026-11-23T06:00:00"]


def test_two_instances_on_one_database_send_one_mail(daemon_factory, relay, receiver_pki):
    a = daemon_factory(config=mail_config(relay, receiver_pki))
    b = daemon_factory(config=dict(mail_config(relay, receiver_pki), instance_name="handover-b"),
                       database=a.dbname)
    a.set_clock(at(DAY, "13:00"))
    centre = Centre(a)
    with_mail_channel(a, centre)
    watchers = [SseStream(a, centre.oncall_cn, centre.id),
                SseStream(b, centre.oncall_cn, centre.id)]
    try:
        for w in watchers:
            wait_until(lambda w=w: w.head is not None)
        # Both instances' engines run: A through its PUT, B through NOTIFY rc_clock.
        a.set_clock(at(DAY, "15:00"))
        for w in watchers:
            w.next(timeout=10, names=("handover",))
        relay.wait_for(lambda msgs: len(handovers(relay)) >= 1)
        b.set_clock(at(DAY, "15:20"))
        for w in watchers:
            assert w.drain(quiet=0.5, names=("handover",)) == []
    finally:
        for w in watchers:
            w.close()
    assert len(handovers(relay)) == 1


def test_anonymisation_scrubs_the_resident_from_stored_handovers(daemon_factory, relay,
                                                                 receiver_pki):
    rc = daemon_factory(config=mail_config(relay, receiver_pki))
    rc.set_clock(at(DAY, "13:00"))
    centre = Centre(rc)
    gone = centre.resident(given_name="Dana", family_name="Erased", case_number="HO-GONE")
    kept = centre.resident(given_name="Farid", family_name="Kept", case_number="HO-KEPT")
    with_mail_channel(rc, centre)
    rc.set_clock(at(DAY, "15:00"))
    relay.wait_for(lambda msgs: len(handovers(relay)) == 1)
    # What resident_anonymise runs for the stored handovers (the whole run: test_retention).
    rc.db.execute("SELECT handover_anonymise(%s)", gone)
    [body] = [r[0] for r in rc.db.query(
        "SELECT body FROM alert_events WHERE centre = %s AND kind = 'handover'", centre.id)]
    text = json.dumps(body)
    assert "Erased" not in text and "HO-GONE" not in text and "Dana" not in text
    assert "Farid" in text and "HO-KEPT" in text  # the others' items stay
    assert gone in {p["resident"] for p in body["without_profile"]}  # counted, by id
    payloads = [r[0] for r in rc.db.query(
        "SELECT payload FROM channel_deliveries WHERE centre = %s AND type = 'handover'",
        centre.id)]
    assert payloads == [{}]
    assert kept


# -- with the profiles and receipts of the missing-child protocol -------------------------------

def test_without_profile_reads_the_profiles_and_notifications_carry_receipts(world):
    """A resident with a current profile is not listed; one without a photo, one whose photo
    is over 90 days old and one without a profile are, each saying why. A receipt recorded by
    phone shows on the authority's line and takes it off the unconfirmed notifications."""
    from test_profile import b64, full_profile, jpeg
    from test_receipts import delivered, receipt_path

    world.set_clock("2026-11-20T12:00:00+00:00")
    current, no_photo, old_photo, nothing = (world.resident() for _ in range(4))
    ok(world.staff.put(f"/v1/residents/{current['id']}/profile", json=full_profile(
        photo_taken_on="2026-11-01")))
    ok(world.staff.put(f"/v1/residents/{no_photo['id']}/profile", json=full_profile(
        photo_jpeg_base64=None, photo_taken_on=None)))
    ok(world.staff.put(f"/v1/residents/{old_photo['id']}/profile", json=full_profile(
        photo_jpeg_base64=b64(jpeg()), photo_taken_on="2026-08-01")))  # 111 days before

    by_authority = delivered(world, nothing)
    ok(world.staff.post(receipt_path(by_authority["police"]["event_id"]),
                        json={"received_by": "Vagtchef Hansen", "reference": "SJY-2026-118"}))

    doc = ok(world.staff.get(f"/v1/centres/{world.id}/handover"))
    gaps = {p["resident"]: p["missing"] for p in doc["without_profile"]}
    assert current["id"] not in gaps
    assert gaps[no_photo["id"]] == "no_photo"
    assert gaps[old_photo["id"]] == "photo_old"
    assert gaps[nothing["id"]] == "none"

    [away] = [a for a in doc["open_absences"] if a["resident"] == nothing["id"]]
    receipts = {a["authority"]: a["receipt"] for a in away["authorities"]}
    assert receipts["police"]["received_by"] == "Vagtchef Hansen"
    assert receipts["police"]["reference"] == "SJY-2026-118"
    assert receipts["police"]["recorded_by"] == world.staff_cn
    assert receipts["municipality"] is None and receipts["immigration"] is None
    waiting = {n["authority"] for n in doc["notifications"] if n["resident"] == nothing["id"]}
    assert waiting == {"municipality", "immigration"}, doc["notifications"]
