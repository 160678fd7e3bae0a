"""The tamper-evident audit log (SPEC section 7, v2): the sealer chains every committed audit
row, SHA-256 over the previous row's hash and the row's canonical serialisation (docs/DESIGN.md,
"The audit chain"); rollcalld --verify-audit says "audit chain intact: N rows" or names the first
row that breaks the chain - a row altered, deleted or inserted behind the daemon's back."""

import concurrent.futures
import hashlib
import re
import threading
import time

import pytest
from harness import ok

CLOCK = "2026-11-20T10:15:00+01:00"
SEAL_TIMEOUT = 20.0  # the sealer runs every second; generous for shared cores


def wait_sealed(daemon, where="true"):
    """Waits until every audit row (matching where) is sealed; returns how many rows there are."""
    deadline = time.monotonic() + SEAL_TIMEOUT
    while True:
        unsealed = daemon.db.count("audit", f"seal IS NULL AND ({where})")
        if unsealed == 0:
            return daemon.db.count("audit")
        assert time.monotonic() < deadline, f"{unsealed} audit rows still unsealed"
        time.sleep(0.1)


def make_rows(daemon, residents=3):
    daemon.set_clock(CLOCK)
    centre = daemon.create_centre()["id"]
    ids = [daemon.create_resident(centre)["id"] for _ in range(residents)]
    for rid in ids:
        ok(daemon.admin.get(f"/v1/residents/{rid}"))
    return centre, ids


def verify(daemon):
    return daemon.run_once("--verify-audit")


def rows_by_seal(daemon):
    return daemon.db.query("SELECT seal, id FROM audit WHERE seal IS NOT NULL ORDER BY seal")


def superuser(daemon, *statements):
    """Runs statements as the cluster's superuser with the append-only triggers off, as an
    attacker with the database's keys could."""
    with daemon.db.connect() as conn:
        conn.execute("SET session_replication_role = replica")
        for sql in statements:
            conn.execute(sql)


def canonical(fields):
    out = b""
    for value in fields:
        if value is None:
            out += b"N"
        else:
            data = value.encode()
            out += b"S%d:" % len(data) + data
    return out


CANONICAL_SQL = (
    "SELECT seal::text, id::text, to_char(at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), cn, role, action, resident::text, request_id, remote, "
    "outcome, detail::text, encode(hash, 'hex') FROM audit a WHERE a.seal IS NOT NULL "
    "ORDER BY a.seal"
)


@pytest.fixture
def daemon(daemon_factory):
    d = daemon_factory()
    make_rows(d)
    return d


def test_every_row_is_sealed_and_the_chain_verifies(daemon):
    total = wait_sealed(daemon)
    status, output = verify(daemon)
    assert status == 0, output
    assert f"audit chain intact: {total} rows" in output
    assert [s for s, _ in rows_by_seal(daemon)] == list(range(1, total + 1))
    # The log anchors the head: whoever rewrites the table cannot rewrite what was logged.
    assert daemon.wait_for_log(r"audit: sealed \d+ rows; chain head seal \d+ hash [0-9a-f]{64}")


def test_the_documented_serialisation_reproduces_every_hash(daemon):
    """docs/DESIGN.md's description is enough to verify the chain without rollcall's code."""
    wait_sealed(daemon)
    prev = b""
    rows = daemon.db.query(CANONICAL_SQL)
    assert rows
    for row in rows:
        digest = hashlib.sha256(prev + canonical(row[:11])).digest()
        assert digest.hex() == row[11], f"seal {row[0]}"
        prev = digest


def test_fields_holding_separators_and_line_breaks_chain_unambiguously(daemon):
    # Free text to the hash: the length prefixes keep "S3:" or a line break inside a field apart
    # from the encoding around it.
    daemon.db.execute(
        "INSERT INTO audit (at, cn, role, action, outcome, remote, detail) VALUES "
        "(now(), 'x\r\nS2:N', NULL, 'S1:a', 'ok', E'N\\nS0:', '{\"k\": \"\\r\\n\"}')"
    )
    total = wait_sealed(daemon)
    status, output = verify(daemon)
    assert status == 0 and f"audit chain intact: {total} rows" in output, output


