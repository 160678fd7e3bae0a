"""Compatibility names for the absence and alert tests: the harness (tests/harness) has them
now. SseStream is harness.sse's, instant/local/at/wait_until harness.world's, and Centre is
harness.world.Centre with the Tønder defaults these tests used (centre id tonder-N, staff,
on-call and manager accounts) and resident() returning the id."""

from harness import world as _world
from harness.sse import SseEvent, SseStream  # noqa: F401
from harness.world import COPENHAGEN, UTC, at, instant, local, wait_until  # noqa: F401

ALERT_ROLES = ("oncall", "manager")


class Centre(_world.Centre):
    """A centre with a staff, an on-call and a manager account of its own."""

    def __init__(self, rc, prefix="tonder", **fields):
        fields.setdefault("name", "Tønder")
        fields.setdefault("operator", "Tønder Kommune")
        super().__init__(rc, prefix=prefix + "-", staff=True, oncall=True, **fields)

    def resident(self, date_of_birth="2012-03-10", arrival_date="2026-01-05", **fields):
        """Creates a resident; returns its id."""
        return self.resident_id(date_of_birth=date_of_birth, arrival_date=arrival_date, **fields)


def reported(notifications):
    return [n for n in notifications if n["type"] == "absence.reported"]


def returned(notifications):
    return [n for n in notifications if n["type"] == "absence.returned"]
