"""Secrets and leaks (issue 12): no authority secret (whsec_...), private key or SQL text in any
daemon log, error body or stored reply (the idempotency table) of the whole suite, as the
harness recorded them (tests/harness/leaks.py; named zz so that it runs last in a whole-suite
run, and the session-finish hook checks what comes after it); refusals that handle secrets
and bad input leak nothing here either; and a certificate CN holding CR/LF and control
characters cannot forge a log line (daemon/log.c escapes them)."""

import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from harness import leaks
from harness.webhooks import new_secret

FORGED = "2026-01-01T00:00:00.000Z rollcalld[1] ERROR forged line"


def test_the_detector_finds_what_it_looks_for():
    # The patterns must be able to fail: each kind of leak is found in a made-up sample.
    samples = {
        "an authority secret": b'{"secret":"' + new_secret().encode() + b'"}',
        "a private key": b"-----BEGIN PRIVATE KEY-----\nMIIE",
        "SQL or PostgreSQL error text": b'{"error":{"message":"ERROR:  relation \\"x\\""}}',
    }
    for what, sample in samples.items():
        found = leaks.scan("sample", sample, leaks.IN_ANSWERS)
        assert [f[1] for f in found] == [what]
        leaks.FINDINGS.remove(found[0])
    # A message that only names the prefix is not a secret.
    assert leaks.scan("sample", b'secret must be "whsec_" followed by', leaks.IN_ANSWERS) == []


def test_refusals_around_secrets_and_bad_input_leak_nothing(daemon_factory):
    rc = daemon_factory()
    before = len(leaks.FINDINGS)
    secret = new_secret()
    centre = rc.create_centre(authorities=[
        {"kind": "police", "url": "https://127.0.0.1:9/hook", "secret": secret}])["id"]
    admin = rc.admin
    replies = [
        admin.post("/v1/centres", json={"id": centre, "name": "x", "operator": "y",
                                        "capacity": 1,
                                        "authorities": [{"kind": "police", "url": "https://a/",
                                                         "secret": secret}]},
                   headers={"Idempotency-Key": "leak-1"}),
        admin.post("/v1/centres", json={"id": rc.unique("c"), "name": "x", "operator": "y",
                                        "capacity": 1,
                                        "authorities": [{"kind": "police", "url": "https://a/",
                                                         "secret": "whsec_!!" + secret[6:]}]},
                   headers={"Idempotency-Key": "leak-2"}),
        admin.post("/v1/residents", raw=b'{"case_number": "x", ', headers={}),
        admin.post("/v1/residents", json={"case_number": "'; DROP TABLE residents; --"},
                   headers={"Idempotency-Key": "leak-3"}),
        admin.get("/v1/residents/99999999999999999999"),
        admin.get("/v1/audit?from=not-an-instant"),
        admin.get(f"/v1/centres/{centre}"),
    ]
    assert any(r.status >= 400 for r in replies)
    for r in replies:
        text = json.dumps(r.body) if not isinstance(r.body, str) else r.body
        assert secret not in text, r
    rc.stop_and_check()
    leaks.scan_daemon(rc)
    assert leaks.FINDINGS[before:] == []


def issue_client_cert(pki, cn, directory):
    """A client certificate of the session CA whose CN is cn as given (control bytes too)."""
    ca_cert = x509.load_pem_x509_certificate((pki.dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki.dir / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "crlf.crt", directory / "crlf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_cn_with_line_breaks_cannot_forge_a_log_line(daemon_factory):
    for log_format in ("text", "json"):
        rc = daemon_factory(config={"log_format": log_format})
        cn = "evil\r\n" + FORGED + "\x1b[31m\x07"
        cert, key = issue_client_cert(rc.pki, cn, rc.dir)
        api = rc.api_with(cert, key, cn="evil")
        assert api.get("/healthz").status == 200
        assert api.get("/v1/centres").status == 403  # no such account
        rc.stop_and_check()
        text = rc.log_text()
        assert not any(line.startswith(FORGED) for line in text.splitlines()), text[-2000:]
        assert "\x1b" not in text and "\x07" not in text
        if log_format == "text":
            assert "cn=\"evil\\r\\n" + FORGED in text, text[-2000:]
        if log_format == "json":
            lines = [json.loads(line) for line in text.splitlines()]  # each one JSON object
            accounts = {line.get("account") for line in lines}
            assert cn in accounts, accounts  # the whole CN, not a piece of it


def test_the_whole_suite_leaked_nothing():
    """Everything the harness saw in this session before this test (a whole-suite run sees
    every module; the session-finish hook checks the rest)."""
    assert leaks.FINDINGS == [], "\n".join(f"{w}: {what}: {ex!r}" for w, what, ex in
                                           leaks.FINDINGS[:20])
