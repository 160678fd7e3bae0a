"""HTTP over mutual TLS to a daemon: Api (requests as one client certificate), raw bytes, and
the reply checks ok() and error_of()."""

import collections
import contextlib
import http.client
import json as jsonlib
import re
import socket
import ssl

from . import leaks

Reply = collections.namedtuple("Reply", "status body headers")
Reply.__doc__ = "An HTTP answer: status, parsed JSON (or text), headers (lower-case names)."


def client_context(pki, cert=None, key=None, ca=None):
    """An SSL context trusting the session CA (or ca) and presenting cert/key if given."""
    ctx = ssl.create_default_context(cafile=str(ca or pki.ca))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def parse_reply(resp):
    """Reply from an http.client response (the body is read)."""
    data = resp.read()
    leaks.scan_error_body("an error body", resp.status, data)
    headers = {k.lower(): v for k, v in resp.getheaders()}
    body = data.decode("utf-8", errors="replace")
    if "json" in headers.get("content-type", "") and data:
        try:
            body = jsonlib.loads(data)
        except ValueError:
            pass
    return Reply(resp.status, body, headers)


def complete_response(data):
    """True once data holds a whole HTTP response (head and, by Content-Length or chunked
    encoding, its body), so raw() need not wait for the server to close."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked\s*$", head):
        return body.endswith(b"0\r\n\r\n")
    return False


class Api:
    """Requests as one client certificate: api.get(path) -> Reply(status, body, headers).

    daemon is anything with .port and .pki (a Daemon). post/put/patch take json= (encoded,
    Content-Type application/json) or raw= bytes (sent as they are, Content-Type from headers=,
    default application/json). Each request uses a new connection unless made through
    session()."""

    def __init__(self, daemon, cn, cert=None, key=None):
        self.daemon = daemon
        self.cn = cn
        if cert is None:
            cert, key = daemon.pki.client(cn)
        self.cert, self.key = cert, key
        self.context = client_context(daemon.pki, cert, key)

    def connect(self, timeout=30):
        return http.client.HTTPSConnection(
            "127.0.0.1", self.daemon.port, context=self.context, timeout=timeout
        )

    @staticmethod
    def _encode(json, raw, headers):
        headers = dict(headers or {})
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
            return raw, headers
        if json is not None:
            headers.setdefault("Content-Type", "application/json")
            return jsonlib.dumps(json).encode(), headers
        return None, headers

    def request(self, method, path, json=None, raw=None, headers=None, timeout=30, conn=None):
        body, headers = self._encode(json, raw, headers)
        own = conn is None
        if own:
            conn = self.connect(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            return parse_reply(conn.getresponse())
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def pages(self, path, limit=None, **query):
        """Every item of a paged list (GET path?...&after=next until next is empty)."""
        items, after = [], None
        while True:
            q = dict(query)
            if limit is not None:
                q["limit"] = limit
            if after:
                q["after"] = after
            full = path + ("?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else "")
            body = ok(self.get(full), 200)
            items += body["items"]
            after = body["next"]
            if not after:
                return items

    @contextlib.contextmanager
    def session(self):
        """One kept-alive connection: `with api.session() as s: s.get(...)`."""
        conn = self.connect()
        api = self

        class Session:
            def request(self, method, path, **kw):
                return api.request(method, path, conn=conn, **kw)

            def get(self, path, **kw):
                return self.request("GET", path, **kw)

            def post(self, path, **kw):
                return self.request("POST", path, **kw)

            def put(self, path, **kw):
                return self.request("PUT", path, **kw)

            def patch(self, path, **kw):
                return self.request("PATCH", path, **kw)

            def delete(self, path, **kw):
                return self.request("DELETE", path, **kw)

            def sock(self):
                return conn.sock

        try:
            yield Session()
        finally:
            conn.close()


def raw_exchange(port, context, data, timeout=10):
    """Sends raw bytes over TLS to 127.0.0.1:port and reads until the server closes, a whole
    response has arrived, or timeout. Returns (status or None, response bytes, error or None).
    Send errors are tolerated: a server refusing a large body may answer and close before
    reading it all."""
    chunks, error = [], None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
            with context.wrap_socket(plain, server_hostname="localhost") as tls:
                try:
                    view = memoryview(data)
                    for i in range(0, len(view), 65536):
                        tls.sendall(view[i : i + 65536])
                except (OSError, ssl.SSLError) as exc:
                    error = exc
                try:
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        chunks.append(chunk)
                        if complete_response(b"".join(chunks)):
                            break
                except (OSError, ssl.SSLError) as exc:
                    error = error or exc
    except (OSError, ssl.SSLError) as exc:
        error = exc
    response = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    if m:
        leaks.scan_error_body("a raw answer", int(m.group(1)), response)
    return (int(m.group(1)) if m else None), response, error


def ok(reply, *statuses):
    """Asserts a successful reply (2xx, or one of statuses) and returns its body."""
    if statuses:
        assert reply.status in statuses, f"expected {statuses}, got {reply.status}: {reply.body}"
    else:
        assert 200 <= reply.status < 300, f"expected success, got {reply.status}: {reply.body}"
    return reply.body


def error_of(reply, status):
    """Asserts an error reply with status and the error JSON shape; returns the error object."""
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.body}"
    assert isinstance(reply.body, dict) and "error" in reply.body, reply.body
    err = reply.body["error"]
    assert isinstance(err.get("code"), str) and err["code"], err
    assert isinstance(err.get("message"), str) and err["message"], err
    return err
