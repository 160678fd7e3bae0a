"""The world builder: instants and local times, and Centre, a centre on a daemon with the
accounts its tests act as, residents, rounds, absences, alerts, notifications, statements,
payouts and sanctions, each a thin wrapper of the API (the API is what is under test).

    rc.set_clock(at("2026-11-20", "08:00"))
    centre = Centre(rc, prefix="tonder-", staff=True, oncall=True)
    r = centre.resident()                         # the created resident (JSON)
    centre.round("2026-11-20", 1, {r["id"]: "present"})
    absence = centre.report(r["id"], expect=(201,))
    centre.alerts(state="open"); centre.notifications(absence["id"])
"""

import datetime
import time
import zoneinfo

from .api import ok

COPENHAGEN = zoneinfo.ZoneInfo("Europe/Copenhagen")
UTC = datetime.timezone.utc
AUTHORITIES = ("municipality", "police", "immigration")


def instant(text):
    """An aware datetime from the API's RFC 3339 text ("Z" or an offset); None stays None and
    a datetime is returned as it is."""
    if text is None or isinstance(text, datetime.datetime):
        return text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def local(day, hhmm="12:00", tz=COPENHAGEN):
    """The instant of local time hhmm on day (YYYY-MM-DD) in tz (default Copenhagen)."""
    return datetime.datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=tz)


def at(day, hhmm="12:00", tz=COPENHAGEN):
    """local() as RFC 3339 text, for PUT /v1/clock and request bodies."""
    return local(day, hhmm, tz).isoformat()


