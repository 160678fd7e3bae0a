"""`rollcall notifications` and the authority's phone (issue 15, defect 7): each notification
shows the resident, the absence, the authority, its delivery state and its receipt, in the
centre's local time with the zone; a centre keeps an optional phone number per authority
(centres' authorities[].phone, migration 016_authority_phone), and a notification_failing alert
("phone them") shows it in `alerts`."""

import json

from harness import error_of, ok
from harness.world import Centre, at, wait_until

DAY = "2026-11-20"
SECRET = "whsec_c2VjcmV0a2V5MTIzNDU="
# Nothing listens there: every delivery fails.
DEAD = "https://127.0.0.1:9/hook"


def test_phone_is_kept_shown_and_checked(rc):
    rc.set_clock(at(DAY, "09:00"))
    centre = Centre(rc, prefix="phone", authorities=[
        {"kind": "police", "url": DEAD, "secret": SECRET, "phone": "+45 72 58 14 48"},
        {"kind": "municipality", "url": DEAD, "secret": SECRET}])
    got = ok(rc.admin.get(f"/v1/centres/{centre.id}"))
    phones = {a["kind"]: a["phone"] for a in got["authorities"]}
    assert phones == {"police": "+45 72 58 14 48", "municipality": None}
    assert all("secret" not in a for a in got["authorities"])
    bad = rc.admin.patch(f"/v1/centres/{centre.id}", json={"authorities": [
        {"kind": "police", "url": DEAD, "phone": "call me"}]})
    assert error_of(bad, 400)["field"] == "authorities[0].phone"


def test_notifications_show_resident_state_and_phone(rc):
    rc.set_clock(at(DAY, "09:00"))
    centre = Centre(rc, prefix="notes", staff=True, oncall=True, authorities=[
        {"kind": "police", "url": DEAD, "secret": SECRET, "phone": "+45 72 58 14 48"}])
    resident = centre.resident(case_number=rc.unique("NOT-"), given_name="Farid",
                               family_name="Noori", arrival_date="2026-01-05")
    absence = centre.report(resident["id"], expect=(201,), concern="left with an adult")
    code, out, err = rc.client(centre.staff_cn, "notifications", "--absence", str(absence["id"]))
    assert code == 0, err
    line = [x for x in out.splitlines() if "police" in x][0]
    assert f"{resident['case_number']} Farid Noori" in line
    assert str(absence["id"]) in line and "absence.reported" in line
    assert f"{DAY} 09:00 CET" in line and "NOT DELIVERED" in line
    code, out, err = rc.client(centre.staff_cn, "--json", "notifications", "--absence",
                               str(absence["id"]))
    assert code == 0, err
    items = json.loads(out)["items"]
    assert sorted(n["authority"] for n in items) == ["immigration", "municipality", "police"]

    # 15 minutes undelivered: notification_failing, and `alerts` gives the number to phone.
    rc.set_clock(at(DAY, "09:20"))
    wait_until(lambda: centre.alerts_of("notification_failing"), what="notification_failing")
    code, out, err = rc.client(centre.oncall_cn, "alerts", "--centre", centre.id)
    assert code == 0, err
    lines = [x for x in out.splitlines() if "notification_failing" in x]
    police = [x for x in lines if "police cannot be reached" in x]
    assert police and "phone them at +45 72 58 14 48" in police[0], lines
    # And the notification itself says it is failing, with the number.
    code, out, err = rc.client(centre.staff_cn, "notifications", "--absence", str(absence["id"]))
    assert code == 0, err
    line = [x for x in out.splitlines() if "police" in x][0]
    assert "NOT DELIVERED: failing, phone +45 72 58 14 48" in line, line
    # An authority without a number is still to be phoned, without one shown.
    others = [x for x in lines if "police" not in x]
    assert others and all(x.rstrip().endswith("phone them") or "phone them  " in x
                          for x in others), others


def test_refusal_messages_show_instants_in_the_centre_time(rc):
    """The server's 409 for a second payout names the first payout's instant: the client shows
    it in the centre's local time with its zone, not as the server's UTC text."""
    rc.set_clock(at("2026-01-19", "10:02"))
    centre = Centre(rc, prefix="refuse")
    r = centre.resident(phase=2)
    cn = f"manager-{centre.id}"
    code, _out, err = rc.client(cn, "payout", r["case_number"], "2026-01-05")
    assert code == 0, err
    code, _out, err = rc.client(cn, "payout", r["case_number"], "2026-01-05")
    assert code == 1 and "already_paid" in err, err
    refusal = [x for x in err.splitlines() if x.startswith("rollcall: refused:")][0]
    assert "2026-01-19 10:02 CET" in refusal, refusal
    assert "T09:02" not in refusal
    # The finance CSV shows when it was paid at the centre: local time with its offset.
    code, out, err = rc.client(cn, "statements", "--centre", centre.id, "2026-01-05", "--csv")
    assert code == 0, err
    header, *rows = out.splitlines()
    column = header.split(";").index("paid_at")
    paid = [r.split(";")[column] for r in rows if r.split(";")[column]]
    assert paid == ["2026-01-19T10:02:00+01:00"], out


def test_notifications_show_the_receipt(rc):
    """A receipt given by phone (SPEC section 5, v2) shows with the notification: when and by
    whom, in the centre's time."""
    rc.set_clock(at(DAY, "09:00"))
    centre = Centre(rc, prefix="receipt", staff=True, authorities=[
        {"kind": "police", "url": DEAD, "secret": SECRET}])
    resident = centre.resident(case_number=rc.unique("REC-"), arrival_date="2026-01-05")
    absence = centre.report(resident["id"], expect=(201,), concern="worried")
    police = [n for n in centre.notifications(absence["id"]) if n["authority"] == "police"][0]
    rc.set_clock(at(DAY, "09:30"))
    reply = centre.staff.post(f"/v1/notifications/{police['event_id']}/receipt",
                              json={"received_by": "Betjent Hansen", "reference": "R-17"})
    assert reply.status in (200, 201), reply.body
    code, out, err = rc.client(centre.staff_cn, "notifications", "--absence", str(absence["id"]))
    assert code == 0, err
    line = [x for x in out.splitlines() if "police" in x][0]
    assert f"confirmed {DAY} 09:30 CET by Betjent Hansen" in line, line
