"""Server-Sent Events: a client that reads a daemon's alert stream
(GET /v1/centres/{centre}/alerts/stream) in a background thread."""

import json
import queue
import socket
import threading
import time


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
