"""Lenient HTTP framing closed (issue 12, defect 4): what evhttp 2.1 lets through but HTTP
forbids, or what makes one request mean two things, is a 400 with the error JSON before the
target or the body is read: two Content-Length headers (a request smuggled in the body of
another), a Content-Length that is not digits only, a percent-encoded NUL or a control byte in
the target (read as "/v1/residents/1"), control bytes in a header value."""

import json
import re

import pytest

HOST = b"Host: localhost\r\n"
POST = b"POST /v1/residents/1/absences HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"

CASES = {
    "two content lengths": POST + b"Content-Length: 2\r\nContent-Length: 40\r\n"
    b"Connection: close\r\n\r\n{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "signed content length": POST + b"Content-Length: +2\r\nConnection: close\r\n\r\n{}",
    "encoded NUL in the path": b"GET /v1/residents/1%00junk HTTP/1.1\r\n" + HOST
    + b"Connection: close\r\n\r\n",
    "encoded NUL in the query": b"GET /v1/absences?centre=a%00b HTTP/1.1\r\n" + HOST
    + b"Connection: close\r\n\r\n",
    "control byte in a header": b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: a\x01b\r\n"
    b"Connection: close\r\n\r\n",
}

# The rest, caught on the raw bytes as they arrive (daemon/http_framing.c), since evhttp 2.1
# cuts a value at a NUL, joins folded lines, takes a bare LF for CRLF and reads a chunk size
# with strtoll. Each names its reason in the error message.
GET = b"GET /healthz HTTP/1.1\r\n" + HOST
CHUNKED = POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
RAW_CASES = {
    "NUL in a header value": (GET + b"X-A: a\x00b\r\nConnection: close\r\n\r\n", "NUL"),
    "obs-fold with a space": (GET + b"X-A: a\r\n b\r\nConnection: close\r\n\r\n", "obs-fold"),
    "obs-fold with a tab": (GET + b"X-A: a\r\n\tb\r\nConnection: close\r\n\r\n", "obs-fold"),
    "bare LF line endings": (b"GET /healthz HTTP/1.1\nHost: localhost\nConnection: close\n\n",
                             "bare LF"),
    "one bare LF": (GET + b"X-A: a\nConnection: close\r\n\r\n", "bare LF"),
    "bare CR": (GET + b"X-A: a\rb\r\nConnection: close\r\n\r\n", "CR"),
    "white space before a colon": (GET + b"X-A : b\r\nConnection: close\r\n\r\n", "colon"),
    "chunk size not hex": (CHUNKED + b"zz\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "negative chunk size": (CHUNKED + b"-2\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "signed chunk size": (CHUNKED + b"+2\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "0x chunk size": (CHUNKED + b"0x2\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "chunk extension": (CHUNKED + b"2;x=y\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "huge chunk size": (CHUNKED + b"ffffffffffffffffff\r\n{}\r\n0\r\n\r\n", "chunk size"),
    "chunk without its CRLF": (CHUNKED + b"2\r\n{}xx0\r\n\r\n", "CRLF"),
    "Content-Length with Transfer-Encoding": (
        POST + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        b"\r\n2\r\n{}\r\n0\r\n\r\n", "both"),
    "Transfer-Encoding other than chunked": (
        POST + b"Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0"
        b"\r\n\r\n", "chunked"),
}


def test_a_bad_request_behind_a_good_one_is_refused_alone(rc):
    """The first request on the connection is well framed and answered; the folded one
    pipelined behind it is refused, and nothing after that is read."""
    import ssl
    import socket

    context = ssl.create_default_context(cafile=str(rc.pki.ca))
    context.load_cert_chain(*map(str, rc.pki.client("admin")))
    data = (GET + b"\r\n" + b"GET /healthz HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"
            + GET + b"\r\n")
    received = b""
    with socket.create_connection(("127.0.0.1", rc.port), timeout=10) as plain:
        with context.wrap_socket(plain, server_hostname="localhost") as tls:
            tls.sendall(data)
            while True:
                try:
                    chunk = tls.recv(65536)
                except (OSError, ssl.SSLError):
                    break
                if not chunk:
                    break
                received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"400"], received
    assert b"obs-fold" in received


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_lenient_framing_is_refused_naming_why(rc, case):
    data, reason = RAW_CASES[case]
    status, response, error = rc.raw(data)
    assert response.count(b"HTTP/1.1 ") == 1, response
    assert status == 400, (status, response, error)
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    answer = json.loads(body)
    assert answer["error"]["code"] == "bad_request", answer
    assert reason in answer["error"]["message"], answer
    assert b"connection: close" in head.lower(), head


def test_a_well_framed_chunked_body_still_passes(rc):
    status, response, _ = rc.raw(
        b"POST /v1/residents/999999/absences HTTP/1.1\r\n" + HOST
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert status == 404, response  # framing passed; the resident does not exist


@pytest.mark.parametrize("case", sorted(CASES))
def test_is_refused_with_the_error_json(rc, case):
    status, response, error = rc.raw(CASES[case])
    assert status == 400, (status, response, error)
    head, _, body = response.partition(b"\r\n\r\n")
    answer = json.loads(body)
    assert answer["error"]["code"] == "bad_request", answer
    # One answer only: nothing smuggled behind the first request was served.
    assert response.count(b"HTTP/1.1 ") == 1, response


def test_ordinary_requests_still_pass(rc):
    status, response, _ = rc.raw(b"GET /healthz HTTP/1.1\r\n" + HOST
                                 + b"X-Tab: a\tb\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert status == 200, response
    status, response, _ = rc.raw(b"GET /v1/absences?centre=a%20b HTTP/1.1\r\n" + HOST
                                 + b"Connection: close\r\n\r\n")
    assert status == 404 and b"there is no centre 'a b'" in response, response
