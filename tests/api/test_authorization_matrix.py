"""The authorisation matrix (SPEC section 7): every route of the daemon called by every kind of
account, against docs/authorization.md, the one table of who may call what. The table must
list every route of daemon/routes_*.c. A refusal across centres is 403 and does not name the
centre the object belongs to.
"""

import re

import pytest
from alerts_helpers import Centre
from harness import ROOT, at, ok

DOC = ROOT / "docs" / "authorization.md"
IDENTITIES = ("admin", "manager", "staff", "oncall", "authority", "metrics", "other",
              "disabled")
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
PERIOD = "2026-11-09"


def matrix():
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| `([A-Z]+) (/[^`]*)` \|(.*)\|$", line)
        if m:
            cells = [c.strip() for c in m.group(3).split("|")]
            assert len(cells) == len(IDENTITIES), line
            rows[(m.group(1), m.group(2))] = dict(zip(IDENTITIES, cells))
    return rows


def daemon_routes():
    """(method, pattern) of every route in daemon/routes_*.c, both ways they are written."""
    found = set()
    for source in sorted((ROOT / "daemon").glob("routes_*.c")):
        text = source.read_text()
        found |= set(re.findall(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)"', text))
        found |= set(re.findall(r'\.method = "([A-Z]+)",\s*\.pattern = "(/[^"]*)"', text))
    return found


def test_the_table_lists_every_route():
    table, routes = set(matrix()), daemon_routes()
    assert len(routes) > 40, routes
    assert sorted(routes - table) == [], "routes missing from docs/authorization.md"
    assert sorted(table - routes) == [], "docs/authorization.md lists routes the daemon lacks"


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock(at("2026-11-20", "10:00"))
    a = Centre(rc, "authz-a", authorities=[
        {"kind": k, "url": f"https://127.0.0.1:1/{k}", "secret": SECRET}
        for k in ("municipality", "police", "immigration")])
    b = Centre(rc, "authz-b")
    resident = a.resident()
    other_resident = b.resident()
    absence = a.report(resident, concern="left with an older man")["id"]
    [alert] = [x["id"] for x in a.alerts_of("resident_absent")]
    incident = ok(a.manager.post(f"/v1/residents/{resident}/incidents", json={
        "kind": "in10", "occurred_at": at("2026-11-20", "09:00"),
        "description": "held back"}), 201)["id"]
    rc.create_account("police-authz", "authority", [a.id], authority="police")
    rc.create_account("metrics-authz", "metrics")
    rc.create_account("staff-b-authz", "staff", [b.id])
    rc.create_account("oncall-b-authz", "oncall", [b.id])
    rc.create_account("disabled-authz", "staff", [a.id])
    ok(rc.admin.patch("/v1/accounts/disabled-authz", json={"disabled": True}))
    rc.create_account("victim-authz", "staff", [a.id])
    apis = {
        "admin": rc.admin, "manager": a.manager, "staff": a.staff, "oncall": a.oncall,
        "authority": rc.api("police-authz"), "metrics": rc.api("metrics-authz"),
        "other": rc.api("staff-b-authz"),
        "disabled": rc.api("disabled-authz"), "other-oncall": rc.api("oncall-b-authz"),
    }
    # The police's notification of the concern above, for its receipt route.
    [event] = [n["event_id"] for n in ok(rc.admin.get(f"/v1/notifications?absence={absence}"))[
        "items"] if n["authority"] == "police" and n["type"] == "absence.reported"]
    return {"rc": rc, "a": a, "b": b, "resident": resident, "other_resident": other_resident,
            "absence": absence, "alert": alert, "incident": incident, "apis": apis,
            "event": event}


def request_for(method, pattern, w, n):
    """A well-formed request for the route, about centre A's objects: only the account decides
    whether it is served. n makes created things unique."""
    a, r = w["a"].id, w["resident"]
    path = (pattern.replace("{cn}", "victim-authz").replace("{date}", "2026-11-20")
            .replace("{slot}", "1").replace("{period_start}", PERIOD)
            .replace("{kind}", "round_overdue").replace("{event_id}", w["event"])
            .replace("{file}", "board.js"))
    if pattern.startswith("/v1/centres/{id}"):
        path = path.replace("{id}", a)
    elif pattern.startswith("/v1/residents/{id}"):
        path = path.replace("{id}", str(r))
    elif pattern.startswith("/v1/absences/{id}"):
        path = path.replace("{id}", str(w["absence"]))
    elif pattern.startswith("/v1/alerts/{id}"):
        path = path.replace("{id}", str(w["alert"]))
    elif pattern.startswith("/v1/incidents/{id}"):
        path = path.replace("{id}", str(w["incident"]))
    bodies = {
        ("PUT", "/v1/clock"): {"now": at("2026-11-20", "10:00")},
        ("POST", "/v1/accounts"): {"cn": f"new-authz-{n}", "role": "staff", "centres": [a]},
        ("PATCH", "/v1/accounts/{cn}"): {"disabled": False},
        ("POST", "/v1/centres"): {"id": f"new-authz-{n}", "name": "N", "operator": "O",
                                  "capacity": 5},
        ("PATCH", "/v1/centres/{id}"): {"capacity": 77},
        ("POST", "/v1/residents"): {
            "case_number": f"AUTHZ-{n}", "given_name": "A", "family_name": "B",
            "date_of_birth": "2012-03-10", "centre": a, "arrival_date": "2026-01-05",
            "phase": 1},
        ("POST", "/v1/centres/{id}/residents/import"): {"residents": [{
            "case_number": f"AUTHZ-IMP-{n}", "given_name": "A", "family_name": "B",
            "date_of_birth": "2012-03-10", "arrival_date": "2026-01-05"}]},
        ("PATCH", "/v1/residents/{id}"): {"given_name": "Amina"},
        ("POST", "/v1/residents/{id}/phases"): {"phase": 2, "from": "2026-11-20"},
        ("POST", "/v1/centres/{id}/rounds/{date}/{slot}"): {
            "observations": [{"resident": r, "status": "absent"}]},
        ("POST", "/v1/residents/{id}/absences"): {},
        ("POST", "/v1/absences/{id}/concern"): {"text": "still missing"},
        ("POST", "/v1/absences/{id}/return"): {"at": at("2026-11-20", "09:59")},
        ("POST", "/v1/alerts/{id}/ack"): {},
        ("POST", "/v1/notifications/{event_id}/receipt"): {"received_by": f"Duty officer {n}"},
        ("PUT", "/v1/residents/{id}/profile"): {"description": f"version {n}"},
        # The kind's default: the matrix changes nothing other tests see.
        ("PUT", "/v1/alert-kinds/{kind}"): {"repeat_minutes": 5},
        ("POST", "/v1/residents/{id}/incidents"): {
            "kind": "in10", "occurred_at": at("2026-11-20", "09:00"), "description": "x"},
        ("POST", "/v1/rates"): {"kind": "base", "per_day_ore": 5841,
                                "valid_from": f"{2100 + n % 800}-01-01",
                                "valid_to": f"{2100 + n % 800}-01-01"},
        ("POST", "/v1/residents/{id}/sanctions"): {
            "from": "2026-11-10", "to": "2026-11-10", "percent": 10, "reason": "x",
            "heard_at": at("2026-11-10", "09:00")},
        ("POST", "/v1/residents/{id}/agreements"): {"proxy_name": f"Proxy {n}",
                                                    "from": "2026-11-20", "to": None},
        ("POST", "/v1/residents/{id}/payouts"): {"period_start": PERIOD,
                                                 "collected_by": "self"},
    }
    body = bodies.get((method, pattern))
    if method in ("POST", "PUT", "PATCH") and body is None:
        body = {}
    return path, body


def call(api, method, path, body):
    if path.endswith("/alerts/stream"):
        # An accepted stream stays open: only the status line matters here.
        conn = api.connect(timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, ""
        finally:
            conn.close()
    reply = api.request(method, path, json=body)
    return reply.status, reply.body


def test_every_route_with_every_account(world):
    table = matrix()
    wrong = []
    n = 0
    for (method, pattern), cells in sorted(table.items()):
        for who in IDENTITIES:
            n += 1
            path, body = request_for(method, pattern, world, n)
            status, answer = call(world["apis"][who], method, path, body)
            expected = cells[who]
            if expected in ("yes", "own") and status == 403:
                wrong.append(f"{who} {method} {path}: 403 {answer}, table says {expected}")
            if expected in ("no", "centre") and status != 403:
                wrong.append(f"{who} {method} {path}: {status}, table says 403")
    assert wrong == [], "\n".join(wrong)


def test_own_lists_hold_only_the_accounts_centres(world):
    other = world["apis"]["other"]
    a = world["a"].id
    centres = ok(other.get("/v1/centres"))["items"]
    assert [c["id"] for c in centres] == [world["b"].id]
    for path in ("/v1/absences", "/v1/notifications", "/v1/incidents"):
        items = ok(other.get(path + "?limit=1000"))["items"]
        assert all(i["centre"] != a for i in items), (path, items)
    # The authority of centre A reads the police's deliveries only.
    items = ok(world["apis"]["authority"].get("/v1/notifications?limit=1000"))["items"]
    assert items and {i["authority"] for i in items} == {"police"}, items


@pytest.mark.parametrize("kind", ["residents", "absences", "alerts", "incidents"])
def test_refusal_across_centres_does_not_name_the_centre(world, kind):
    # The alerts' routes are not staff's: on-call staff of centre B ask for those.
    other = world["apis"]["other-oncall" if kind == "alerts" else "other"]
    existing = {"residents": world["resident"], "absences": world["absence"],
                "alerts": world["alert"], "incidents": world["incident"]}[kind]
    path = {"residents": "/v1/residents/{}", "absences": "/v1/absences/{}",
            "alerts": "/v1/alerts/{}/ack", "incidents": "/v1/incidents/{}"}[kind]
    method = "POST" if kind == "alerts" else "GET"
    body = {} if method == "POST" else None
    seen = other.request(method, path.format(existing), json=body)
    assert seen.status == 403, seen
    assert world["a"].id not in str(seen.body), seen
    assert str(existing) in seen.body["error"]["message"], seen
    # An id that does not exist is 404 for everybody (a choice: docs/authorization.md).
    missing = other.request(method, path.format(99999999), json=body)
    assert missing.status == 404, missing
