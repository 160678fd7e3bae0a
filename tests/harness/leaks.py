"""Secrets and internals that must never leave the daemon (issue 12): authority webhook secrets
(whsec_...), private keys, and SQL or PostgreSQL error text. The harness records what it sees
as the suite runs: every error body an Api or raw() request gets, every daemon log and the
stored replies of the idempotency table (read before a daemon's database is dropped).
tests/api/test_zz_secrets_leak.py and the session-finish hook of tests/api/conftest.py fail on
any finding."""

import re

# A real secret: the prefix and at least 16 characters of base64 (docs name "whsec_" alone).
SECRET = ("an authority secret", re.compile(rb"whsec_[A-Za-z0-9+/]{16,}"))
PRIVATE_KEY = ("a private key", re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"))
SQL = ("SQL or PostgreSQL error text", re.compile(
    rb"ERROR:  |DETAIL:  |CONTEXT:  |HINT:  |PL/pgSQL function|SQL statement \"|"
    rb"syntax error at or near|\bSELECT [^\n]{0,200}\bFROM\b|\bINSERT INTO\b|\bDELETE FROM\b|"
    rb"\bUPDATE [a-z_]+ SET\b"))

EVERYWHERE = (SECRET, PRIVATE_KEY)
IN_ANSWERS = (SECRET, PRIVATE_KEY, SQL)

FINDINGS = []  # (where, what, excerpt)
_MAX_FINDINGS = 200


def scan(where, data, patterns):
    """Records every pattern found in data (bytes or str); returns the findings of this call."""
    if data is None:
        return []
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    found = []
    for what, pattern in patterns:
        m = pattern.search(data)
        if m:
            start = max(0, m.start() - 60)
            excerpt = data[start:m.end() + 60].decode("utf-8", "replace")
            found.append((where, what, excerpt))
    if len(FINDINGS) < _MAX_FINDINGS:
        FINDINGS.extend(found)
    return found


def scan_error_body(where, status, body):
    """An answer of status >= 400 (body as received)."""
    if status is not None and status >= 400:
        return scan(where, body, IN_ANSWERS)
    return []


def scan_daemon(daemon):
    """A daemon's log, and the replies its idempotency table stores; before its database is
    dropped."""
    found = scan(f"{daemon.name} log", daemon.log_text(), EVERYWHERE)
    try:
        rows = daemon.db.query("SELECT body::text FROM idempotency WHERE body IS NOT NULL")
    except Exception:  # noqa: BLE001 - a database already gone has nothing left to leak
        rows = []
    for (body,) in rows:
        found += scan(f"{daemon.name} stored reply", body, IN_ANSWERS)
    return found
