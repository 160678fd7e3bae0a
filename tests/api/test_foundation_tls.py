"""Access (SPEC section 7): every connection is mutual TLS with a certificate from the
deployment's CA; a revoked certificate (after the CRL is regenerated and the daemon gets SIGHUP),
an unknown account and a disabled account are refused."""

import socket
import time

from harness import error_of, ok


def test_healthz_answers_any_valid_certificate(rc, pki):
    # A certificate from the CA whose CN names no account: alive, but nothing else.
    ok(rc.api("nobody-here").get("/healthz"))
    error_of(rc.api("nobody-here").get("/v1/centres"), 403)


def test_connection_without_client_certificate_is_refused(rc):
    assert rc.tls_refused(cert=None, key=None) is None


def test_certificate_from_another_ca_is_refused(rc, pki):
    # Same CN as the bootstrap admin: only the issuer tells them apart.
    cert, key = pki.other_ca("admin")
    assert rc.tls_refused(cert, key) is None
    # The same request with the real admin certificate works: the refusal was the issuer.
    cert, key = pki.client("admin")
    assert rc.tls_refused(cert, key) == 200


def test_server_certificate_verifies_against_the_ca(rc):
    # The client side of mutual TLS: the server presents a certificate for localhost/127.0.0.1
    # issued by the deployment CA (the Api helper verifies it with check_hostname on).
    with rc.admin.session() as s:
        ok(s.get("/healthz"))
        cert = s.sock().getpeercert()
        assert ("DNS", "localhost") in cert["subjectAltName"]
        assert s.sock().version() in ("TLSv1.2", "TLSv1.3")


def test_unknown_account_is_forbidden(rc):
    err = error_of(rc.api("stranger").get("/v1/accounts"), 403)
    assert err["code"] == "forbidden"


def test_disabled_account_is_forbidden_and_can_be_enabled_again(rc):
    centre = rc.create_centre()["id"]
    rc.create_account("staff-to-disable", "staff", [centre])
    staff = rc.api("staff-to-disable")
    ok(staff.get(f"/v1/centres/{centre}"))

    body = ok(rc.admin.patch("/v1/accounts/staff-to-disable", json={"disabled": True}))
    assert body["disabled"] is True
    assert rc.db.scalar("SELECT disabled FROM accounts WHERE cn = 'staff-to-disable'") is True
    error_of(staff.get(f"/v1/centres/{centre}"), 403)

    ok(rc.admin.patch("/v1/accounts/staff-to-disable", json={"disabled": False}))
    ok(staff.get(f"/v1/centres/{centre}"))


def test_revoked_certificate_refused_after_sighup_without_dropping_connections(
    daemon_factory, pki
):
    daemon = daemon_factory()
    centre = daemon.create_centre()["id"]
    daemon.create_account("staff-revoked", "staff", [centre])
    daemon.create_account("staff-kept", "staff", [centre])
    revoked = daemon.api("staff-revoked")
    ok(revoked.get(f"/v1/centres/{centre}"))

    kept = daemon.api("staff-kept")
    with kept.session() as session:
        ok(session.get(f"/v1/centres/{centre}"))

        cert, key = pki.revoke("staff-revoked")
        # Until the daemon reloads, the CRL it loaded at start is the one that counts.
        assert daemon.tls_refused(cert, key) == 200
        daemon.sighup()
        deadline = time.monotonic() + 10
        while daemon.tls_refused(cert, key) is not None:
            assert time.monotonic() < deadline, "revoked certificate still accepted after SIGHUP"
            time.sleep(0.1)
        assert daemon.alive()

        # The connection opened before SIGHUP is still served.
        ok(session.get(f"/v1/centres/{centre}"))
    # And new connections of other certificates are accepted.
    ok(kept.get(f"/v1/centres/{centre}"))
    ok(daemon.admin.get("/healthz"))


def test_sighup_with_a_broken_crl_keeps_the_running_tls_context(daemon_factory, pki, workdir):
    # A bad file on reload must leave the working configuration in place (STYLE: PgBouncer way).
    bad_crl = workdir / "broken-crl.pem"
    bad_crl.write_bytes(pki.crl.read_bytes())
    daemon = daemon_factory(config={"tls_crl": bad_crl})
    ok(daemon.admin.get("/healthz"))
    bad_crl.write_text("this is not a CRL\n")
    mark = len(daemon.log_text())
    daemon.sighup()
    daemon.wait_for_log(r"(?i)crl", since=mark)
    time.sleep(0.3)
    assert daemon.alive()
    ok(daemon.admin.get("/healthz"))
    ok(daemon.admin.get("/v1/accounts"))


def test_plain_http_is_not_served(rc):
    with socket.create_connection(("127.0.0.1", rc.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
