"""Lenient HTTP framing closed (issue 12, defect 4): what evhttp 2.1 lets through but HTTP
forbids, or what makes one request mean two things, is a 400 with the error JSON before the
target or the body is read: two Content-Length headers (a request smuggled in the body of
another), a Content-Length that is not digits only, a percent-encoded NUL or a control byte in
the target (read as "/v1/residents/1"), control bytes in a header value."""

import json

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