def broken_row(output):
    match = re.search(r"audit chain broken at row (\d+) \(seal (\d+)\)", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def test_an_altered_row_is_named(daemon):
    wait_sealed(daemon)
    daemon.stop()
    seal, row_id = rows_by_seal(daemon)[3]
    superuser(daemon, f"UPDATE audit SET outcome = 'refused:forbidden' WHERE id = {row_id}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (row_id, seal)
    assert "does not match" in output


def test_an_altered_instant_is_named(daemon):
    wait_sealed(daemon)
    daemon.stop()
    seal, row_id = rows_by_seal(daemon)[2]
    superuser(daemon, f"UPDATE audit SET at = at + interval '1 microsecond' WHERE id = {row_id}")
    status, output = verify(daemon)
    assert status == 1 and broken_row(output) == (row_id, seal), output


def test_a_deleted_row_is_named_by_the_row_after_it(daemon):
    wait_sealed(daemon)
    daemon.stop()
    rows = rows_by_seal(daemon)
    _, deleted = rows[4]
    next_seal, next_id = rows[5]
    superuser(daemon, f"DELETE FROM audit WHERE id = {deleted}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (next_id, next_seal)
    assert "expected seal 5" in output


def test_a_deleted_row_is_named_even_when_the_seals_are_renumbered(daemon):
    wait_sealed(daemon)
    daemon.stop()
    rows = rows_by_seal(daemon)
    _, deleted = rows[4]
    _, next_id = rows[5]
    superuser(
        daemon,
        f"DELETE FROM audit WHERE id = {deleted}",
        "UPDATE audit SET seal = seal + 1000000 WHERE seal > 5",
        "UPDATE audit SET seal = seal - 1000001 WHERE seal > 1000000",
    )
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (next_id, 5)


def test_a_row_inserted_with_a_made_up_hash_is_named(daemon):
    total = wait_sealed(daemon)
    daemon.stop()
    superuser(
        daemon,
        "INSERT INTO audit (at, cn, role, action, outcome, seal, hash) VALUES "
        f"(now(), 'admin', 'admin', 'audit_list', 'ok', {total + 1}, "
        "sha256('forged'::bytea))",
    )
    forged = daemon.db.scalar(f"SELECT id FROM audit WHERE seal = {total + 1}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (forged, total + 1)


def test_a_row_inserted_in_the_middle_with_a_correct_hash_is_named_by_the_next(daemon):
    """The attacker shifts the later seals and computes the inserted row's hash properly: the
    row after it no longer matches, since its hash covers its seal and the previous hash."""
    wait_sealed(daemon)
    daemon.stop()
    rows = rows_by_seal(daemon)
    _, displaced = rows[3]  # seal 4
    superuser(
        daemon,
        "UPDATE audit SET seal = seal + 1000000 WHERE seal >= 4",
        "UPDATE audit SET seal = seal - 999999 WHERE seal > 1000000",
        "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
        "(now(), 'admin', 'admin', 'forged', 'ok')",
        "UPDATE audit a SET seal = 4, hash = sha256((SELECT p.hash FROM audit p WHERE p.seal = 3)"
        " || audit_canonical(4, a)) WHERE a.action = 'forged'",
    )
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (displaced, 5)


def test_a_row_committed_late_is_chained_after_the_rows_sealed_before_it(daemon):
    """Ids are not commit order: a row whose transaction commits after later rows were sealed
    gets the next seal then; it is neither skipped nor sealed twice."""
    wait_sealed(daemon)
    conn = daemon.db.connect(autocommit=False)
    try:
        late = conn.execute(
            "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
            "(now(), 'admin', 'admin', 'late', 'ok') RETURNING id"
        ).fetchone()[0]
        make_rows(daemon, residents=1)
        wait_sealed(daemon, f"id > {late}")
        highest_before = daemon.db.scalar("SELECT max(seal) FROM audit")
        conn.commit()
    finally:
        conn.close()
    total = wait_sealed(daemon)
    late_seal = daemon.db.scalar(f"SELECT seal FROM audit WHERE id = {late}")
    assert late_seal == highest_before + 1
    status, output = verify(daemon)
    assert status == 0 and f"audit chain intact: {total} rows" in output, output


def test_an_unsealed_row_cannot_be_rewritten_on_the_way(daemon):
    """The trigger lets only the sealer set seal and hash, and nothing else of the row."""
    import psycopg

    wait_sealed(daemon)
    seal, row_id = rows_by_seal(daemon)[0]
    with pytest.raises(psycopg.Error):
        with daemon.db.connect() as conn:
            conn.execute("SELECT set_config('rollcall.audit_sealing', 'on', false)")
            conn.execute(f"UPDATE audit SET seal = seal + 100, outcome = 'x' WHERE id = {row_id}")
    assert daemon.db.scalar(f"SELECT seal FROM audit WHERE id = {row_id}") == seal


def test_concurrent_writers_on_two_daemons_give_one_intact_chain(daemon_factory):
    first = daemon_factory()
    first.set_clock(CLOCK)
    second = daemon_factory(database=first.dbname)
    centre = first.create_centre()["id"]
    residents = [first.create_resident(centre)["id"] for _ in range(4)]
    apis = [first.admin, second.admin]
    barrier = threading.Barrier(8)

    def writer(n):
        api = apis[n % 2]
        barrier.wait()
        statuses = []
        for i in range(15):
            rid = residents[(n + i) % len(residents)]
            statuses.append(api.get(f"/v1/residents/{rid}").status)
            statuses.append(
                api.patch(f"/v1/residents/{rid}", json={"given_name": f"N{n}x{i}"}).status
            )
        return statuses

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(writer, range(8)))
    assert all(s == 200 for statuses in results for s in statuses), results
    total = wait_sealed(first)
    assert total >= 8 * 30
    seals = [s for s, _ in rows_by_seal(first)]
    assert seals == list(range(1, total + 1))
    for d in (first, second):
        status, output = verify(d)
        assert status == 0 and f"audit chain intact: {total} rows" in output, output
