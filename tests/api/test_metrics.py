"""GET /metrics (issue 17, docs/operations.md "Monitoring") and the certificate expiry warnings:
Prometheus text format 0.0.4 over the same mutual TLS, for admins and the `metrics` role only;
the whole text parsed by a strict parser of the exposition format written here (and checked by
`promtool check metrics`, from Debian's prometheus package, which scripts/deps.sh installs); the
counters, the database-derived series and the expiry gauges against what the tests did and the
test PKI's files; and the log warnings 14 days before the CRL's nextUpdate, at start, on SIGHUP
and after a day of the test clock."""

import datetime
import math
import os
import re
import shutil
import socket
import subprocess

import pytest
from alerts_helpers import Centre, wait_until
from harness import error_of, ok
from harness.webhooks import World

CLOCK = "2026-11-20T22:00:00+00:00"

# ---------------------------------------------------------------------------------------------
# A strict parser of the text exposition format 0.0.4
# (https://prometheus.io/docs/instrumenting/exposition_formats/)

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"[+-]?(?:Inf|NaN|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? ({VALUE})(?: (-?[0-9]+))?$")
LABEL_PAIR = re.compile(rf'({LABEL})="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}


def parse_labels(text, line):
    labels, rest = {}, text
    while rest:
        m = LABEL_PAIR.match(rest)
        assert m, f"bad label set in {line!r}"
        assert m.group(1) not in labels, f"label {m.group(1)} twice in {line!r}"
        labels[m.group(1)] = m.group(2).replace("\\n", "\n").replace('\\"', '"') \
            .replace("\\\\", "\\")
        rest = rest[m.end():]
        if rest.startswith(","):
            rest = rest[1:]
            assert rest, f"trailing comma in {line!r}"
        else:
            assert not rest, f"bad label set in {line!r}"
    return labels


def parse_exposition(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}; asserts every rule of the
    format it knows: one TYPE per family, before its samples; a family's samples together;
    sample names of the family's type; no series twice; histograms cumulative with +Inf equal
    to _count; counters not negative."""
    assert text.endswith("\n"), "the text must end with a line feed"
    families, seen, done = {}, set(), set()
    current = None
    for line in text[:-1].split("\n"):
        assert line, "empty line"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({NAME}) (.*)$", line)
            if not m:
                continue  # a comment
            kind, name, rest = m.groups()
            assert name not in done, f"{name} described again after its samples: {line!r}"
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if kind == "TYPE":
                assert rest in TYPES, line
                assert fam["type"] is None, f"second TYPE for {name}"
                assert not fam["samples"], f"TYPE after samples of {name}"
                fam["type"] = rest
            else:
                assert fam["help"] is None, f"second HELP for {name}"
                fam["help"] = rest
            if current and current != name:
                done.add(current)
            current = name
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value_text, _ = m.groups()
        labels = parse_labels(labels_text or "", line)
        family = next((f for f in families
                       for s in SUFFIXES.get(families[f]["type"], ("",))
                       if name == f + s), None)
        assert family, f"sample {name} of no declared family"
        assert family not in done, f"samples of {family} not together: {line!r}"
        if current and current != family:
            done.add(current)
        current = family
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"series twice: {line!r}"
        seen.add(key)
        value = float(value_text)
        if families[family]["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} without _total"
            assert value >= 0, line
        families[family]["samples"].append((name, labels, value))
    for name, fam in families.items():
        assert fam["type"], f"{name} has no TYPE"
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for sample, labels, value in samples:
        base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        series.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if sample.endswith("_bucket"):
            series[base]["buckets"].append((float(labels["le"]), value))
        elif sample.endswith("_sum"):
            series[base]["sum"] = value
        else:
            series[base]["count"] = value
    for base, s in series.items():
        bounds = [b for b, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, (name, base, bounds)
        assert counts == sorted(counts), f"{name}{base}: buckets not cumulative {counts}"
        assert s["count"] == counts[-1], f"{name}{base}: +Inf {counts[-1]} != _count"
        assert s["sum"] is not None and s["sum"] >= 0, (name, base)


def value(families, family, sample=None, **labels):
    """The value of the one sample of family (sample name default: the family's) whose labels
    include labels; None when there is none."""
    found = [v for n, lab, v in families[family]["samples"]
             if n == (sample or family) and all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) <= 1, (family, labels, found)
    return found[0] if found else None


def scrape(api):
    reply = api.get("/metrics")
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == "text/plain; version=0.0.4", reply.headers
    promtool_check(reply.body)
    return parse_exposition(reply.body)


def promtool_path():
    return os.environ.get("ROLLCALL_PROMTOOL") or shutil.which("promtool")


def promtool_check(text):
    tool = promtool_path()
    # scripts/deps.sh installs Debian's prometheus package for it (or set ROLLCALL_PROMTOOL).
    assert tool, "promtool is missing: run scripts/deps.sh"
    proc = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"promtool check metrics:\n{proc.stdout}{proc.stderr}"


# ---------------------------------------------------------------------------------------------
# The parser itself: it must be able to fail


@pytest.mark.parametrize("bad", [
    "# TYPE a counter\na_total 1\n",                      # sample of no family
    "# TYPE a_total counter\na_total 1\n# TYPE a_total counter\n",
    "# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n",
    "# TYPE a_total counter\na_total -1\n",
    "# TYPE a gauge\na{x=1} 1\n",
    "# TYPE a gauge\na 1",
    "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 2\n",
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
])
def test_the_parser_refuses_broken_text(bad):
    with pytest.raises(AssertionError):
        parse_exposition(bad)


def test_promtool_accepts_a_full_scrape(rc):
    # Every family present with samples: a centre, an open absence, a watcher, a failure.
    centre = Centre(rc, "metrics-promtool")
    centre.report(centre.resident())
    assert rc.tls_refused(cert=None, key=None) is None
    with centre.stream():
        reply = rc.admin.get("/metrics")
    assert reply.status == 200, reply
    families = parse_exposition(reply.body)
    # (The channel families are empty: this daemon's centres have no on-call channels.)
    assert all(f["samples"] for n, f in families.items()
               if n not in ("rollcall_alert_stream_watchers", "rollcall_channel_undelivered",
                            "rollcall_channel_oldest_undelivered_seconds")), \
        [n for n, f in families.items() if not f["samples"]]
    promtool_check(reply.body)


# ---------------------------------------------------------------------------------------------
# Who may scrape


def test_admin_and_metrics_role_scrape_staff_does_not(rc):
    centre = Centre(rc, "metrics-who")
    created = rc.create_account("prometheus-who", "metrics")
    assert created["role"] == "metrics"
    assert scrape(rc.admin)["rollcall_http_requests_total"]["type"] == "counter"
    families = scrape(rc.api("prometheus-who"))
    assert value(families, "rollcall_absences_open", centre=centre.id) == 0
    err = error_of(centre.staff.get("/metrics"), 403)
    assert err["code"] == "forbidden"
    # The metrics role reads the metrics and nothing else.
    error_of(rc.api("prometheus-who").get("/v1/centres"), 403)
    error_of(rc.api("prometheus-who").get(f"/v1/absences?centre={centre.id}"), 403)


def test_an_unknown_role_is_refused_naming_the_field(rc):
    err = error_of(rc.admin.post("/v1/accounts", json={"cn": "p2", "role": "prometheus",
                                                       "centres": []}), 400)
    assert err["field"] == "role"


# ---------------------------------------------------------------------------------------------
# Counters move after known requests


def test_request_counters_by_route_and_code_and_latency_histogram(rc):
    rc.create_account("prometheus-count", "metrics")
    prom = rc.api("prometheus-count")
    labels = {"method": "GET", "route": "/healthz"}
    before = scrape(prom)
    ok_before = value(before, "rollcall_http_route_responses_total", code="200", **labels) or 0
    hist_before = value(before, "rollcall_http_request_duration_seconds",
                        "rollcall_http_request_duration_seconds_count", **labels) or 0
    total_before = value(before, "rollcall_http_requests_total")
    for _ in range(3):
        ok(rc.admin.get("/healthz"))
    error_of(rc.admin.get("/v1/no-such-route"), 404)
    forbidden_before = value(before, "rollcall_http_route_responses_total", code="403",
                             method="GET", route="/metrics") or 0
    error_of(rc.api("nobody-metrics").get("/metrics"), 403)

    after = scrape(prom)
    assert value(after, "rollcall_http_route_responses_total", code="200", **labels) \
        == ok_before + 3
    assert value(after, "rollcall_http_request_duration_seconds",
                 "rollcall_http_request_duration_seconds_count", **labels) == hist_before + 3
    assert value(after, "rollcall_http_request_duration_seconds",
                 "rollcall_http_request_duration_seconds_bucket", le="+Inf", **labels) \
        == hist_before + 3
    assert value(after, "rollcall_http_route_responses_total", code="404", method="",
                 route="unmatched") >= 1
    assert value(after, "rollcall_http_route_responses_total", code="403", method="GET",
                 route="/metrics") == forbidden_before + 1
    # 3 healthz, the 404, the 403 and the first scrape itself.
    assert value(after, "rollcall_http_requests_total") == total_before + 6
    # The raw path never becomes a label: only route patterns do.
    routes = {lab.get("route") for _, lab, _ in
              after["rollcall_http_route_responses_total"]["samples"]}
    assert "/v1/no-such-route" not in routes
    # The pool's figures are there and sane.
    assert value(after, "rollcall_db_pool_size") >= 1
    assert value(after, "rollcall_db_connections_up") >= 1
    assert value(after, "rollcall_db_queries_total") > 0


def test_route_patterns_not_paths_label_requests_with_ids(rc):
    centre = Centre(rc, "metrics-pattern")
    resident = centre.resident()
    for _ in range(2):
        ok(centre.staff.get(f"/v1/residents/{resident}"))
    families = scrape(rc.admin)
    assert value(families, "rollcall_http_route_responses_total", code="200", method="GET",
                 route="/v1/residents/{id}") >= 2


# ---------------------------------------------------------------------------------------------
# The database's series: an open absence and an undelivered notification


def test_open_absence_unacked_alert_and_undelivered_notification(daemon_factory, receiver):
    from harness.webhooks import notify_config
    rc = daemon_factory(config=notify_config(receiver.ca))
    receiver.set_default("police", "500")
    world = World(rc, receiver, clock=CLOCK)
    resident = world.resident_id(date_of_birth="2012-03-10", arrival_date="2026-01-05")
    world.report(resident, concern="left with an older man")   # notified at once
    receiver.wait_delivered(1, "municipality")
    receiver.wait_for(lambda reqs: any(r.authority == "police" for r in reqs),
                      what="a failed police attempt")
    world.advance(minutes=10)

    families = scrape(rc.admin)
    c = world.centre
    assert value(families, "rollcall_absences_open", centre=c) == 1
    assert value(families, "rollcall_alerts_unacknowledged", centre=c,
                 kind="resident_absent") == 1
    assert value(families, "rollcall_alerts_unacknowledged", centre=c, kind="turning_18") == 0
    assert value(families, "rollcall_outbox_undelivered", centre=c, authority="police") == 1
    assert value(families, "rollcall_outbox_oldest_undelivered_seconds", centre=c,
                 authority="police") == 600
    receiver.wait_delivered(1, "immigration")
    families = scrape(rc.admin)
    assert value(families, "rollcall_outbox_undelivered", centre=c,
                 authority="municipality") == 0
    assert value(families, "rollcall_outbox_oldest_undelivered_seconds", centre=c,
                 authority="municipality") == 0
    # Every due event up to the clock was decided by the PUT /v1/clock: no lag.
    assert value(families, "rollcall_due_lag_seconds") == 0
    assert value(families, "rollcall_due_events_pending") == 0
    assert value(families, "rollcall_webhook_attempts_total", result="failed") >= 1

    # Acknowledged and returned: the gauges fall back to 0 (they do not vanish).
    [alert] = [a["id"] for a in world.alerts("resident_absent")]
    ok(world.oncall.post(f"/v1/alerts/{alert}/ack", json={}))
    absence = world.open_absence(resident)["id"]
    world.returned(absence)
    families = scrape(rc.admin)
    assert value(families, "rollcall_absences_open", centre=c) == 0
    assert value(families, "rollcall_alerts_unacknowledged", centre=c,
                 kind="resident_absent") == 0


def test_unacknowledged_alerts_by_priority_and_failing_channel(daemon_factory, receiver):
    from harness.webhooks import new_secret, notify_config
    rc = daemon_factory(config=notify_config(receiver.ca))
    world = World(rc, receiver, clock=CLOCK)
    c = world.centre
    channel = {"kind": "webhook", "url": receiver.url("oncall"), "secret": new_secret(),
               "min_priority": "normal"}
    [shown] = ok(rc.admin.patch(f"/v1/centres/{c}", json={"oncall_channels": [channel]}))[
        "oncall_channels"]
    receiver.set_default("oncall", "500")
    families = scrape(rc.admin)
    for priority in ("urgent", "normal", "info"):
        assert value(families, "rollcall_alerts_unacknowledged_by_priority", centre=c,
                     priority=priority) == 0
    # Every kind of the alert_kinds table is listed, the v2 kind included.
    assert value(families, "rollcall_alerts_unacknowledged", centre=c,
                 kind="notification_unconfirmed") == 0

    # A known departure: resident_absent is urgent (SPEC section 4, v2), and goes to the channel.
    world.report(world.resident_id(), known_departure=True)
    receiver.wait_for(lambda reqs: any(r.authority == "oncall" for r in reqs),
                      what="a failed channel attempt")
    # The authorities' deliveries are recorded (and absence_reported raised) by the sender an
    # instant after the receiver has them: wait, so that nothing is raised between the scrape
    # and the list compared with it.
    world.wait_notifications(lambda items: len(items) == 3 and all(i["delivered_at"]
                                                                    for i in items))
    world.advance(minutes=5)
    open_alerts = None
    for _ in range(50):
        before = [a for a in world.alerts() if not a["acked_at"] and not a["resolved_at"]]
        families = scrape(rc.admin)
        open_alerts = [a for a in world.alerts() if not a["acked_at"] and not a["resolved_at"]]
        if open_alerts == before:
            break
    assert open_alerts
    for priority in ("urgent", "normal", "info"):
        assert value(families, "rollcall_alerts_unacknowledged_by_priority", centre=c,
                     priority=priority) == len([a for a in open_alerts
                                                if a["priority"] == priority]), priority
    assert value(families, "rollcall_alerts_unacknowledged_by_priority", centre=c,
                 priority="urgent") >= 1
    labels = {"centre": c, "kind": "webhook"}
    channel_id = rc.db.scalar("SELECT id::text FROM oncall_channels WHERE centre = %s", c)
    assert value(families, "rollcall_channel_undelivered", channel=channel_id, **labels) >= 1
    assert value(families, "rollcall_channel_oldest_undelivered_seconds", channel=channel_id,
                 **labels) == 300
    assert shown["kind"] == "webhook"


def test_due_lag_counts_a_due_row_not_yet_decided(rc):
    # A row the engine has not decided: its age on the daemon's clock is the lag.
    rc.set_clock(CLOCK)
    rc.db.execute("INSERT INTO due_events (kind, ref, due_at) "
                  "VALUES ('metrics_probe', 1, %s::timestamptz - interval '90 seconds')", CLOCK)
    try:
        families = scrape(rc.admin)
        assert value(families, "rollcall_due_lag_seconds") >= 90
        assert value(families, "rollcall_due_events_pending") >= 1
    finally:
        rc.db.execute("DELETE FROM due_events WHERE kind = 'metrics_probe'")


# ---------------------------------------------------------------------------------------------
# SSE watchers and TLS handshake failures


def test_alert_stream_watchers_by_centre(rc):
    centre = Centre(rc, "metrics-sse")
    with centre.stream():
        families = scrape(rc.admin)
        assert value(families, "rollcall_alert_stream_watchers", centre=centre.id) == 1
        assert value(families, "rollcall_alert_streams") >= 1


def test_tls_handshake_failures_by_reason(rc, pki):
    def failures(families, reason):
        return value(families, "rollcall_tls_handshake_failures_total", reason=reason)

    before = scrape(rc.admin)
    cert, key = pki.other_ca("admin")
    assert rc.tls_refused(cert, key) is None
    assert rc.tls_refused(cert=None, key=None) is None
    with socket.create_connection(("127.0.0.1", rc.port), timeout=5) as plain:
        plain.sendall(b"\x16\x03\x01\x00\x40\x01\x00")  # half a ClientHello, then gone
    with socket.create_connection(("127.0.0.1", rc.port), timeout=5) as plain:
        plain.sendall(b"\x16\x03\x01\x00\x05hello")  # a record that is no handshake message
        plain.recv(100)  # the daemon's alert

    def counted():
        f = scrape(rc.admin)
        return f if (failures(f, "closed") > failures(before, "closed")
                     and failures(f, "protocol") > failures(before, "protocol")) else None

    # Each is counted once the daemon has seen its connection end.
    after = wait_until(counted, timeout=10, what="the abandoned and the garbled handshake")
    assert failures(after, "unknown_ca") == failures(before, "unknown_ca") + 1
    assert failures(after, "no_certificate") == failures(before, "no_certificate") + 1
    assert failures(after, "certificate_revoked") == failures(before, "certificate_revoked")
    assert {lab["reason"] for _, lab, _ in
            after["rollcall_tls_handshake_failures_total"]["samples"]} >= {
        "unknown_ca", "no_certificate", "certificate_revoked", "certificate_expired",
        "crl_expired", "protocol", "closed"}


def test_revoked_certificate_counted_as_revoked(daemon_factory, pki):
    rc = daemon_factory()
    rc.create_account("revoked-metrics", "staff")
    cert, key = pki.revoke("revoked-metrics")
    rc.sighup()
    rc.wait_for_log(r"reload: TLS certificate, key, CA and CRL reloaded")
    before = scrape(rc.admin)
    assert rc.tls_refused(cert, key) is None
    after = scrape(rc.admin)
    assert value(after, "rollcall_tls_handshake_failures_total", reason="certificate_revoked") \
        == value(before, "rollcall_tls_handshake_failures_total",
                 reason="certificate_revoked") + 1


# ---------------------------------------------------------------------------------------------
# Expiry: gauges and warnings


def openssl_instant(args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout
    text = out.strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc)


def test_expiry_gauges_match_the_test_pki(rc, pki):
    # Another test may have rewritten crl.pem (a revocation): the gauges describe the files as
    # the daemon last loaded them, so load them now.
    mark = len(rc.log_text())
    rc.sighup()
    rc.wait_for_log(r"reload: TLS certificate, key, CA and CRL reloaded", since=mark)
    rc.set_clock(CLOCK)
    now = datetime.datetime.fromisoformat(CLOCK)
    cert = openssl_instant(["x509", "-in", str(pki.server_cert), "-noout", "-enddate"])
    ca = openssl_instant(["x509", "-in", str(pki.ca), "-noout", "-enddate"])
    crl = openssl_instant(["crl", "-in", str(pki.crl), "-noout", "-nextupdate"])
    families = scrape(rc.admin)

    def left(file):
        return value(families, "rollcall_tls_expiry_seconds", file=file)

    assert left("tls_cert") == (cert - now).total_seconds()
    assert left("tls_ca") == (ca - now).total_seconds()
    assert left("tls_crl") == (crl - now).total_seconds()


def short_crl(pki, directory, hours):
    """A CRL of the test CA whose nextUpdate is hours away, written beside (not over) the
    session's crl.pem."""
    path = directory / f"crl-{hours}h.pem"
    subprocess.run(["openssl", "ca", "-batch", "-config", str(pki.dir / "openssl.cnf"),
                    "-gencrl", "-crlexts", "crl_ext", "-crlhours", str(hours),
                    "-out", str(path)], capture_output=True, check=True)
    return path


def test_crl_about_to_expire_is_warned_at_start_and_on_sighup(daemon_factory, pki, tmp_path):
    crl = short_crl(pki, tmp_path, 48)
    rc = daemon_factory(config={"tls_crl": str(crl)})
    pattern = r"WARN.*certificates: tls_crl \S+: the CRL's next update is .* \(within 14 days\)"
    rc.wait_for_log(pattern)
    assert not re.search(r"certificates: tls_cert", rc.log_text()), \
        "the 30-day server certificate is not within 14 days"
    mark = len(rc.log_text())
    rc.sighup()
    rc.wait_for_log(pattern, since=mark)
    # The gauge says the same: under two days left on the daemon's clock.
    families = scrape(rc.admin)
    left = value(families, "rollcall_tls_expiry_seconds", file="tls_crl")
    clock = datetime.datetime.fromisoformat(ok(rc.admin.get("/v1/clock"))["now"])
    nextupdate = openssl_instant(["crl", "-in", str(crl), "-noout", "-nextupdate"])
    assert left == math.floor((nextupdate - clock).total_seconds())
    assert 0 < left <= 48 * 3600


def test_warning_daily_on_the_test_clock(daemon_factory, pki):
    rc = daemon_factory()
    pattern = r"certificates: tls_crl \S+: the CRL's next update"
    assert not re.search(pattern, rc.log_text()), "30 days left at start: no warning yet"
    nextupdate = openssl_instant(["crl", "-in", str(pki.crl), "-noout", "-nextupdate"])
    # Ten days before the CRL's nextUpdate: more than a day of the clock since the last check.
    mark = len(rc.log_text())
    rc.set_clock((nextupdate - datetime.timedelta(days=10)).isoformat())
    rc.wait_for_log(pattern + r" .* in 10 days 00:00 h", since=mark)
    # Half a day later: not yet a day since that check, no second warning.
    mark = len(rc.log_text())
    rc.set_clock((nextupdate - datetime.timedelta(days=9, hours=12)).isoformat())
    ok(rc.admin.get("/healthz"))
    assert not re.search(pattern, rc.log_text()[mark:])
    # A day after the check: warned again.
    rc.set_clock((nextupdate - datetime.timedelta(days=9)).isoformat())
    rc.wait_for_log(pattern + r" .* in 9 days 00:00 h", since=mark)
    # Past it: an error saying clients are refused.
    rc.set_clock((nextupdate + datetime.timedelta(days=1)).isoformat())
    rc.wait_for_log(r"ERROR.*certificates: tls_crl \S+: the CRL's next update passed",
                    since=mark)
