"""Helpers of the tests of the managers' and the IT person's client commands
(tests/api/test_client_office_*.py): a centre with a manager, staff and an admin, the audit rows
an account caused (to show that a usage error sent nothing), and running the real client."""

import json

from harness import ok

CLOCK = "2026-11-20T10:00:00+01:00"


class Office:
    """Two centres (A and B) in Copenhagen time; a manager of both, a staff member of A, and the
    bootstrap admin."""

    def __init__(self, rc, prefix):
        self.rc = rc
        rc.set_clock(CLOCK)
        self.centre = rc.create_centre(f"{prefix}-a", name="Børnecenter Tønder")["id"]
        self.other = rc.create_centre(f"{prefix}-b", name="Sandholm")["id"]
        self.manager = f"{prefix}-manager"
        self.staff = f"{prefix}-staff"
        rc.create_account(self.manager, "manager", [self.centre, self.other])
        rc.create_account(self.staff, "staff", [self.centre])
        self._number = 0

    def resident(self, **fields):
        self._number += 1
        body = {"case_number": f"{self.centre.upper()}-{self._number}", "given_name": "Amina",
                "family_name": "Haidari", "date_of_birth": "2012-03-10",
                "arrival_date": "2026-01-05", "phase": 1}
        body.update(fields)
        return self.rc.create_resident(self.centre, **body)

    def get(self, path):
        return ok(self.rc.admin.get(path), 200)

    def client(self, cn, *args, **kw):
        return self.rc.client(cn, *args, **kw)

    def audit_rows(self, cn):
        """How many audit rows the account has caused (reads, changes and refusals)."""
        return self.rc.db.scalar("SELECT count(*) FROM audit WHERE cn = %s", cn)

    def assert_nothing_sent(self, cn, before, code, err):
        """A usage error: exit 2, a message, and no request reached the server."""
        assert code == 2, err
        assert err.strip(), "a usage error says why"
        assert self.audit_rows(cn) == before, "a usage error sent a request"

    def json_of(self, out):
        return json.loads(out)
