"""The deployment's certificate tool (packaging/rollcall-ca, docs/operations.md "Certificates and
accounts") against a real daemon: init makes and installs the CA, server certificate and CRL;
issue creates the account through the API and then the certificate (nothing when the API
refuses); revoke rewrites the CRL, reloads the daemon and disables the account; crl renews the
CRL only when asked to or when it is about to expire. And the development CA (scripts/pki.sh,
the same tool) makes expired certificates again instead of keeping them."""

import subprocess

from harness import ok
from harness.api import Api
from harness.common import ROOT
from harness.pki import Pki
from harness.world import wait_until

ROLLCALL_CA = ROOT / "packaging" / "rollcall-ca"
PKI_SH = ROOT / "scripts" / "pki.sh"


def run(*args, check=True):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc


def ca(ca_dir, install_dir, *args, check=True):
    return run(ROLLCALL_CA, "--dir", ca_dir, "--install-dir", install_dir, "--reload", "none",
               *args, check=check)


def serial(cert):
    return run("openssl", "x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1]


def crl_serials(crl):
    text = run("openssl", "crl", "-in", crl, "-noout", "-text").stdout
    return {line.split(":")[1].strip() for line in text.splitlines()
            if "Serial Number:" in line}


def verifies(ca_cert, cert, crl=None):
    args = ["openssl", "verify", "-CAfile", ca_cert]
    if crl:
        args += ["-crl_check", "-CRLfile", crl]
    return run(*args, cert, check=False).returncode == 0


def lasts_a_day(cert):
    return run("openssl", "x509", "-in", cert, "-noout", "-checkend", "86400",
               check=False).returncode == 0


def test_init_issue_revoke_and_crl_against_the_daemon(daemon_factory, tmp_path):
    ca_dir, etc = tmp_path / "ca", tmp_path / "etc"
    etc.mkdir()
    ca(ca_dir, etc, "init", "--server-name", "localhost", "--server-ip", "127.0.0.1")
    for name in ("server.crt", "server.key", "clients-ca.crt", "clients-ca.crl"):
        assert (etc / name).is_file(), name
    assert (ca_dir.stat().st_mode & 0o077) == 0, "the CA directory is the owner's only"
    assert ((etc / "server.key").stat().st_mode & 0o007) == 0, "the key is not world-readable"
    assert verifies(etc / "clients-ca.crt", etc / "server.crt")
    first_ca = serial(ca_dir / "ca.crt")
    # init again keeps the CA and the valid server certificate.
    server_serial = serial(etc / "server.crt")
    ca(ca_dir, etc, "init", "--server-name", "localhost", "--server-ip", "127.0.0.1")
    assert serial(ca_dir / "ca.crt") == first_ca and serial(etc / "server.crt") == server_serial

    # The bootstrap admin gets a certificate only: its account is made by the daemon.
    ca(ca_dir, etc, "issue", "admin", "--no-account")
    rc = daemon_factory(start=False, config={
        "tls_cert": etc / "server.crt", "tls_key": etc / "server.key",
        "tls_ca": etc / "clients-ca.crt", "tls_crl": etc / "clients-ca.crl",
        "bootstrap_admin": "admin"})
    rc.pki = Pki(ca_dir)  # the same CA, so that the harness's admin is the one issued above
    rc.start()
    centre = rc.create_centre()["id"]

    api = ("--url", rc.url, "--admin", "admin")
    issued = ca(ca_dir, etc, *api, "issue", "nurse1", "--role", "staff", "--centre", centre)
    assert "account nurse1 created" in issued.stdout
    accounts = {a["cn"]: a for a in ok(rc.admin.get("/v1/accounts?limit=200"))["items"]}
    assert accounts["nurse1"]["role"] == "staff" and accounts["nurse1"]["centres"] == [centre]
    cert, key = ca_dir / "clients" / "nurse1.crt", ca_dir / "clients" / "nurse1.key"
    assert (key.stat().st_mode & 0o077) == 0
    nurse = Api(rc, "nurse1", cert, key)
    assert nurse.get(f"/v1/centres/{centre}").status == 200

    # A second issue of a valid CN is refused; the API refusing a role issues nothing.
    again = ca(ca_dir, etc, *api, "issue", "nurse1", "--role", "staff", "--centre", centre,
               check=False)
    assert again.returncode == 1 and "already has a valid certificate" in again.stderr
    bad = ca(ca_dir, etc, *api, "issue", "nurse2", "--role", "wizard", "--centre", centre,
             check=False)
    assert bad.returncode == 1 and "refused (400)" in bad.stderr, bad.stderr
    assert not (ca_dir / "clients" / "nurse2.crt").exists()
    usage = ca(ca_dir, etc, *api, "issue", "nurse3", check=False)
    assert usage.returncode == 2 and "--role" in usage.stderr
    assert not (ca_dir / "clients" / "nurse3.crt").exists()

    # Revoke: the CRL the daemon reads lists it, the daemon is reloaded, the account disabled.
    revoked = run(ROLLCALL_CA, "--dir", ca_dir, "--install-dir", etc, *api,
                  "--reload", f"kill -HUP {rc.pid}", "revoke", "nurse1")
    assert "account nurse1 disabled" in revoked.stdout
    assert serial(cert) in crl_serials(etc / "clients-ca.crl")
    assert not verifies(etc / "clients-ca.crt", cert, etc / "clients-ca.crl")

    def refused():
        try:
            return nurse.get(f"/v1/centres/{centre}", timeout=5).status in (401, 403)
        except OSError:
            return True  # refused at the handshake

    wait_until(refused, timeout=10, what="the revoked certificate to be refused")
    accounts = {a["cn"]: a for a in ok(rc.admin.get("/v1/accounts?limit=200"))["items"]}
    assert accounts["nurse1"]["disabled"] is True
    assert rc.admin.get("/healthz").status == 200, "the admin is not affected"

    # crl: nothing to do while it lasts beyond the margin asked for; renewed otherwise.
    number = (ca_dir / "crlnumber").read_text()
    quiet = ca(ca_dir, etc, "crl", "--if-expiring", "10")
    assert "nothing to do" in quiet.stdout and (ca_dir / "crlnumber").read_text() == number
    ca(ca_dir, etc, "crl", "--if-expiring", "40")
    assert (ca_dir / "crlnumber").read_text() != number
    assert serial(cert) in crl_serials(etc / "clients-ca.crl"), "a renewed CRL keeps revocations"
    assert "nurse1" in ca(ca_dir, etc, "status").stdout


def expire(pki_dir, cert, ext):
    """Re-signs cert (same subject and key) as one that expired in 2020."""
    key = cert.with_suffix(".key")
    csr = cert.with_suffix(".csr")
    cn = run("openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt", "multiline"
             ).stdout.split("commonName")[1].split("=")[1].strip()
    run("openssl", "req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
    run("openssl", "ca", "-batch", "-config", pki_dir / "openssl.cnf", "-extensions", ext,
        "-notext", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
        "-in", csr, "-out", cert)
    csr.unlink()
    assert not lasts_a_day(cert)


def test_development_ca_makes_expired_certificates_again(tmp_path):
    d = tmp_path / "pki"
    run(PKI_SH, "init", d)
    run(PKI_SH, "client", d, "alice")

    # An expired client certificate is issued again (a valid one is kept).
    kept = serial(d / "clients" / "alice.crt")
    run(PKI_SH, "client", d, "alice")
    assert serial(d / "clients" / "alice.crt") == kept
    expire(d, d / "clients" / "alice.crt", "client_ext")
    run(PKI_SH, "client", d, "alice")
    assert lasts_a_day(d / "clients" / "alice.crt")

    # An expired server certificate is made again by init.
    expire(d, d / "server.crt", "server_ext")
    run(PKI_SH, "init", d)
    assert lasts_a_day(d / "server.crt") and verifies(d / "ca.crt", d / "server.crt")

    # An expired CA: a new one, and everything is issued from it again.
    old_ca = serial(d / "ca.crt")
    csr = d / "ca.csr"
    run("openssl", "req", "-new", "-key", d / "ca.key", "-subj", "/CN=rollcall development CA",
        "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-signkey", d / "ca.key", "-out", d / "ca.crt",
        "-days", "1", "-set_serial", "7")
    # -days 1 lasts less than the one-day margin: treated as expired.
    assert not lasts_a_day(d / "ca.crt")
    run(PKI_SH, "init", d)
    assert serial(d / "ca.crt") != old_ca and lasts_a_day(d / "ca.crt")
    assert verifies(d / "ca.crt", d / "server.crt")
    assert not (d / "clients" / "alice.crt").exists(), "certificates of the old CA are gone"
    run(PKI_SH, "client", d, "alice")
    assert verifies(d / "ca.crt", d / "clients" / "alice.crt", d / "crl.pem")
