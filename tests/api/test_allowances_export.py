"""A centre's statements (SPEC sections 6 and 10): the JSON list (whole, or paged with
?limit=&after=) and the CSV for the finance system, parsed back and summed: it must equal the
residents' own statements. Large enough to cross the daemon's page of 2,000 residents."""

import pytest
from allowance_helpers import Centre, kroner, local, parse_csv, period
from harness import ok

P0 = period(0)
CSV_HEADER = [
    "period_start", "period_end", "centre", "resident", "case_number", "family_name",
    "given_name", "payable_days", "base_days", "base_ore", "base_kr", "supplement_phase1_days",
    "supplement_phase1_ore", "supplement_phase1_kr", "supplement_phase2_days",
    "supplement_phase2_ore", "supplement_phase2_kr", "withdrawn_ore", "withdrawn_kr",
    "adjustment_ore", "adjustment_kr", "total_ore", "total_kr", "paid_at", "collected_by",
]


@pytest.fixture(scope="module")
def centre(rc):
    """A centre with a mix: phases, a departure, an 18th birthday, a sanction, a payout, an
    awkward name."""
    rc.set_clock(local("2026-01-20", "10:00"))
    c = Centre(rc, prefix="export")
    c.residents = [
        c.resident(phase=2),
        c.resident(phase=1, departure_date="2026-01-10"),
        c.resident(phase=3, date_of_birth="2008-01-12"),
        c.resident(phase=1, family_name='Ny; "Kaldet"', given_name="=SUM(A1)"),
        c.resident(phase=2, arrival_date="2026-01-15"),
    ]
    c.sanction(c.residents[0]["id"], **{"from": "2026-01-06", "to": "2026-01-09",
                                        "percent": 50, "reason": "r",
                                        "heard_at": local("2026-01-19")})
    c.payout(c.residents[1]["id"], P0)
    return c


def test_json_list_equals_the_residents_statements(centre):
    listed = centre.statements(P0)
    assert listed["next"] is None
    assert listed["centre"]["id"] == centre.id
    items = {i["resident"]: i for i in listed["items"]}
    assert sorted(items) == sorted(r["id"] for r in centre.residents)
    for r in centre.residents:
        own = centre.statement(r["id"], P0)
        assert items[r["id"]] == own
    assert listed["total_ore"] == sum(i["total_ore"] for i in listed["items"])
    assert listed["count"] == len(centre.residents)


def test_json_list_pages(centre):
    seen, after = [], None
    while True:
        query = {"limit": 2}
        if after:
            query["after"] = after
        page = centre.statements(P0, **query)
        assert len(page["items"]) <= 2
        seen += [i["resident"] for i in page["items"]]
        after = page["next"]
        if not after:
            break
    assert seen == sorted(r["id"] for r in centre.residents)


def test_csv_parsed_back_equals_the_statements(centre):
    reply = centre.csv_reply(P0)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/csv")
    header, rows = parse_csv(reply.body)
    assert header == CSV_HEADER
    assert len(rows) == len(centre.residents)  # one line per resident
    own = {r["id"]: centre.statement(r["id"], P0) for r in centre.residents}
    total = 0
    for row in rows:
        st = own[int(row["resident"])]
        assert row["period_start"] == P0 and row["period_end"] == "2026-01-18"
        assert row["centre"] == centre.id and row["case_number"] == st["case_number"]
        assert int(row["payable_days"]) == st["payable_days"]
        assert int(row["total_ore"]) == st["total_ore"]
        assert int(row["withdrawn_ore"]) == st["withdrawn_ore"]
        assert int(row["adjustment_ore"]) == st["adjustment_ore"]
        for kind in ("base", "supplement_phase1", "supplement_phase2"):
            lines = [x for x in st["lines"] if x["kind"] == kind]
            assert int(row[f"{kind}_days"]) == sum(x["days"] for x in lines)
            assert int(row[f"{kind}_ore"]) == sum(x["amount_ore"] for x in lines)
            assert row[f"{kind}_kr"] == kroner(int(row[f"{kind}_ore"]))
        assert row["total_kr"] == kroner(st["total_ore"])
        assert (row["paid_at"] != "") == (st["payout"] is not None)
        total += int(row["total_ore"])
    assert total == sum(st["total_ore"] for st in own.values())
    awkward = next(r for r in rows if r["given_name"].endswith("SUM(A1)"))
    assert awkward["family_name"] == 'Ny; "Kaldet"'
    assert awkward["given_name"] == "'=SUM(A1)"  # never a spreadsheet formula
    paid = next(r for r in rows if r["paid_at"])
    assert paid["collected_by"] == "self"


def test_empty_centre_and_bad_period(rc):
    c = Centre(rc, prefix="empty")
    assert c.statements(P0)["items"] == []
    header, rows = parse_csv(c.csv_reply(P0).body)
    assert header == CSV_HEADER and rows == []
    reply = c.manager.get(f"/v1/centres/{c.id}/statements/2026-01-06",
                          headers={"Accept": "text/csv"})
    assert reply.status == 400 and reply.body["error"]["field"] == "period_start"


def test_export_across_pages_of_2000(rc):
    """2,500 residents (written straight into the database: the API would take minutes) stream
    in two pages; the CSV and the JSON agree with each other and with a sample of statements."""
    c = Centre(rc, prefix="big")
    rc.db.execute(
        "WITH r AS (INSERT INTO residents (case_number, given_name, family_name, date_of_birth,"
        " created_at) SELECT %s || g, 'G' || g, 'F' || g, date '2011-01-01' + g %% 400,"
        " '2026-01-01' FROM generate_series(1, 2500) g RETURNING id),"
        " s AS (INSERT INTO stays (resident, centre, from_date) SELECT id, %s,"
        " date '2026-01-01' + (id %% 10)::int FROM r RETURNING resident)"
        " INSERT INTO phases (resident, phase, from_date)"
        " SELECT resident, 1 + resident %% 3, date '2026-01-01' FROM s",
        c.id + "-", c.id)
    listed = c.statements(P0)
    assert len(listed["items"]) == 2500 and listed["count"] == 2500
    ids = [i["resident"] for i in listed["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 2500
    header, rows = parse_csv(c.csv_reply(P0).body)
    assert len(rows) == 2500
    assert sum(int(r["total_ore"]) for r in rows) == listed["total_ore"]
    for item in listed["items"][::500]:
        assert ok(c.manager.get(f"/v1/residents/{item['resident']}/statements/{P0}"), 200) \
            == item
