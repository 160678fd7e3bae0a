"""Bad input (SPEC section 8): malformed JSON, wrong types, unknown enum values and fields,
oversized bodies, wrong content types, unknown paths and wrong methods each get a fitting 4xx with
the error JSON naming the field, and change nothing in the database."""

import json

import pytest
from harness import error_of, ok

# The tables a refused request must leave exactly as they were.
TABLES = (
    "centres",
    "centre_authorities",
    "accounts",
    "account_centres",
    "residents",
    "stays",
    "phases",
    "observations",
    "resident_dob_history",
)


@pytest.fixture(scope="module")
def world(rc):
    rc.set_clock("2026-11-20T10:00:00+01:00")
    centre = rc.create_centre()["id"]
    rc.create_account("json-staff", "staff", [centre])
    resident = rc.create_resident(centre, arrival_date="2026-01-05")
    return {
        "centre": centre,
        "resident": resident["id"],
        "manager": rc.manager_of(centre),
        "staff": rc.api("json-staff"),
    }


def unchanged(rc, action):
    """Runs action() and asserts the business tables are exactly as before; returns its reply."""
    before = rc.db.snapshot(*TABLES)
    reply = action()
    assert rc.db.snapshot(*TABLES) == before, f"the database changed: {reply}"
    return reply


