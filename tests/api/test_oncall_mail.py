"""On-call e-mail channels (SPEC sections 4 and 10, v2) through a real SMTP relay on loopback
(tests/harness/smtp.py, aiosmtpd): one message per raise, repeat and escalation (counted by
Message-ID), the priority, centre and case number in the subject, what on-call staff must know
and the acknowledge command in the plain-text body, STARTTLS when the relay offers it (and
plain SMTP when it does not), and a relay that refuses or is down retried with the same
Message-ID, its reason in last_error, without loss or duplicates."""

import re

import pytest
from harness import ok
from harness import webhooks as wh
from harness.smtp import SmtpRelay

MESSAGE_ID = re.compile(r"^<(evt_[0-9a-f]{32})@rollcall>$")


@pytest.fixture
def relay(receiver_pki):
    r = SmtpRelay(tls_dir=receiver_pki)
    try:
        yield r
    finally:
        r.close()


def mail_world(daemon_factory, receiver, relay_host_port, ca):
    config = wh.notify_config(receiver.ca, smtp_relay=relay_host_port,
                              smtp_from="rollcall@centre.example", smtp_ca=str(ca))
    world = wh.World(daemon_factory(config=config), receiver)
    ok(world.rc.admin.patch(f"/v1/centres/{world.id}", json={"oncall_channels": [
        {"kind": "email", "to": "oncall@centre.example", "min_priority": "normal"}]}))
    return world


def absent_alert(world, absence):
    return [a for a in world.alerts("resident_absent") if a["absence"] == absence["id"]][0]


def of_alert(messages, alert_id):
    ack = re.compile(rf"^Acknowledge: rollcall ack {alert_id}\r?$", re.M)
    return [m for m in messages if ack.search(m.text)]


def deliveries(world, alert_id):
    return ok(world.oncall.get(
        f"/v1/centres/{world.id}/channel-deliveries?alert={alert_id}&limit=1000"))["items"]


def test_raise_repeat_and_escalation_each_mailed_once_over_starttls(daemon_factory, receiver,
                                                                      receiver_pki, relay):
    world = mail_world(daemon_factory, receiver, relay.host_port, receiver_pki / "ca.crt")
    resident = world.resident(case_number="TDR-2026-0042")
    absence = world.report(resident["id"], concern="said he would go to his uncle in Malmö")
    alert = absent_alert(world, absence)
    relay.wait_for(lambda msgs: len(of_alert(msgs, alert["id"])) >= 1)
    for _ in range(3):  # +5, +10: repeats; +15: the escalation
        world.advance(minutes=5)
    relay.wait_for(lambda msgs: len(of_alert(msgs, alert["id"])) >= 4,
                   what="raise, two repeats and the escalation")
    world.advance(minutes=1)
    mails = of_alert(relay.messages(), alert["id"])
    assert [m.event_type for m in mails] == [
        "alert.raised", "alert.repeated", "alert.repeated", "alert.escalated"]
    ids = [MESSAGE_ID.match(m.message_id).group(1) for m in mails]
    assert len(set(ids)) == 4
    assert ids == [d["event_id"] for d in deliveries(world, alert["id"])]
    first = mails[0]
    assert first.tls, "the relay offered STARTTLS: the message must have gone over TLS"
    assert first.mail_from == "rollcall@centre.example"
    assert first.rcpt_tos == ["oncall@centre.example"]
    assert first.subject.startswith("[URGENT] resident absent at Børnecenter Tønder")
    assert "case TDR-2026-0042" in first.subject
    assert "ESCALATED" in mails[-1].subject
    text = first.text
    assert "Resident: case TDR-2026-0042" in text
    assert "Concern: said he would go to his uncle in Malmö" in text
    assert "Reason: concern" in text
    # A concern: the authorities are notified at once, in the transaction after the raise.
    assert "Authorities to be notified at 2026-11-20 23:00" in text  # local time
    assert "Authorities notified at 2026-11-20 23:00" in mails[1].text
    assert "Last accounted for: " in text
    assert f"Acknowledge: rollcall ack {alert['id']}" in text
    # Names stay out of the e-mail: the case number finds the resident.
    assert resident["given_name"] not in text and resident["family_name"] not in text


