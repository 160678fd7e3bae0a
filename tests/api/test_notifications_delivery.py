"""Delivery of notifications to the authorities (SPEC sections 5 and 10, Webhooks): signed
HTTPS POSTs to a real receiver with its own CA, the JSON document, retries with the same event
id (after a 500, a timeout, a kill -9 mid-delivery), exactly one accepted delivery per event and
authority with a flaky receiver, isolation of a dead endpoint, several instances on one
database, and verification of the endpoint's certificate."""

import time

import pytest
from harness import free_port, instant, ok
from harness.webhooks import (
    AUTHORITIES,
    by_authority,
    WebhookReceiver,
    World,
    new_secret,
    notify_config,
    verify,
)


def settle(world, timeout=20.0):
    """Waits until every request the receiver saw has been recorded by the daemon: the sum of
    the attempts equals the number of requests (no attempt in flight)."""
    return world.wait_notifications(
        lambda items: sum(i["attempts"] for i in items) == len(world.receiver.requests()),
        timeout,
        "every attempt to be recorded",
    )


# --------------------------------------------------------------------------------------------
# The document and its signature


def test_signature_verifies_with_the_authoritys_secret_and_fails_with_another(world):
    res = world.resident()
    world.report(res["id"], known_departure=True)
    reqs = world.receiver.wait_delivered(3)
    assert sorted(q.authority for q in reqs) == sorted(AUTHORITIES)
    assert len({q.event_id for q in reqs}) == 3, "one event id per authority"
    for q in reqs:
        assert verify(world.secrets[q.authority], q.headers, q.body), q
        for other in AUTHORITIES:
            if other != q.authority:
                assert not verify(world.secrets[other], q.headers, q.body)
        assert not verify(new_secret(), q.headers, q.body)
        tampered = q.body.replace(b'"known_departure"', b'"threshold_24h"')
        assert tampered != q.body and not verify(world.secrets[q.authority], q.headers, tampered)
        assert q.headers["content-type"] == "application/json"
        assert q.headers["webhook-signature"].startswith("v1,")
        assert q.json["event_id"] == q.headers["webhook-id"]
        # webhook-timestamp is this attempt's wall-clock second, not the test clock.
        assert abs(int(q.headers["webhook-timestamp"]) - time.time()) < 60


def test_absence_reported_document_has_every_field(world):
    # SPEC section 9: born 2012-03-10, present at the 15:00 check on 2026-11-20 (age 14 then).
    res = world.resident(given_name="Amina", family_name="Test", date_of_birth="2012-03-10")
    # Sent later (the world's clock): observed_at says when (SPEC section 2, v2).
    ok(world.staff.post(f"/v1/centres/{world.centre}/rounds/2026-11-20/2",
                        json={"observations": [{"resident": res["id"], "status": "present",
                                                "observed_at": "2026-11-20T15:00:00+01:00"}]}))
    absence = world.report(res["id"], known_departure=True)
    assert instant(absence["since"]) == instant("2026-11-20T15:00:00+01:00")
    reqs = world.receiver.wait_delivered(3)
    for q in reqs:
        body = q.json
        assert body["type"] == "absence.reported"
        assert body["event_id"] == q.event_id
        assert body["centre"]["id"] == world.centre
        assert body["centre"]["name"] == "Børnecenter Tønder"
        assert "operator" in body["centre"]
        resident = body["resident"]
        assert resident["case_number"] == res["case_number"]
        assert resident["given_name"] == "Amina"
        assert resident["family_name"] == "Test"
        assert resident["date_of_birth"] == "2012-03-10"
        assert resident["age"] == 14
        assert instant(body["since"]) == instant(absence["since"])
        assert body["reason"] == "known_departure"
        assert "concern" in body and body["concern"] is None
        assert "returned_at" in body and body["returned_at"] is None


def test_concern_is_sent_at_once_with_its_text(world):
    res = world.resident()
    world.report(res["id"], concern="Seen leaving with an unknown adult")
    reqs = world.receiver.wait_delivered(3)
    for q in reqs:
        assert q.json["reason"] == "concern"
        assert q.json["concern"] == "Seen leaving with an unknown adult"


def test_absence_returned_carries_the_return_instant(world):
    res = world.resident()
    absence = world.report(res["id"], known_departure=True)
    reported = world.receiver.wait_delivered(3)
    world.advance(hours=2)
    world.returned(absence["id"])
    reqs = world.receiver.wait_delivered(6)
    returned = [q for q in reqs if q.json["type"] == "absence.returned"]
    assert sorted(q.authority for q in returned) == sorted(AUTHORITIES)
    assert not {q.event_id for q in returned} & {q.event_id for q in reported}
    for q in returned:
        assert verify(world.secrets[q.authority], q.headers, q.body)
        assert instant(q.json["returned_at"]) == world.now
        assert q.json["resident"]["case_number"] == res["case_number"]
        assert instant(q.json["since"]) == instant(absence["since"])


# --------------------------------------------------------------------------------------------
# Retries keep the event id


