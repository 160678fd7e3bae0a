"""log_format = json (docs/config.md): every line the daemon writes is one JSON object, the
request lines carry request_id and account as members of their own, and SIGHUP switches the
format both ways."""

import json


def json_lines(text):
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]


def test_json_lines_from_start_to_stop_and_reloaded(daemon_factory):
    rc = daemon_factory(config={"log_format": "json", "log_level": "debug"})
    reply = rc.admin.get("/v1/accounts")
    assert reply.status == 200
    request_id = reply.headers["x-request-id"]
    rc.wait_for_log(request_id)
    records = json_lines(rc.log_text())
    assert all(set(r) >= {"ts", "level", "pid", "msg"} for r in records), records[:3]
    assert {r["level"] for r in records} <= {"error", "warn", "info", "debug"}
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine and all(r["account"] == "admin" for r in mine), mine
    assert any(r["msg"].startswith("GET /v1/accounts -> 200") for r in mine), mine

    # Back to text on SIGHUP: the lines after the reload are not JSON.
    rc.settings["log_format"] = "text"
    rc.write_config()
    since = len(rc.log_text())
    rc.sighup()
    reply = rc.admin.get("/v1/accounts")
    rc.wait_for_log(f"req={reply.headers['x-request-id']} cn=admin GET /v1/accounts", since=since)


def test_a_bad_log_format_is_refused_naming_the_key(daemon_factory):
    rc = daemon_factory(config={"log_format": "xml"}, start=False)
    code, output = rc.run_once(timeout=30)
    assert code != 0
    assert "'log_format': expected text or json" in output, output