def wait_until(predicate, timeout=20.0, interval=0.1, what="condition"):
    """Polls predicate() until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def _expect(reply, expect):
    return ok(reply, *((expect,) if isinstance(expect, int) else expect))


def _query(path, query):
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


class Centre:
    """A centre created through the API on daemon rc, with the accounts its tests act as.

    centre_id, or rc.unique(prefix); other keywords are the centre's fields (name, operator,
    capacity, check_times, free_meals, timezone, authorities, ...). Accounts: manager (created
    at once unless manager=False; rc.manager_of(id), cn manager-<id>), staff and on-call when
    staff=True / oncall=True (cn staff-<id> and oncall-<id> unless staff_cn / oncall_cn name
    others). The Api objects are .manager, .staff and .oncall; a role not created at once is
    created on first use of its attribute."""

    def __init__(self, rc, centre_id=None, *, prefix="centre", manager=True, staff=False,
                 oncall=False, staff_cn=None, oncall_cn=None, **fields):
        self.rc = rc
        self.body = rc.create_centre(centre_id or rc.unique(prefix), **fields)
        self.id = self.body["id"]
        self.staff_cn = staff_cn or f"staff-{self.id}"
        self.oncall_cn = oncall_cn or f"oncall-{self.id}"
        self._staff = self._oncall = self._manager = None
        if staff:
            self._staff = self._account(self.staff_cn, "staff")
        if oncall:
            self._oncall = self._account(self.oncall_cn, "oncall")
        if manager:
            self._manager = rc.manager_of(self.id)

    # A Centre made with Centre.__new__ (for a centre created otherwise) has no accounts yet.
    _staff = _oncall = _manager = None

    def _account(self, cn, role):
        self.rc.create_account(cn, role, [self.id])
        return self.rc.api(cn)

    @property
    def staff(self):
        if self._staff is None:
            self._staff = self._account(self.staff_cn, "staff")
        return self._staff

    @staff.setter
    def staff(self, api):
        self._staff = api

    @property
    def oncall(self):
        if self._oncall is None:
            self._oncall = self._account(self.oncall_cn, "oncall")
        return self._oncall

    @oncall.setter
    def oncall(self, api):
        self._oncall = api

    @property
    def manager(self):
        if self._manager is None:
            self._manager = self.rc.manager_of(self.id)
        return self._manager

    @manager.setter
    def manager(self, api):
        self._manager = api

    def account(self, role, cn=None, centres=None):
        """A further account of role for this centre (or centres); returns its Api."""
        cn = cn or self.rc.unique(f"{role}-{self.id}-")
        self.rc.create_account(cn, role, list(centres or [self.id]))
        return self.rc.api(cn)

    # -- residents ------------------------------------------------------------------------------

    def resident(self, **fields):
        """Creates a resident (as the manager; defaults: born 2012-03-10, arrived 2026-01-05,
        phase 1) and returns it as the API answered (JSON)."""
        return self.rc.create_resident(self.id, **fields)

    def resident_id(self, **fields):
        """Creates a resident as resident() does; returns only its id."""
        return self.rc.create_resident(self.id, **fields)["id"]

    def residents(self, count, **fields):
        """count residents over one kept-alive connection; returns their ids."""
        ids = []
        with self.manager.session() as s:
            for _ in range(count):
                body = {"case_number": self.rc.unique(f"T{self.rc.port}-"),
                        "given_name": "Amina", "family_name": "Test",
                        "date_of_birth": "2012-03-10", "centre": self.id,
                        "arrival_date": "2026-01-05", "phase": 1}
                body.update(fields)
                ids.append(ok(s.post("/v1/residents", json=body), 201)["id"])
        return ids

    # -- rounds and absences (as staff) ---------------------------------------------------------

    def round(self, day, slot, observations, api=None, timeout=30):
        """POST a round: observations is {resident: status}."""
        body = {"observations": [{"resident": r, "status": s} for r, s in observations.items()]}
        return ok((api or self.staff).post(f"/v1/centres/{self.id}/rounds/{day}/{slot}",
                                           json=body, timeout=timeout))

    def report(self, resident, expect=(201, 200), api=None, **body):
        """Reports resident absent (POST .../absences with body); expect: status or statuses."""
        reply = (api or self.staff).post(f"/v1/residents/{resident}/absences", json=body)
        return _expect(reply, expect)

    def returned(self, absence_id, expect=200, api=None, **body):
        """POST /v1/absences/{id}/return with body (e.g. at=...)."""
        reply = (api or self.staff).post(f"/v1/absences/{absence_id}/return", json=body)
        return _expect(reply, expect)

    def absence(self, absence_id):
        return ok(self.staff.get(f"/v1/absences/{absence_id}"))

    def open_absence(self, resident):
        items = ok(self.staff.get(f"/v1/absences?centre={self.id}&open=true&resident={resident}"))[
            "items"
        ]
        assert len(items) <= 1, items
        return items[0] if items else None

    # -- alerts and notifications ---------------------------------------------------------------

    def alerts(self, kind=None, api=None, **query):
        """Every alert of the centre (all pages, oldest first) as on-call; kind and the other
        keywords are the list's query parameters (state, limit, ...)."""
        query.setdefault("centre", self.id)
        if kind:
            query["kind"] = kind
        return (api or self.oncall).pages("/v1/alerts", **query)

    def alerts_of(self, kind, **query):
        """alerts(), filtered by kind here rather than by the server."""
        return [a for a in self.alerts(**query) if a["kind"] == kind]

    def notifications(self, absence=None, api=None, limit=200, **query):
        """Every item of GET /v1/notifications (all pages) as staff (or api), of absence if
        given; the other keywords are query parameters."""
        if absence is not None:
            query["absence"] = absence
        return (api or self.staff).pages("/v1/notifications", limit=limit, **query)

    def wait_notifications(self, predicate, timeout=20.0, what="notification states", **query):
        """Polls notifications(**query) until predicate(items); returns the items."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.notifications(**query)
            if predicate(items):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {items}")
            time.sleep(0.05)

    def stream(self, cn=None, **kw):
        """The centre's alert stream (SSE) as cn (default the on-call account)."""
        from .sse import SseStream

        if cn is None:
            self.oncall  # noqa: B018  (created on first use)
            cn = self.oncall_cn
        return SseStream(self.rc, cn, self.id, **kw)

    # -- allowances (as the manager) ------------------------------------------------------------

    def statement_reply(self, resident_id, start):
        return self.manager.get(f"/v1/residents/{resident_id}/statements/{start}")

    def statement(self, resident_id, start):
        """A resident's statement for the period starting start, checked to add up."""
        from .allowance import check_arithmetic

        st = ok(self.statement_reply(resident_id, start), 200)
        check_arithmetic(st)
        return st

    def statements(self, start, **query):
        path = _query(f"/v1/centres/{self.id}/statements/{start}", query)
        return ok(self.manager.get(path, timeout=120), 200)

    def csv_reply(self, start):
        return self.manager.get(
            f"/v1/centres/{self.id}/statements/{start}",
            headers={"Accept": "text/csv"},
            timeout=120,
        )

    def sanction(self, resident_id, expect=201, **body):
        reply = self.manager.post(f"/v1/residents/{resident_id}/sanctions", json=body)
        assert reply.status == expect, f"{reply.status}: {reply.body}"
        return reply.body

    def agreement(self, resident_id, expect=201, **body):
        reply = self.manager.post(f"/v1/residents/{resident_id}/agreements", json=body)
        assert reply.status == expect, f"{reply.status}: {reply.body}"
        return reply.body

    def payout_reply(self, resident_id, start, collected_by="self", headers=None):
        return self.manager.post(
            f"/v1/residents/{resident_id}/payouts",
            json={"period_start": start, "collected_by": collected_by},
            headers=headers,
        )

    def payout(self, resident_id, start, collected_by="self"):
        return ok(self.payout_reply(resident_id, start, collected_by), 201)

    def report_absence(self, resident_id):
        """Reports resident absent as the manager (200 or 201)."""
        return self.report(resident_id, expect=(200, 201), api=self.manager)

    def return_absence(self, absence_id, at=None):
        """Records the return as the manager, at the given instant or now."""
        body = {"at": at} if at else {}
        return self.returned(absence_id, api=self.manager, **body)


class Clock:
    """The test clock of a daemon, remembered here so tests can move it relative to now."""

    def __init__(self, rc, start):
        self.rc = rc
        self.set(start)

    def set(self, when):
        self.now = instant(when)
        self.rc.set_clock(self.now.isoformat())
        return self.now

    def advance(self, **delta):
        """Moves the clock on by datetime.timedelta(**delta)."""
        return self.set(self.now + datetime.timedelta(**delta))