def test_plain_relay_without_starttls_gets_the_message(daemon_factory, receiver, receiver_pki):
    plain = SmtpRelay()
    try:
        world = mail_world(daemon_factory, receiver, plain.host_port, receiver_pki / "ca.crt")
        absence = world.report(world.resident_id())
        alert = absent_alert(world, absence)
        msgs = plain.wait_for(lambda msgs: len(of_alert(msgs, alert["id"])) >= 1)
        mail = of_alert(msgs, alert["id"])[0]
        assert not mail.tls
        assert mail.subject.startswith("[NORMAL] resident absent")
    finally:
        plain.close()


def test_refusing_relay_is_a_failed_attempt_retried_with_the_same_message_id(
        daemon_factory, receiver, receiver_pki, relay):
    world = mail_world(daemon_factory, receiver, relay.host_port, receiver_pki / "ca.crt")
    relay.refuse = 554
    absence = world.report(world.resident_id())
    alert = absent_alert(world, absence)
    relay.wait_for(lambda _: len(of_alert(relay.refused(), alert["id"])) >= 1,
                   what="a refused message")
    refused = of_alert(relay.refused(), alert["id"])[0]

    def first_delivery():
        return [d for d in deliveries(world, alert["id"]) if d["type"] == "alert.raised"][0]

    world.rc.wait_for_log(r"alert\.raised .* failed", timeout=10)
    failed = first_delivery()
    assert failed["delivered_at"] is None and failed["attempts"] >= 1
    assert "refused" in failed["last_error"] and "554" in failed["last_error"], failed
    assert MESSAGE_ID.match(refused.message_id).group(1) == failed["event_id"]
    # The relay accepts again: the retry (on the daemon clock) carries the same Message-ID,
    # and the message arrives once.
    relay.refuse = None
    world.advance(minutes=1)
    relay.wait_for(lambda msgs: any(m.message_id == refused.message_id for m in msgs),
                   what="the retried message")
    world.advance(minutes=1)
    accepted = [m for m in relay.messages() if m.message_id == refused.message_id]
    assert len(accepted) == 1
    assert first_delivery()["delivered_at"] is not None
    # The authorities were never held back by the channel (the threshold had passed).
    assert all(n["delivered_at"] for n in world.notifications()
               if n["type"] == "absence.reported")


def test_down_relay_is_retried_without_loss_or_duplicates(daemon_factory, receiver,
                                                          receiver_pki):
    down = SmtpRelay(tls_dir=receiver_pki)
    port = down.port
    down.close()  # nobody listens on the relay's port now
    world = mail_world(daemon_factory, receiver, f"127.0.0.1:{port}", receiver_pki / "ca.crt")
    absence = world.report(world.resident_id())
    alert = absent_alert(world, absence)
    world.rc.wait_for_log(r"alert\.raised .* failed .*cannot connect to the mail relay",
                          timeout=10)
    failed = [d for d in deliveries(world, alert["id"]) if d["type"] == "alert.raised"][0]
    assert failed["last_error"].startswith(f"cannot connect to the mail relay 127.0.0.1 port "
                                           f"{port}"), failed
    back = SmtpRelay(tls_dir=receiver_pki, port=port)
    try:
        world.advance(minutes=5)  # a retry, and the first repeat
        msgs = back.wait_for(lambda msgs: len(of_alert(msgs, alert["id"])) >= 2,
                             what="the raise and the repeat")
        world.advance(minutes=1)
        mails = of_alert(back.messages(), alert["id"])
        assert sorted(m.event_type for m in mails) == ["alert.raised", "alert.repeated"]
        assert len({m.message_id for m in mails}) == len(mails) == 2
        assert MESSAGE_ID.match(mails[0].message_id) and msgs
    finally:
        back.close()
