"""Helpers for the absence and alert tests (issue 4): a Server-Sent Events client that reads a
daemon's alert stream in a background thread, the Tønder set-up of SPEC section 9, and small
wrappers for rounds, the clock, alerts and notifications. Used with the fixtures of
conftest.py."""

import datetime
import json
import queue
import socket
import threading
import time
import zoneinfo

from conftest import ok

COPENHAGEN = zoneinfo.ZoneInfo("Europe/Copenhagen")
UTC = datetime.timezone.utc
ALERT_ROLES = ("oncall", "manager")


def instant(text):
    """An aware datetime from the API's RFC 3339 text (or None)."""
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def local(day, hhmm):
    """The instant of local time hhmm on day (YYYY-MM-DD) in Copenhagen."""
    return datetime.datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=COPENHAGEN)


def at(day, hhmm):
    """local() as RFC 3339 text, for PUT /v1/clock and request bodies."""
    return local(day, hhmm).isoformat()


# --------------------------------------------------------------------------------------------
# Server-Sent Events


class SseEvent:
    def __init__(self, event_id, name, data):
        self.id = event_id
        self.name = name
        self.data = data

    @property
    def alert(self):
        return json.loads(self.data)

    def __repr__(self):
        return f"SseEvent(id={self.id}, {self.name}, {self.data[:120]})"


class SseStream:
    """GET /v1/centres/{centre}/alerts/stream as cn, read by a background thread.

    Events (dispatched per the SSE rules: only blocks with data) go to .events (a queue);
    comments (": hb", ": head N") are counted in .comments. .closed is set when the server ends
    the stream or the connection drops."""

    def __init__(self, daemon, cn, centre, last_event_id=None, timeout=30):
        self.api = daemon.api(cn)
        self.conn = self.api.connect(timeout)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", f"/v1/centres/{centre}/alerts/stream", headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events = queue.Queue()
        self.comments = []
        self.closed = threading.Event()
        self.head = None
        self.error_body = None
        if self.status != 200:
            self.error_body = self.response.read()
            self.closed.set()
            self.conn.close()
            return
        # No read timeout: the reader blocks until data comes or close() shuts the socket.
        self.conn.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        event_id, name, data = None, None, []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        self.events.put(SseEvent(event_id, name or "message", "\n".join(data)))
                    name, data = None, []
                    continue
                if line.startswith(":"):
                    text = line[1:].strip()
                    self.comments.append(text)
                    if text.startswith("head "):
                        self.head = int(text.split()[1])
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "id":
                    event_id = int(value)
                elif field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
        except Exception:  # noqa: BLE001 - close() from another thread ends the read any way
            pass
        finally:
            self.closed.set()

    def next(self, timeout=10.0, names=("alert",)):
        """The next event whose name is in names (others are skipped); fails on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no SSE event {names} within {timeout} s")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if names is None or ev.name in names:
                return ev

    def collect(self, until, timeout=30.0, names=None):
        """Events (of names, or all) until until(list_so_far) is true; fails on timeout."""
        got = []
        deadline = time.monotonic() + timeout
        while not until(got):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"condition not met within {timeout} s; got {len(got)} "
                                     f"events, last {got[-3:]}")
            try:
                ev = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if names is None or ev.name in names:
                got.append(ev)
        return got

    def drain(self, quiet=0.5, names=None):
        """Every event that arrives until none has come for `quiet` seconds."""
        got = []
        while True:
            try:
                ev = self.events.get(timeout=quiet)
            except queue.Empty:
                return got
            if names is None or ev.name in names:
                got.append(ev)

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.closed.wait(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# Set-up and API wrappers


class Centre:
    """A centre with a staff, an on-call and a manager account of its own."""

    def __init__(self, rc, prefix="tonder", **fields):
        fields.setdefault("name", "Tønder")
        fields.setdefault("operator", "Tønder Kommune")
        self.rc = rc
        self.id = rc.create_centre(rc.unique(prefix + "-"), **fields)["id"]
        self.staff_cn = f"staff-{self.id}"
        self.oncall_cn = f"oncall-{self.id}"
        rc.create_account(self.staff_cn, "staff", [self.id])
        rc.create_account(self.oncall_cn, "oncall", [self.id])
        self.staff = rc.api(self.staff_cn)
        self.oncall = rc.api(self.oncall_cn)
        self.manager = rc.manager_of(self.id)

    def resident(self, date_of_birth="2012-03-10", arrival_date="2026-01-05", **fields):
        return self.rc.create_resident(
            self.id, date_of_birth=date_of_birth, arrival_date=arrival_date, **fields
        )["id"]

    def round(self, day, slot, observations):
        """POST a round: observations is {resident: status}."""
        body = {"observations": [{"resident": r, "status": s} for r, s in observations.items()]}
        return ok(self.staff.post(f"/v1/centres/{self.id}/rounds/{day}/{slot}", json=body))

    def report(self, resident, expect=(201, 200), **body):
        reply = self.staff.post(f"/v1/residents/{resident}/absences", json=body)
        return ok(reply, *expect)

    def absence(self, absence_id):
        return ok(self.staff.get(f"/v1/absences/{absence_id}"))

    def open_absence(self, resident):
        items = ok(self.staff.get(f"/v1/absences?centre={self.id}&open=true&resident={resident}"))[
            "items"
        ]
        assert len(items) <= 1, items
        return items[0] if items else None

    def alerts(self, **query):
        """Every alert of the centre (all pages), oldest first."""
        query.setdefault("centre", self.id)
        items, after = [], None
        while True:
            q = dict(query)
            if after:
                q["after"] = after
            path = "/v1/alerts?" + "&".join(f"{k}={v}" for k, v in q.items())
            body = ok(self.oncall.get(path))
            items += body["items"]
            after = body["next"]
            if not after:
                return items

    def alerts_of(self, kind, **query):
        return [a for a in self.alerts(**query) if a["kind"] == kind]

    def notifications(self, absence_id):
        body = ok(self.staff.get(f"/v1/notifications?absence={absence_id}&limit=1000"))
        return body["items"]

    def stream(self, cn=None, **kw):
        return SseStream(self.rc, cn or self.oncall_cn, self.id, **kw)


def reported(notifications):
    return [n for n in notifications if n["type"] == "absence.reported"]


def returned(notifications):
    return [n for n in notifications if n["type"] == "absence.returned"]


def wait_until(predicate, timeout=20.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)
