"""Cash allowance helpers (SPEC sections 6, 9 and 10): the periods of the default anchor, the
rates, statements checked to add up, absences placed at exact instants in the database, the
settings table, and the finance CSV parsed back."""

import csv
import datetime
import io

# The allowance periods of the default anchor (Monday 2026-01-05), every 14 days.
ANCHOR = datetime.date(2026, 1, 5)
BASE_ORE = 5841
PHASE1_ORE = 975
PHASE2_ORE = 3408


def period(n):
    """The start of the n-th period (0: the anchor) as YYYY-MM-DD."""
    return (ANCHOR + datetime.timedelta(days=14 * n)).isoformat()


def day(text, days):
    """The date `days` after text (YYYY-MM-DD)."""
    return (datetime.date.fromisoformat(text) + datetime.timedelta(days=days)).isoformat()


def lines_by_kind(statement):
    """{kind: [(per_day_ore, days, amount_ore), ...]} of a statement's lines."""
    out = {}
    for line in statement["lines"]:
        out.setdefault(line["kind"], []).append(
            (line["per_day_ore"], line["days"], line["amount_ore"])
        )
    return out


def days_of(statement, kind):
    return sum(days for _, days, _ in lines_by_kind(statement).get(kind, []))


def check_arithmetic(statement):
    """Every statement adds up: lines, withdrawals, adjustment and total (integer øre)."""
    for line in statement["lines"]:
        assert line["amount_ore"] == line["per_day_ore"] * line["days"], line
        assert isinstance(line["amount_ore"], int)
    withdrawn = 0
    for w in statement.get("withdrawals", []):
        assert w["kind"] != "base", "a sanction never touches the base allowance"
        assert w["per_day_withdrawn_ore"] == (w["per_day_ore"] * w["percent"] + 50) // 100
        assert w["amount_ore"] == w["per_day_withdrawn_ore"] * w["days"]
        withdrawn += w["amount_ore"]
    assert statement["withdrawn_ore"] == withdrawn
    gross = sum(line["amount_ore"] for line in statement["lines"])
    assert statement["total_ore"] == gross - withdrawn + statement["adjustment_ore"]


def insert_absence(rc, resident_id, centre, since, returned_at=None):
    """An absence at exact instants, written straight into the database: the API's `since` is
    always the last time the resident was accounted for, and the daylight-saving tests need an
    absence from one local midnight to another. Notification bookkeeping is left out; only the
    allowance facts read it."""
    rc.db.execute(
        "INSERT INTO absences (resident, centre, since, opened_at, opened_by, age_at_since,"
        " notify_at, reason, recipients, returned_at, closed_at, closed_by)"
        " VALUES (%s, %s, %s, %s, 'test', 14, %s, 'threshold_12h',"
        " ARRAY['municipality','police','immigration'], %s, %s, %s)",
        resident_id,
        centre,
        since,
        since,
        since,
        returned_at,
        returned_at,
        "test" if returned_at else None,
    )


def set_setting(rc, key, value):
    """Sets a row of the settings table (SQL reads it at query time: no restart needed)."""
    rc.db.execute(
        "INSERT INTO settings (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )


def allowance_items(rc, residents, start, now):
    """The facts allowance_items() finds for residents (ids) and the period starting start, at
    the instant now (RFC 3339): the JSON items the daemon turns into statements."""
    return rc.db.scalar(
        "SELECT allowance_items(%s::bigint[], %s::date, %s::timestamptz)",
        list(residents),
        start,
        now,
    )


def parse_csv(text):
    """The finance CSV (semicolon-separated, header row) as (header, rows as dicts)."""
    assert text.endswith("\r\n"), "every line of the export ends with CRLF"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    rows = list(reader)
    header = rows[0]
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]]


def kroner(ore):
    """Øre as the export writes kroner: decimal comma, no thousands separator."""
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100},{abs(ore) % 100:02d}"
