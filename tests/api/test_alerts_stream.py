"""The live alert stream (SPEC sections 4 and 10): GET /v1/centres/{id}/alerts/stream as
Server-Sent Events for on-call staff and managers of the centre, an `id:` on every event,
Last-Event-ID replaying everything missed, heartbeat comments on idle streams."""

import pytest
from alerts_helpers import Centre, SseStream, at, wait_until
from harness import error_of

DAY = "2026-11-20"


@pytest.fixture
def centre(rc):
    rc.set_clock(at(DAY, "08:00"))
    return Centre(rc)


def report_absence(rc, centre, hhmm):
    resident = centre.resident()
    rc.set_clock(at(DAY, hhmm))
    return centre.report(resident, expect=(201,))


def test_a_raised_alert_reaches_the_watcher_live(rc, centre):
    with centre.stream() as watcher:
        assert watcher.status == 200
        assert watcher.headers["content-type"].startswith("text/event-stream")
        wait_until(lambda: watcher.head is not None, what="the stream's head comment")
        absence = report_absence(rc, centre, "10:00")
        ev = watcher.next(timeout=10)
        assert ev.name == "alert" and isinstance(ev.id, int)
        body = ev.alert
        assert body["kind"] == "resident_absent" and body["absence"] == absence["id"]
        assert body["centre"] == centre.id


def test_managers_watch_too_and_see_escalations(rc, centre):
    with centre.stream(cn=f"manager-{centre.id}") as watcher:
        wait_until(lambda: watcher.head is not None)
        report_absence(rc, centre, "10:00")
        raised = watcher.next()
        rc.set_clock(at(DAY, "10:15"))
        # 10:05, 10:10 were missed by the clock jump of 15 minutes: announced once, escalated.
        escalated = watcher.collect(
            lambda evs: any(e.alert.get("escalated_at") for e in evs), names=("alert",))
        assert [e.alert["id"] for e in escalated if e.alert.get("escalated_at")] == [
            raised.alert["id"]]


def test_reconnect_with_last_event_id_replays_everything_missed(rc, centre):
    with centre.stream() as first:
        wait_until(lambda: first.head is not None)
        report_absence(rc, centre, "10:00")
        seen = first.next()
    # Disconnected: three more alerts, and an acknowledgement, happen meanwhile.
    missed = [report_absence(rc, centre, f"10:0{i}")["id"] for i in (1, 2, 3)]
    with centre.stream(last_event_id=seen.id) as second:
        replayed = second.collect(lambda evs: len(evs) >= 3, names=("alert",))
        assert [e.alert["absence"] for e in replayed] == missed
        assert [e.id for e in replayed] == sorted(e.id for e in replayed)
        assert all(e.id > seen.id for e in replayed)
        # Then it goes on live, without repeating what was replayed.
        live = report_absence(rc, centre, "10:04")
        ev = second.next()
        assert ev.alert["absence"] == live["id"]
        assert second.drain(quiet=0.5, names=("alert",)) == []


def test_acknowledgements_are_on_the_stream_too(rc, centre):
    report_absence(rc, centre, "10:00")
    alert = centre.alerts_of("resident_absent")[0]
    with centre.stream() as watcher:
        wait_until(lambda: watcher.head is not None)
        rc.set_clock(at(DAY, "10:01"))
        centre.oncall.post(f"/v1/alerts/{alert['id']}/ack", json={})
        ev = watcher.next(names=("alert_acked",))
        assert ev.alert["id"] == alert["id"] and ev.alert["acked_by"] == centre.oncall_cn


def test_heartbeat_comments_keep_an_idle_stream_alive(daemon_factory):
    rc = daemon_factory(config={"sse_heartbeat": "1"})
    rc.set_clock(at(DAY, "08:00"))
    centre = Centre(rc)
    with centre.stream() as watcher:
        wait_until(lambda: watcher.comments.count("hb") >= 2, timeout=6,
                   what="two heartbeat comments")
        assert not watcher.closed.is_set()


def test_only_oncall_and_managers_of_the_centre_may_watch(rc, centre):
    staff = SseStream(rc, centre.staff_cn, centre.id)
    assert staff.status == 403
    other = Centre(rc, prefix="other")
    foreign = SseStream(rc, other.oncall_cn, centre.id)
    assert foreign.status == 403
    unknown = SseStream(rc, centre.oncall_cn, "no-such-centre")
    assert unknown.status in (403, 404)


def test_a_bad_last_event_id_is_refused(rc, centre):
    watcher = SseStream(rc, centre.oncall_cn, centre.id, last_event_id="abc")
    assert watcher.status == 400


def test_every_watcher_gets_every_event(rc, centre):
    watchers = [centre.stream() for _ in range(20)]
    try:
        for w in watchers:
            wait_until(lambda w=w: w.head is not None)
        ids = [report_absence(rc, centre, f"11:{i:02d}")["id"] for i in range(5)]
        for w in watchers:
            got = w.collect(lambda evs: len(evs) >= 5, names=("alert",))
            assert [e.alert["absence"] for e in got] == ids
    finally:
        for w in watchers:
            w.close()


def test_alerts_list_for_a_centre_the_caller_cannot_see_is_refused(rc, centre):
    other = Centre(rc, prefix="nosee")
    error_of(other.oncall.get(f"/v1/alerts?centre={centre.id}"), 403)
