"""Compatibility names for the cash allowance tests: the harness (tests/harness) has them now.
Periods, rates, statement arithmetic, insert_absence, settings and the CSV are
harness.allowance's; local() here is harness.world.at() (RFC 3339 text, default noon); Centre is
harness.world.Centre with these tests' defaults (id allowN, a manager, free_meals false)."""

from harness import world as _world
from harness.allowance import (  # noqa: F401
    ANCHOR,
    BASE_ORE,
    PHASE1_ORE,
    PHASE2_ORE,
    allowance_items,
    check_arithmetic,
    day,
    days_of,
    insert_absence,
    kroner,
    lines_by_kind,
    parse_csv,
    period,
    set_setting,
)
from harness.world import COPENHAGEN  # noqa: F401
from harness.world import at as local  # noqa: F401


class Centre(_world.Centre):
    """A centre (free meals or not) with its manager, on a daemon whose clock tests set."""

    def __init__(self, rc, free_meals=False, prefix="allow", **fields):
        super().__init__(rc, prefix=prefix, free_meals=free_meals, **fields)
