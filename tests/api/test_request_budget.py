"""The request budget (issue 12): one client certificate over its budget (request_rate per
second, request_burst at once) gets 429 with Retry-After and the error JSON, and changes
nothing, while another terminal keeps getting its answers."""

import concurrent.futures

from alerts_helpers import Centre
from harness import error_of, ok

BURST = 20


def test_a_greedy_certificate_gets_429_while_another_terminal_is_served(daemon_factory):
    rc = daemon_factory(config={"request_rate": "1", "request_burst": str(BURST)})
    centre = Centre(rc)
    greedy = centre.account("staff", cn="greedy-terminal")
    patient = centre.staff
    resident = centre.resident_id()

    with greedy.session() as s:
        replies = [s.get(f"/v1/residents/{resident}") for _ in range(3 * BURST)]
    statuses = [r.status for r in replies]
    assert 200 in statuses and 429 in statuses, statuses
    assert statuses.count(200) <= BURST + 3  # the burst, and what the rate refilled meanwhile
    refused = next(r for r in replies if r.status == 429)
    err = error_of(refused, 429)
    assert err["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    # The other terminal has a bucket of its own.
    for _ in range(5):
        ok(patient.get(f"/v1/residents/{resident}"))


def test_a_refused_write_changes_nothing(daemon_factory):
    rc = daemon_factory(config={"request_rate": "1", "request_burst": str(BURST)})
    centre = Centre(rc)
    greedy = centre.staff
    resident = centre.resident_id()
    before = rc.db.count("absences")
    with greedy.session() as s:
        # Spend the bucket, then write at once: less than a token has come back since.
        for _ in range(3 * BURST):
            if s.get("/healthz").status == 429:
                break
        reply = s.post(f"/v1/residents/{resident}/absences", json={})
    error_of(reply, 429)
    assert rc.db.count("absences") == before


def test_parallel_greedy_connections_share_one_budget(daemon_factory):
    """Opening more connections does not buy more budget: the bucket is the certificate's."""
    rc = daemon_factory(config={"request_rate": "1", "request_burst": str(BURST)})
    centre = Centre(rc)
    greedy = centre.account("staff", cn="greedy-parallel")

    def burst(_):
        return [greedy.get("/healthz").status for _ in range(BURST // 2)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(burst, range(8)) for s in batch]
    assert statuses.count(200) <= BURST + 10, statuses
    assert statuses.count(429) >= 8 * (BURST // 2) - BURST - 10, statuses
    ok(centre.staff.get("/healthz"))
