"""Issue 12, defect 1 (SPEC section 8, v2): a certificate revoked (new CRL, then SIGHUP) or an
account disabled or narrowed (PATCH /v1/accounts/{cn}) stops being served on connections that
are already open, keep-alive connections and alert streams alike, within seconds, and each
connection or stream so ended is in the audit log. Connections of other certificates stay."""

import json
import re
import socket
import ssl
import time

import pytest
from alerts_helpers import Centre, at, wait_until
from harness import client_context, error_of, ok
from harness.api import complete_response

DAY = "2026-11-20"
WITHIN_S = 5.0


def closed_by_server(sock, timeout=WITHIN_S):
    """True when the server closes the (TLS) connection within timeout, having sent nothing
    more than, at most, a close_notify; False when it is still open then."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return True
        assert data == b"", f"the server sent {data[:200]!r} on an idle connection"
        return True
    return False


def audit_rows(daemon, cn, action):
    return [row for row in daemon.admin.pages("/v1/audit", account=cn) if row["action"] == action]


def wait_audit(daemon, cn, action, outcome, count=1):
    rows = []

    def found():
        rows[:] = [r for r in audit_rows(daemon, cn, action) if r["outcome"] == outcome]
        return len(rows) >= count

    wait_until(found, timeout=10, what=f"{count} audit rows {action}/{outcome} of {cn}")
    return rows


@pytest.fixture
def daemon(daemon_factory):
    d = daemon_factory()
    d.set_clock(at(DAY, "08:00"))
    return d


def test_keep_alive_connection_of_a_revoked_certificate_is_closed_on_sighup(daemon, pki):
    centre = daemon.create_centre()["id"]
    cn = daemon.unique("staff-revoked-open-")
    daemon.create_account(cn, "staff", [centre])
    daemon.create_account(cn + "-kept", "staff", [centre])
    revoked, kept = daemon.api(cn), daemon.api(cn + "-kept")
    with revoked.session() as doomed, kept.session() as other:
        ok(doomed.get(f"/v1/centres/{centre}"))
        ok(other.get(f"/v1/centres/{centre}"))
        pki.revoke(cn)
        # Until SIGHUP the CRL loaded at start counts: the connection is still served.
        ok(doomed.get(f"/v1/centres/{centre}"))
        daemon.sighup()
        started = time.monotonic()
        assert closed_by_server(doomed.sock()), "revoked keep-alive connection still open"
        took = time.monotonic() - started
        # The other certificate's connection opened before SIGHUP is served as before.
        ok(other.get(f"/v1/centres/{centre}"))
    rows = wait_audit(daemon, cn, "connection_closed", "revoked")
    assert rows[0]["detail"]["when"] == "reload", rows
    assert "revoked" in rows[0]["detail"]["reason"], rows
    assert rows[0]["remote"] == "127.0.0.1"
    print(f"revoked keep-alive connection closed {took:.2f} s after SIGHUP")


def test_alert_stream_of_a_revoked_certificate_is_closed_on_sighup(daemon, pki):
    c = Centre(daemon)
    cn = daemon.unique("oncall-revoked-stream-")
    daemon.create_account(cn, "oncall", [c.id])
    with c.stream(cn=cn) as watcher, c.stream() as other:
        wait_until(lambda: watcher.head is not None and other.head is not None)
        pki.revoke(cn)
        daemon.sighup()
        assert watcher.closed.wait(WITHIN_S), "the revoked certificate's stream is still open"
        # The stream of a valid certificate goes on and still gets alerts.
        resident = c.resident()
        daemon.set_clock(at(DAY, "10:00"))
        absence = c.report(resident, expect=(201,))
        assert other.next().alert["absence"] == absence["id"]
        assert not other.closed.is_set()
    rows = wait_audit(daemon, cn, "connection_closed", "revoked")
    assert rows[0]["cn"] == cn


def test_alert_stream_of_an_account_disabled_by_patch_ends_and_gets_no_further_alert(daemon):
    c = Centre(daemon)
    resident = c.resident()
    with c.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        daemon.set_clock(at(DAY, "09:00"))
        first = c.report(c.resident(), expect=(201,))
        assert watcher.next().alert["absence"] == first["id"]
        ok(daemon.admin.patch(f"/v1/accounts/{c.oncall_cn}", json={"disabled": True}))
        # An alert raised right after the change must not reach the disabled account.
        daemon.set_clock(at(DAY, "10:00"))
        c.report(resident, expect=(201,))
        assert watcher.closed.wait(WITHIN_S), "the disabled account's stream is still open"
        late = [e for e in watcher.drain(quiet=0.3) if e.name == "alert"]
        assert late == [], f"alerts sent to a disabled account: {late}"
    rows = wait_audit(daemon, c.oncall_cn, "stream_closed", "account_disabled")
    assert rows[0]["detail"] == {"centre": c.id}
    # And it is refused if it comes back.
    error_of(c.oncall.get(f"/v1/alerts?centre={c.id}"), 403)


def test_keep_alive_connection_of_a_disabled_account_is_closed(daemon):
    centre = daemon.create_centre()["id"]
    cn = daemon.unique("staff-disabled-open-")
    daemon.create_account(cn, "staff", [centre])
    with daemon.api(cn).session() as session:
        ok(session.get(f"/v1/centres/{centre}"))
        ok(daemon.admin.patch(f"/v1/accounts/{cn}", json={"disabled": True}))
        assert closed_by_server(session.sock()), "disabled account's connection still open"
    wait_audit(daemon, cn, "connection_closed", "account_disabled")
    error_of(daemon.api(cn).get(f"/v1/centres/{centre}"), 403)


def test_keep_alive_request_of_a_disabled_account_is_refused_at_once(daemon):
    # Whatever the notification's timing, the next request on the connection is checked.
    centre = daemon.create_centre()["id"]
    cn = daemon.unique("staff-disabled-request-")
    daemon.create_account(cn, "staff", [centre])
    with daemon.api(cn).session() as session:
        ok(session.get(f"/v1/centres/{centre}"))
        ok(daemon.admin.patch(f"/v1/accounts/{cn}", json={"disabled": True}))
        try:
            reply = session.get(f"/v1/centres/{centre}")
        except (OSError, ssl.SSLError, ConnectionError):
            return  # closed first: refused as well
        error_of(reply, 403)


def test_account_removed_from_a_centre_stops_receiving_its_alerts(daemon):
    a, b = Centre(daemon, prefix="lost"), Centre(daemon, prefix="kept")
    cn = daemon.unique("oncall-two-centres-")
    daemon.create_account(cn, "oncall", [a.id, b.id])
    with a.stream(cn=cn) as on_a, b.stream(cn=cn) as on_b:
        wait_until(lambda: on_a.head is not None and on_b.head is not None)
        ok(daemon.admin.patch(f"/v1/accounts/{cn}", json={"centres": [b.id]}))
        daemon.set_clock(at(DAY, "10:00"))
        in_a = a.report(a.resident(), expect=(201,))
        in_b = b.report(b.resident(), expect=(201,))
        assert on_a.closed.wait(WITHIN_S), "the stream of the centre taken away is still open"
        assert [e for e in on_a.drain(quiet=0.3) if e.name == "alert"] == []
        # The centre the account keeps: stream open, alerts as before.
        assert on_b.next().alert["absence"] == in_b["id"]
        assert not on_b.closed.is_set()
        assert in_a["id"] != in_b["id"]
    rows = wait_audit(daemon, cn, "stream_closed", "account_scope_changed")
    assert [r["detail"] for r in rows] == [{"centre": a.id}]


def test_a_change_that_keeps_the_scope_keeps_the_stream(daemon):
    c = Centre(daemon)
    other = daemon.create_centre()["id"]
    with c.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        # Another centre given to the account: nothing it may watch is taken away.
        ok(daemon.admin.patch(f"/v1/accounts/{c.oncall_cn}", json={"centres": [c.id, other]}))
        daemon.set_clock(at(DAY, "10:00"))
        absence = c.report(c.resident(), expect=(201,))
        assert watcher.next().alert["absence"] == absence["id"]
        assert not watcher.closed.is_set()
    assert audit_rows(daemon, c.oncall_cn, "stream_closed") == []


def test_connection_accepted_before_sighup_is_checked_on_its_first_request(daemon, pki):
    # Accepted (with the context of before the reload) but still in its handshake while the
    # reload walks the connections: its certificate is checked on its first request.
    centre = daemon.create_centre()["id"]
    cn = daemon.unique("staff-revoked-late-")
    daemon.create_account(cn, "staff", [centre])
    plain = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    try:
        def accepted():
            text = ok(daemon.admin.get("/metrics"))
            return int(re.search(r"(?m)^rollcall_http_connections (\d+)$", text).group(1)) >= 2

        wait_until(accepted, what="the daemon to accept the connection")
        revoked_cert, revoked_key = pki.revoke(cn)
        mark = len(daemon.log_text())
        daemon.sighup()
        daemon.wait_for_log(r"reload: TLS certificate, key, CA and CRL reloaded", since=mark)
        context = client_context(pki, revoked_cert, revoked_key)
        with context.wrap_socket(plain, server_hostname="localhost") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            while not complete_response(data):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    finally:
        plain.close()
    status, body = data.split(b" ", 2)[1], data.partition(b"\r\n\r\n")[2]
    assert status == b"403", data[:300]
    assert json.loads(body)["error"]["code"] == "certificate_revoked", body
    rows = wait_audit(daemon, cn, "connection_closed", "revoked")
    assert rows[0]["detail"]["when"] == "request", rows


def test_idle_connection_that_sent_nothing_yet_is_closed_when_its_account_is_disabled(daemon):
    centre = daemon.create_centre()["id"]
    cn = daemon.unique("staff-disabled-silent-")
    daemon.create_account(cn, "staff", [centre])
    context = client_context(daemon.pki, *daemon.pki.client(cn))
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname="localhost") as tls:
            # Handshake done, no request: the daemon still holds it on its handshake list.
            def counted():
                text = ok(daemon.admin.get("/metrics"))
                return int(re.search(r"(?m)^rollcall_http_connections (\d+)$", text).group(1)) >= 2

            wait_until(counted, what="the daemon to see the connection")
            ok(daemon.admin.patch(f"/v1/accounts/{cn}", json={"disabled": True}))
            assert closed_by_server(tls), "the disabled account's idle connection is still open"
    wait_audit(daemon, cn, "connection_closed", "account_disabled")
