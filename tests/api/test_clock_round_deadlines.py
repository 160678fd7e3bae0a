"""Every timer of the daemon follows the one clock (SPEC section 8), also when the test clock is
set before the machine's real date: a centre run for 30 days a month in the past gets its
round_overdue alerts every day, not only for the first week its creation scheduled.

(The defect: the periodic top-up of round deadlines ran first at start-up, when the test clock
still read the machine's date, and rescheduled itself 6 hours after that; moved back a month,
the clock never reached it.)
"""

import datetime

from harness import ok

UTC = datetime.timezone.utc
DAYS = 30


def test_centre_run_for_30_days_a_month_before_the_real_date(daemon_factory):
    rc = daemon_factory()
    today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - datetime.timedelta(days=DAYS + 10)
    rc.set_clock(start + datetime.timedelta(hours=9))
    centre = rc.unique("clock-")
    rc.create_centre(centre, timezone="UTC", grace_minutes=30)
    rc.create_resident(centre, arrival_date=start.date().isoformat())
    # The clock moves on in 6-hour steps, as the issue tried it.
    at = start + datetime.timedelta(hours=9)
    end = start + datetime.timedelta(days=DAYS, hours=9)
    while at < end:
        at += datetime.timedelta(hours=6)
        rc.set_clock(at)
    alerts = []
    after = None
    oncall = rc.api("admin")
    while True:
        path = f"/v1/alerts?centre={centre}&kind=round_overdue&state=all&limit=1000"
        page = ok(oncall.get(path + (f"&after={after}" if after else "")))
        alerts += page["items"]
        after = page.get("next")
        if not after:
            break
    days = sorted({a["details"]["date"] for a in alerts})
    # Every day from the first full one to the last whose rounds all fell due, three rounds each.
    expected = [(start + datetime.timedelta(days=d)).date().isoformat() for d in range(1, DAYS)]
    assert [d for d in expected if d not in days] == [], f"days without round_overdue: {days}"
    for day in expected:
        slots = sorted(a["details"]["slot"] for a in alerts if a["details"]["date"] == day)
        assert slots == [1, 2, 3], (day, slots)
