"""The SQL checks: every tests/sql/*.sql runs with psql -v ON_ERROR_STOP=1 in a database of its
own, cloned from the harness's template (migrated once with `rollcalld --migrate`). A check
fails by raising an error (RAISE EXCEPTION, a failed ASSERT, bad SQL); the failure shows psql's
output. Run by scripts/test.sh with Debian's pytest:

    ROLLCALL_BUILD=build /usr/bin/python3 -m pytest -q tests/sql
"""

import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: the harness package

import harness  # noqa: E402

CHECKS = sorted(HERE.glob("*.sql"))


@pytest.fixture(scope="module")
def environment():
    """A cluster, PKI and migrated template of this module's own (ROLLCALL_KEEP=1 keeps it)."""
    with harness.Environment.create(prefix="rollcall-sqlcheck-") as env:
        yield env


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_sql_check(environment, check):
    dbname = "check_" + re.sub(r"[^A-Za-z0-9_]", "_", check.stem)
    db = environment.fresh_database(dbname)
    try:
        proc = db.psql("-q", "-v", "ON_ERROR_STOP=1", "-f", check)
        assert proc.returncode == 0, (
            f"psql -f {check.relative_to(harness.ROOT)} exited {proc.returncode}:\n"
            f"{proc.stdout}{proc.stderr}"
        )
    finally:
        if not harness.keep():
            environment.cluster.drop_database(dbname)
