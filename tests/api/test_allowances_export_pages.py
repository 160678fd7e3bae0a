"""A centre's streamed statements export (issue 6) is cut into pages of residents that the daemon
asks for a few at a time; no page boundary may lose, repeat or change a statement. 2,001
residents cross every page size from 1 to 2,000 at least once, with one resident just past each
multiple of 1,000; residents who moved in from another centre, who left, who were paid and who
were sanctioned sit around those boundaries. The streamed JSON must equal the list walked with
?limit=&after= (its own code path) item for item, the sums must agree, the CSV must sum to the
same, and the residents at the boundaries must equal their own statements."""

import pytest
from allowance_helpers import Centre, local, parse_csv, period
from harness import ok

P0 = period(0)
COUNT = 2001


@pytest.fixture(scope="module")
def big(rc):
    rc.set_clock(local("2026-01-20", "10:00"))
    c = Centre(rc, prefix="pages")
    other = Centre(rc, prefix="pagesother")
    rc.db.execute(
        "WITH r AS (INSERT INTO residents (case_number, given_name, family_name, date_of_birth,"
        " created_at) SELECT %s || g, 'G' || g, 'F' || g, date '2010-01-01' + g %% 700,"
        " '2026-01-01' FROM generate_series(1, %s) g RETURNING id),"
        " s AS (INSERT INTO stays (resident, centre, from_date) SELECT id, %s,"
        " date '2026-01-01' + (id %% 9)::int FROM r RETURNING resident)"
        " INSERT INTO phases (resident, phase, from_date)"
        " SELECT resident, 1 + resident %% 3, date '2026-01-01' FROM s",
        c.id + "-", COUNT, c.id)
    ids = [row[0] for row in rc.db.query(
        "SELECT resident FROM stays WHERE centre = %s ORDER BY resident", c.id)]
    assert len(ids) == COUNT
    # Around each multiple of 1,000 (and the first and last): one who came from the other
    # centre mid-period, one who left for it mid-period, one paid, one sanctioned.
    around = sorted({ids[i] for k in (0, 999, 1000, 1001, 1999, 2000) for i in
                     range(max(0, k - 2), min(COUNT, k + 3))})
    moved_in, moved_out = around[0::4], around[1::4]
    for rid in moved_in:
        rc.db.execute("UPDATE stays SET from_date = date '2026-01-09' WHERE resident = %s", rid)
        rc.db.execute("INSERT INTO stays (resident, centre, from_date, to_date) VALUES"
                      " (%s, %s, date '2026-01-01', date '2026-01-09')", rid, other.id)
    for rid in moved_out:
        rc.db.execute("UPDATE stays SET to_date = date '2026-01-12' WHERE resident = %s", rid)
        rc.db.execute("INSERT INTO stays (resident, centre, from_date) VALUES"
                      " (%s, %s, date '2026-01-12')", rid, other.id)
    for rid in around[2::4]:
        c.payout(rid, P0)
    for rid in around[3::4]:
        c.sanction(rid, **{"from": "2026-01-06", "to": "2026-01-08", "percent": 50,
                           "reason": "r", "heard_at": local("2026-01-19")})
    c.ids = [rid for rid in ids if rid not in moved_out]  # the leavers are the other's
    c.around = around
    c.other = other
    return c


def walked(c):
    """The whole list walked a page of 1,000 at a time with ?limit=&after=."""
    items, after = [], None
    while True:
        query = {"limit": 1000}
        if after:
            query["after"] = after
        page = c.statements(P0, **query)
        items += page["items"]
        after = page["next"]
        if not after:
            return items


def test_streamed_export_equals_the_walked_list(big):
    streamed = big.statements(P0)
    items = streamed["items"]
    assert [i["resident"] for i in items] == big.ids  # none lost or repeated, in order
    assert streamed["count"] == len(big.ids)
    assert streamed["total_ore"] == sum(i["total_ore"] for i in items)
    assert items == walked(big)


def test_csv_sums_to_the_json(big):
    streamed = big.statements(P0)
    header, rows = parse_csv(big.csv_reply(P0).body)
    assert [int(r["resident"]) for r in rows] == big.ids
    assert sum(int(r["total_ore"]) for r in rows) == streamed["total_ore"]
    assert sum(int(r["payable_days"]) for r in rows) == sum(
        i["payable_days"] for i in streamed["items"])


def test_boundary_residents_equal_their_own_statements(big):
    listed = {i["resident"]: i for i in big.statements(P0)["items"]}
    for rid in big.around:
        if rid in listed:
            own = ok(big.manager.get(f"/v1/residents/{rid}/statements/{P0}"), 200)
            assert listed[rid] == own
        else:  # left for the other centre: its manager reads it, its export lists it
            own = ok(big.other.manager.get(f"/v1/residents/{rid}/statements/{P0}"), 200)
            assert own["centre"] == big.other.id
    other = big.other.statements(P0)["items"]
    assert sorted(i["resident"] for i in other) == sorted(
        rid for rid in big.around if rid not in listed)