def resident_body(world, **fields):
    body = {
        "case_number": "JSON-1",
        "given_name": "Yonas",
        "family_name": "Tesfay",
        "date_of_birth": "2011-06-01",
        "centre": world["centre"],
        "arrival_date": "2026-02-01",
        "phase": 1,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def test_malformed_json_is_400_bad_json(rc, world):
    reply = unchanged(
        rc, lambda: world["manager"].post("/v1/residents", raw=b'{"case_number": "X-1", ')
    )
    assert error_of(reply, 400)["code"] == "bad_json"


@pytest.mark.parametrize(
    "raw",
    [b"[1, 2, 3]", b'"a string"', b"", b"\xff\xfe{}", b'{"case_number": "a\x00b"}'],
    ids=["array", "string", "empty", "not-utf8", "nul-in-string"],
)
def test_body_that_is_not_a_json_object_is_400(rc, world, raw):
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", raw=raw))
    error_of(reply, 400)


def test_escaped_nul_in_a_string_is_400(rc, world):
    # PostgreSQL cannot store U+0000 in text: it must be refused as bad input, not become a 500.
    raw = json.dumps(resident_body(world, given_name="a\u0000b")).encode()
    assert b"\\u0000" in raw
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", raw=raw))
    error_of(reply, 400)


def test_duplicate_member_is_400(rc, world):
    raw = json.dumps(resident_body(world))[:-1] + ', "phase": 2}'
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", raw=raw.encode()))
    error_of(reply, 400)


@pytest.mark.parametrize(
    "field, value",
    [
        ("case_number", 1234),
        ("given_name", ["Yonas"]),
        ("date_of_birth", "2011-02-30"),
        ("date_of_birth", "01/06/2011"),
        ("arrival_date", 20260201),
        ("phase", "two"),
        ("phase", 2.5),
        ("phase", True),
        ("centre", None),
    ],
)
def test_wrong_type_is_400_naming_the_field(rc, world, field, value):
    body = resident_body(world, **{field: value})
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", json=body))
    err = error_of(reply, 400)
    assert err.get("field") == field, err


def test_missing_required_field_is_400_naming_it(rc, world):
    body = resident_body(world, case_number=...)
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", json=body))
    err = error_of(reply, 400)
    assert err.get("field") == "case_number", err


def test_unknown_field_is_400_naming_it(rc, world):
    body = resident_body(world, nickname="Jo")
    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", json=body))
    err = error_of(reply, 400)
    assert err.get("field") == "nickname", err


def test_unknown_enum_value_is_400_naming_the_field(rc, world):
    reply = unchanged(
        rc,
        lambda: rc.admin.post(
            "/v1/accounts", json={"cn": "enum-test", "role": "janitor", "centres": []}
        ),
    )
    err = error_of(reply, 400)
    assert err.get("field") == "role", err

    reply = unchanged(rc, lambda: world["manager"].post("/v1/residents", json=resident_body(world, phase=4)))
    assert error_of(reply, 400).get("field") == "phase"


def test_unknown_enum_in_a_nested_array_names_its_path(rc, world):
    path = f"/v1/centres/{world['centre']}/rounds/2026-11-20/1"
    body = {"observations": [{"resident": world["resident"], "status": "asleep"}]}
    reply = unchanged(rc, lambda: world["staff"].post(path, json=body))
    err = error_of(reply, 400)
    assert err.get("field") == "observations[0].status", err

    body = {"observations": [{"resident": world["resident"], "status": "excused", "reason": "holiday"}]}
    reply = unchanged(rc, lambda: world["staff"].post(path, json=body))
    assert error_of(reply, 400).get("field") == "observations[0].reason"


def test_oversized_body_is_413_and_changes_nothing(rc, world):
    # 1 MiB is the default max_body_bytes; a note a little over it.
    body = resident_body(world, given_name="x" * (1024 * 1024 + 10))
    payload = json.dumps(body).encode()
    request = (
        b"POST /v1/residents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    before = rc.db.snapshot(*TABLES)
    status, response, _ = rc.raw(request, cn=world["manager"].cn)
    assert status == 413, response[:500]
    head, _, text = response.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    assert rc.db.snapshot(*TABLES) == before


def test_oversized_chunked_body_is_413(rc, world):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    request = (
        b"POST /v1/residents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
    )
    before = rc.db.snapshot(*TABLES)
    status, response, _ = rc.raw(request, cn=world["manager"].cn)
    assert status == 413, response[:500]
    assert rc.db.snapshot(*TABLES) == before


def test_wrong_content_type_is_415(rc, world):
    body = json.dumps(resident_body(world)).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        reply = unchanged(
            rc,
            lambda: world["manager"].post(
                "/v1/residents", raw=body, headers={"Content-Type": content_type}
            ),
        )
        error_of(reply, 415)


def test_json_content_type_with_charset_is_accepted(rc, world):
    body = json.dumps(resident_body(world, case_number="JSON-CHARSET")).encode()
    reply = world["manager"].post(
        "/v1/residents", raw=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    ok(reply, 201)


def test_unknown_path_is_404_with_error_json(rc, world):
    for path in ("/v1/nothing-here", "/v2/centres", "/v1/centres/x/y/z/w"):
        error_of(rc.admin.get(path), 404)
    error_of(rc.admin.get("/v1/residents/999999999"), 404)


def test_wrong_method_is_405_with_error_json(rc, world):
    reply = unchanged(rc, lambda: rc.admin.delete("/v1/centres"))
    error_of(reply, 405)
    reply = unchanged(rc, lambda: rc.admin.put(f"/v1/residents/{world['resident']}", json={}))
    error_of(reply, 405)
    reply = unchanged(rc, lambda: rc.admin.post("/healthz", json={}))
    error_of(reply, 405)


@pytest.mark.parametrize(
    "query, field",
    [("on=2026-13-01", "on"), ("on=yesterday", "on"), ("colour=blue", "colour")],
)
def test_bad_query_parameter_is_400_naming_it(rc, world, query, field):
    reply = world["staff"].get(f"/v1/centres/{world['centre']}/residents?{query}")
    assert error_of(reply, 400).get("field") == field


def test_bad_path_parameter_is_4xx(rc, world):
    for path in (
        f"/v1/centres/{world['centre']}/rounds/2026-02-30/1",
        f"/v1/centres/{world['centre']}/rounds/2026-11-20/4",
        f"/v1/centres/{world['centre']}/rounds/2026-11-20/one",
        "/v1/residents/abc",
    ):
        reply = world["staff"].get(path)
        assert reply.status in (400, 404), (path, reply)
        error_of(reply, reply.status)


def test_refused_requests_left_the_first_resident_alone(rc, world):
    # After every refusal above, the one resident created by the fixture is still as it was.
    body = ok(world["staff"].get(f"/v1/residents/{world['resident']}"))
    assert body["id"] == world["resident"]
    assert rc.db.count("residents", "case_number LIKE 'JSON-%' AND case_number <> 'JSON-CHARSET'") == 0