def test_same_event_id_on_retry_after_500(world):
    world.receiver.script("police", ["500"])
    res = world.resident()
    world.report(res["id"], known_departure=True)
    items = world.wait_notifications(
        lambda items: len(items) == 3 and by_authority(items)["police"]["attempts"] == 1
    )
    police = by_authority(items)["police"]
    assert police["delivered_at"] is None
    assert police["last_error"].startswith("HTTP 500")
    # The retry is scheduled on the test clock (a few seconds of backoff): move past it.
    world.advance(minutes=11)
    world.receiver.wait_delivered(1, "police")
    sent = world.receiver.requests("police")
    assert [q.mode for q in sent] == ["500", "ok"]
    assert sent[0].event_id == sent[1].event_id == police["event_id"]
    assert sent[0].body == sent[1].body, "every retry sends the same document"
    police = by_authority(world.wait_notifications(
        lambda items: all(i["delivered_at"] for i in items)))["police"]
    assert police["attempts"] == 2


def test_same_event_id_on_retry_after_a_timeout(world):
    world.receiver.script("police", ["hang"])
    res = world.resident()
    world.report(res["id"], known_departure=True)
    items = world.wait_notifications(
        lambda items: len(items) == 3 and by_authority(items)["police"]["attempts"] == 1,
        timeout=15,
    )
    police = by_authority(items)["police"]
    assert "no answer within 2 s" in police["last_error"]
    world.receiver.release_hanging()
    world.advance(minutes=11)
    world.receiver.wait_delivered(1, "police")
    sent = world.receiver.requests("police")
    assert [q.mode for q in sent] == ["hang", "ok"]
    assert sent[0].event_id == sent[1].event_id == police["event_id"]


def test_same_event_id_after_kill_9_mid_delivery(daemon_factory, receiver):
    # A long attempt deadline, so the daemon is killed while the police request hangs.
    rc = daemon_factory(config=notify_config(receiver.ca, webhook_timeout="60"))
    world = World(rc, receiver)
    receiver.script("police", ["hang"])
    res = world.resident()
    world.report(res["id"], known_departure=True)
    receiver.wait_for(lambda reqs: any(q.authority == "police" for q in reqs),
                      what="the police request")
    first = receiver.requests("police")[0]
    rc.proc.kill()
    rc.proc.wait()
    rc.log.close()
    receiver.release_hanging()
    since = len(rc.log_text())
    rc.start()
    # Same instance name: the lease of the dead run is taken back at once, not after it expires.
    rc.wait_for_log(r"took back \d+ deliveries", since=since)
    receiver.wait_delivered(1, "police", timeout=15)
    sent = receiver.requests("police")
    assert [q.mode for q in sent] == ["hang", "ok"]
    assert sent[1].event_id == first.event_id
    assert sent[1].body == first.body
    # Whatever else was cut short is sent again with its own id: one event id per authority.
    for authority in AUTHORITIES:
        assert len({q.event_id for q in receiver.requests(authority)}) == 1, authority
    items = world.wait_notifications(lambda items: all(i["delivered_at"] for i in items))
    assert by_authority(items)["police"]["event_id"] == first.event_id


# --------------------------------------------------------------------------------------------
# Exactly one accepted delivery per event and authority


def test_exactly_one_delivery_per_authority_when_the_receiver_is_flaky(world):
    rcv = world.receiver
    rcv.script("municipality", ["500", "close", "503", "500", "400"])
    rcv.script("police", ["close", "hang", "500", "404"])
    rcv.script("immigration", ["503", "500", "close", "close", "hang", "500"])
    residents = [world.resident() for _ in range(4)]
    for res in residents:
        world.report(res["id"], known_departure=True)
    settle(world)
    for _ in range(15):
        items = world.notifications()
        if len(items) == 12 and all(i["delivered_at"] for i in items):
            break
        world.advance(minutes=11)  # every retry due (backoff is capped at 10 minutes)
        settle(world)
    else:
        pytest.fail(f"not all delivered: {world.notifications()}")
    # Nothing more goes out once delivered, however the clock moves.
    world.advance(minutes=30)
    time.sleep(0.5)
    items = settle(world)
    accepted = rcv.delivered()
    ids = [q.event_id for q in accepted]
    assert len(ids) == 12 and len(set(ids)) == 12, "one accepted request per event id"
    for authority in AUTHORITIES:
        assert len(rcv.delivered(authority)) == 4
    by_id = {i["event_id"]: i for i in items}
    assert set(by_id) == set(ids)
    for event_id, item in by_id.items():
        sent = [q for q in rcv.requests() if q.event_id == event_id]
        assert {q.authority for q in sent} == {item["authority"]}
        assert item["attempts"] == len(sent)
        assert sum(q.delivered for q in sent) == 1 and sent[-1].delivered


