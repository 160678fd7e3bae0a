"""The TLS profile (SPEC section 7; docs/decisions.md, "TLS profile"), checked from outside with
sslscan against the running daemon: TLS 1.3 only by default; with tls_min_version = 1.2 also
TLS 1.2, but only with ECDHE key exchange and AEAD ciphers (AES-GCM, ChaCha20-Poly1305); never
SSLv2/3, TLS 1.0 or 1.1; groups X25519, P-256 and P-384 only; no compression, no renegotiation.
"""

import re
import shutil
import ssl
import subprocess

import pytest
from harness import client_context

SSLSCAN = shutil.which("sslscan")


def scan(daemon):
    assert SSLSCAN, "sslscan is missing: scripts/deps.sh installs it"
    out = subprocess.run([SSLSCAN, "--no-colour", "--no-heartbleed", "--show-sigs",
                          f"127.0.0.1:{daemon.port}"], capture_output=True, text=True,
                         timeout=120,
                         # The daemon hangs up on a client without a certificate; sslscan must
                         # not die of the SIGPIPE (Python would restore its default).
                         restore_signals=False).stdout
    protocols = dict(re.findall(r"^(SSLv[23]|TLSv1\.[0-3])\s+(enabled|disabled)", out, re.M))
    ciphers = re.findall(r"^(?:Preferred|Accepted)\s+(TLSv1\.[0-3])\s+\d+ bits\s+(\S+)", out,
                         re.M)
    groups = re.findall(r"^(TLSv1\.[0-3])\s+\d+ bits\s+(\S+)", out.split("Server Key Exchange")[1]
                        if "Server Key Exchange" in out else "", re.M)
    return out, protocols, ciphers, groups


def assert_common(out, protocols, groups):
    for old in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        assert protocols.get(old) == "disabled", (old, out)
    assert "Compression disabled" in out or "does not support compression" in out, out
    assert not re.search(r"Insecure session renegotiation supported", out), out
    assert groups and {g for _, g in groups} <= {"x25519", "secp256r1", "secp384r1"}, groups


def test_default_is_tls13_only(daemon_factory):
    rc = daemon_factory()
    out, protocols, ciphers, groups = scan(rc)
    assert protocols.get("TLSv1.3") == "enabled", out
    assert protocols.get("TLSv1.2") == "disabled", out
    assert ciphers and all(v == "TLSv1.3" for v, _ in ciphers), ciphers
    assert_common(out, protocols, groups)
    # And a TLS 1.2 client with a valid certificate is turned away at the handshake.
    assert not tls12_handshake(rc, "ECDHE-ECDSA-AES128-GCM-SHA256")


WEAK_TLS12 = ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
              "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA", "AES256-SHA", "AES128-SHA256",
              "AES128-GCM-SHA256"]
STRONG_TLS12 = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-CHACHA20-POLY1305"]


def tls12_handshake(rc, cipher):
    """Whether a TLS 1.2 client offering only `cipher` (and a valid certificate) is served."""
    ctx = client_context(rc.pki, *rc.pki.client("admin"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    try:
        return rc.api("admin").request("GET", "/healthz", conn=_conn(rc, ctx)).status == 200
    except (ssl.SSLError, ConnectionError):
        return False


def test_tls12_allowed_only_with_forward_secret_aead(daemon_factory):
    rc = daemon_factory(config={"tls_min_version": "1.2"})
    out, protocols, ciphers, groups = scan(rc)
    assert protocols.get("TLSv1.2") == "enabled" and protocols.get("TLSv1.3") == "enabled", out
    assert_common(out, protocols, groups)
    assert [c for c in STRONG_TLS12 if not tls12_handshake(rc, c)] == []
    assert [c for c in WEAK_TLS12 if tls12_handshake(rc, c)] == []


def _conn(rc, ctx):
    import http.client
    return http.client.HTTPSConnection("127.0.0.1", rc.port, context=ctx, timeout=10)
