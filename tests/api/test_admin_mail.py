"""The admins' e-mail before the daemon locks everyone out (admin_email, docs/operations.md
"Certificate and CRL expiry"): from 14 days before the CRL's next update (or the daemon's
certificate or the client CA) one message a day to admin_email through a real SMTP relay
(tests/harness/smtp.py), not again after a restart the same day, again on the next day of the
daemon's clock; a refused message is sent at the next check; none while nothing is close."""

import datetime
import re
import subprocess

import pytest
from harness.smtp import SmtpRelay

MESSAGE_ID = re.compile(r"^<(evt_[0-9a-f]{32})@rollcall>$")
ADMIN = "it@centre.example"


@pytest.fixture
def relay(receiver_pki):
    r = SmtpRelay(tls_dir=receiver_pki)
    try:
        yield r
    finally:
        r.close()


def short_crl(pki, directory, hours):
    """A CRL of the test CA whose nextUpdate is hours away."""
    path = directory / f"crl-{hours}h.pem"
    subprocess.run(["openssl", "ca", "-batch", "-config", str(pki.dir / "openssl.cnf"),
                    "-gencrl", "-crlexts", "crl_ext", "-crlhours", str(hours),
                    "-out", str(path)], capture_output=True, check=True)
    return path


def to_admin(messages):
    return [m for m in messages if ADMIN in m.rcpt_tos]


def config(relay, receiver_pki, **more):
    return {"smtp_relay": relay.host_port, "smtp_ca": str(receiver_pki / "ca.crt"),
            "smtp_from": "rollcall@centre.example", "admin_email": ADMIN, **more}


def test_crl_close_to_its_next_update_mails_the_admins_once_a_day(daemon_factory, pki, tmp_path,
                                                                  relay, receiver_pki):
    crl = short_crl(pki, tmp_path, 48)
    rc = daemon_factory(config=config(relay, receiver_pki, tls_crl=str(crl)))
    first = relay.wait_for(lambda msgs: len(to_admin(msgs)) >= 1, what="the expiry mail")
    mail = to_admin(first)[0]
    assert "tls_crl" in mail.subject and "in 2 days" in mail.subject, mail.subject
    assert "the CRL's next update" in mail.subject
    assert "rollcall-ca crl" in mail.text and str(crl) in mail.text
    assert MESSAGE_ID.match(mail.message_id), mail.message_id
    assert mail.tls, "STARTTLS when the relay offers it"
    rc.wait_for_log(r"admin mail: tls_crl:\d+ of \S+ sent to " + re.escape(ADMIN))

    # A restart the same day checks again and sends nothing.
    rc.stop()
    rc.start()
    rc.wait_for_log(r"admin mail: tls_crl:\d+ of \S+ sent already", since=rc.mark)
    assert len(to_admin(relay.messages())) == 1

    # The next day of the daemon's clock: one more, with its own Message-ID.
    clock = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    rc.set_clock(clock.isoformat())
    second = relay.wait_for(lambda msgs: len(to_admin(msgs)) >= 2, what="the next day's mail")
    ids = [m.message_id for m in to_admin(second)]
    assert len(set(ids)) == 2, ids
    assert "in 1 days" in to_admin(second)[1].subject, to_admin(second)[1].subject
    rows = rc.db.query("SELECT count(*) FROM admin_notices WHERE sent_at IS NOT NULL")
    assert rows[0][0] == 2


def test_a_refused_mail_is_sent_at_the_next_check(daemon_factory, pki, tmp_path, relay,
                                                  receiver_pki):
    crl = short_crl(pki, tmp_path, 72)
    relay.refuse = 554
    rc = daemon_factory(config=config(relay, receiver_pki, tls_crl=str(crl)))
    rc.wait_for_log(r"admin mail: tls_crl:\d+ to \S+ failed: .*554")
    assert to_admin(relay.refused()) and not to_admin(relay.messages())
    row = rc.db.query("SELECT sent_at, claimed_at, last_error FROM admin_notices")
    assert row[0][0] is None and row[0][1] is None and "554" in row[0][2]
    relay.refuse = None
    rc.sighup()  # a reload checks again
    accepted = relay.wait_for(lambda msgs: len(to_admin(msgs)) == 1, what="the retried mail")
    assert to_admin(accepted)[0].message_id == to_admin(relay.refused())[0].message_id, \
        "the retry is recognisable: the same Message-ID"


def test_nothing_is_mailed_while_every_file_lasts(daemon_factory, relay, receiver_pki):
    rc = daemon_factory(config=config(relay, receiver_pki))
    rc.wait_for_log(r"rollcalld .* ready")
    rc.sighup()
    rc.wait_for_log(r"reload", since=0)
    assert rc.db.query("SELECT count(*) FROM admin_notices")[0][0] == 0
    assert not to_admin(relay.messages())