def test_any_2xx_is_a_delivery_and_a_redirect_is_not(world):
    world.receiver.script("municipality", ["202"])
    world.receiver.script("police", ["204"])
    world.receiver.script("immigration", ["301"])
    res = world.resident()
    world.report(res["id"], known_departure=True)
    items = by_authority(world.wait_notifications(
        lambda items: len(items) == 3 and all(i["attempts"] >= 1 for i in items)))
    assert items["municipality"]["delivered_at"] and items["police"]["delivered_at"]
    assert items["immigration"]["delivered_at"] is None
    assert items["immigration"]["last_error"].startswith("HTTP 301")
    world.advance(minutes=11)
    world.receiver.wait_delivered(1, "immigration")


# --------------------------------------------------------------------------------------------
# A dead endpoint delays nobody else


@pytest.mark.parametrize("dead", ["hang", "refused"])
def test_dead_police_endpoint_does_not_delay_the_municipality(daemon_factory, receiver, dead):
    rc = daemon_factory(config=notify_config(receiver.ca, webhook_timeout="10"))
    urls = {}
    if dead == "hang":
        receiver.set_default("police", "hang")
    else:
        urls["police"] = f"https://localhost:{free_port()}/police"
    world = World(rc, receiver, urls=urls)
    residents = [world.resident() for _ in range(10)]
    started = time.monotonic()
    for res in residents:
        world.report(res["id"], known_departure=True)
    receiver.wait_delivered(10, "municipality", timeout=8)
    receiver.wait_delivered(10, "immigration", timeout=8)
    elapsed = time.monotonic() - started
    # The police attempts wait 10 s for an answer (or fail at once); the others do not wait.
    assert elapsed < 6, f"municipality and immigration took {elapsed:.1f} s"
    items = world.notifications()
    assert all(i["delivered_at"] for i in items if i["authority"] != "police")
    assert not any(i["delivered_at"] for i in items if i["authority"] == "police")
    if dead == "hang":
        # At most a few attempts per endpoint at once: the rest wait their turn.
        assert 1 <= len(receiver.requests("police")) <= 8
    else:
        settle_items = world.wait_notifications(
            lambda items: all(i["attempts"] >= 1 for i in items if i["authority"] == "police"))
        for i in settle_items:
            if i["authority"] == "police":
                assert "Connection refused" in i["last_error"], i


# --------------------------------------------------------------------------------------------
# Several instances on one database


def test_two_instances_on_one_database_deliver_each_notification_once(daemon_factory,
                                                                        receiver):
    a = daemon_factory(config=notify_config(receiver.ca, instance_name="notify-a"))
    world = World(a, receiver)
    b = daemon_factory(config=notify_config(receiver.ca, instance_name="notify-b"),
                       database=a.dbname)
    staff_b = b.api(world.staff_cn)
    receiver.script("police", ["500"] * 6)
    receiver.script("immigration", ["close"] * 3)
    residents = [world.resident() for _ in range(20)]
    for n, res in enumerate(residents):
        api = world.staff if n % 2 == 0 else staff_b
        ok(api.post(f"/v1/residents/{res['id']}/absences", json={"known_departure": True}), 201)
    for _ in range(10):
        if len(receiver.delivered()) >= 60:
            break
        settle(world)
        world.advance(minutes=11)
    receiver.wait_delivered(60, timeout=20)
    time.sleep(0.5)
    ids = [q.event_id for q in receiver.delivered()]
    assert len(ids) == 60 and len(set(ids)) == 60, "duplicates by event id"
    items = world.notifications()
    assert len(items) == 60 and all(i["delivered_at"] for i in items)


# --------------------------------------------------------------------------------------------
# The endpoint's certificate is verified


def test_an_endpoint_certificate_from_an_untrusted_ca_is_refused(daemon_factory, receiver, pki):
    # webhook_ca names the daemon's own client CA, which did not issue the receiver's certificate.
    rc = daemon_factory(config=notify_config(pki.ca))
    world = World(rc, receiver)
    res = world.resident()
    world.report(res["id"], known_departure=True)
    items = world.wait_notifications(
        lambda items: len(items) == 3 and all(i["attempts"] >= 1 for i in items))
    for i in items:
        assert i["delivered_at"] is None
        assert "certificate" in i["last_error"], i
    assert world.receiver.requests() == [], "nothing is sent before the endpoint is verified"


def test_an_endpoint_whose_certificate_names_another_host_is_refused(daemon_factory,
                                                                       receiver_pki):
    # The certificate names localhost and 127.0.0.1; this receiver is reached as 127.0.0.2.
    other = WebhookReceiver(receiver_pki, host="127.0.0.2")
    try:
        rc = daemon_factory(config=notify_config(other.ca))
        world = World(rc, other, urls={k: other.url(k, host="127.0.0.2") for k in AUTHORITIES})
        res = world.resident()
        world.report(res["id"], known_departure=True)
        items = world.wait_notifications(
            lambda items: len(items) == 3 and all(i["attempts"] >= 1 for i in items))
        for i in items:
            assert i["delivered_at"] is None
            assert "mismatch" in i["last_error"], i
        assert other.requests() == []
    finally:
        other.close()
