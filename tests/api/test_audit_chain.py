"""The tamper-evident audit log (SPEC section 7, v2): the sealer chains every committed audit
row, SHA-256 over the previous row's hash and the row's canonical serialisation (docs/DESIGN.md,
"The audit chain"); rollcalld --verify-audit says "audit chain intact: N rows" or names the first
row that breaks the chain - a row altered, deleted or inserted behind the daemon's back, in audit
or in audit_seals, where each row's seal and hash live."""

import concurrent.futures
import hashlib
import re
import threading
import time

import pytest
from harness import migrate, ok

CLOCK = "2026-11-20T10:15:00+01:00"
SEAL_TIMEOUT = 20.0  # the sealer runs every second; generous for shared cores


UNSEALED = "NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = audit.id)"


def wait_sealed(daemon, where="true"):
    """Waits until every audit row (matching where) is sealed; returns how many rows there are."""
    deadline = time.monotonic() + SEAL_TIMEOUT
    while True:
        unsealed = daemon.db.count("audit", f"({UNSEALED}) AND ({where})")
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
    return daemon.db.query("SELECT seal, audit_id FROM audit_seals ORDER BY seal")


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
    "SELECT s.seal::text, a.id::text, to_char(a.at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), a.cn, a.role, a.action, a.resident::text, "
    "a.request_id, a.remote, a.outcome, a.detail::text, encode(s.hash, 'hex') "
    "FROM audit_seals s JOIN audit a ON a.id = s.audit_id ORDER BY s.seal"
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
    superuser(daemon, f"DELETE FROM audit WHERE id = {deleted}",
              f"DELETE FROM audit_seals WHERE audit_id = {deleted}")
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
        f"DELETE FROM audit_seals WHERE audit_id = {deleted}",
        "UPDATE audit_seals SET seal = seal + 1000000 WHERE seal > 5",
        "UPDATE audit_seals SET seal = seal - 1000001 WHERE seal > 1000000",
    )
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (next_id, 5)


def test_a_row_inserted_with_a_made_up_hash_is_named(daemon):
    total = wait_sealed(daemon)
    daemon.stop()
    superuser(
        daemon,
        "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
        "(now(), 'admin', 'admin', 'audit_list', 'ok')",
        "INSERT INTO audit_seals (seal, audit_id, hash) SELECT "
        f"{total + 1}, max(id), sha256('forged'::bytea) FROM audit",
    )
    forged = daemon.db.scalar(f"SELECT audit_id FROM audit_seals WHERE seal = {total + 1}")
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
        "UPDATE audit_seals SET seal = seal + 1000000 WHERE seal >= 4",
        "UPDATE audit_seals SET seal = seal - 999999 WHERE seal > 1000000",
        "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
        "(now(), 'admin', 'admin', 'forged', 'ok')",
        "INSERT INTO audit_seals (seal, audit_id, hash) SELECT 4, a.id, "
        "sha256((SELECT p.hash FROM audit_seals p WHERE p.seal = 3) || audit_canonical(4, a)) "
        "FROM audit a WHERE a.action = 'forged'",
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
        highest_before = daemon.db.scalar("SELECT max(seal) FROM audit_seals")
        conn.commit()
    finally:
        conn.close()
    total = wait_sealed(daemon)
    late_seal = daemon.db.scalar(f"SELECT seal FROM audit_seals WHERE audit_id = {late}")
    assert late_seal == highest_before + 1
    status, output = verify(daemon)
    assert status == 0 and f"audit chain intact: {total} rows" in output, output


def test_an_unsealed_row_cannot_be_rewritten_on_the_way(daemon):
    """The trigger refuses every change of an audit row, even with the sealer's setting on."""
    import psycopg

    wait_sealed(daemon)
    seal, row_id = rows_by_seal(daemon)[0]
    with pytest.raises(psycopg.Error):
        with daemon.db.connect() as conn:
            conn.execute("SELECT set_config('rollcall.audit_sealing', 'on', false)")
            conn.execute(f"UPDATE audit SET outcome = 'x' WHERE id = {row_id}")
    assert daemon.db.scalar(f"SELECT outcome FROM audit WHERE id = {row_id}") == "ok"
    assert daemon.db.scalar(f"SELECT seal FROM audit_seals WHERE audit_id = {row_id}") == seal


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


# ---------------------------------------------------------------------------------------------
# Seals in their own table (issue 16): audit_seals (seal, audit_id, hash), the sealer's watermark

def seal_now(daemon, times=3):
    """Runs the sealer directly (the daemon stopped), often enough for its watermark to catch up:
    the watermark moves one run after the writers it waits for have ended."""
    with daemon.db.connect() as conn:
        for _ in range(times):
            conn.execute("SELECT * FROM audit_seal(2000)")


def watermark(daemon):
    return daemon.db.scalar("SELECT watermark FROM audit_seal_state")


def test_an_altered_seal_hash_is_named(daemon):
    wait_sealed(daemon)
    daemon.stop()
    seal, row_id = rows_by_seal(daemon)[2]
    superuser(daemon, f"UPDATE audit_seals SET hash = sha256(hash) WHERE seal = {seal}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (row_id, seal)
    assert "does not match" in output


def test_a_seal_pointed_at_another_row_is_named(daemon):
    wait_sealed(daemon)
    daemon.stop()
    rows = rows_by_seal(daemon)
    seal, _ = rows[3]
    superuser(daemon, f"UPDATE audit_seals SET audit_id = audit_id + 1000000 WHERE seal = {seal}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output)[1] == seal
    assert "the audit row is missing" in output


def test_a_deleted_seal_row_is_named_by_the_seal_after_it(daemon):
    wait_sealed(daemon)
    daemon.stop()
    rows = rows_by_seal(daemon)
    next_seal, next_id = rows[5]
    superuser(daemon, "DELETE FROM audit_seals WHERE seal = 5")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (next_id, next_seal)
    assert "expected seal 5" in output


def test_the_last_seal_deleted_below_the_watermark_is_named(daemon):
    """Cutting the last seal off leaves a consistent chain, but its row is below the watermark,
    where the sealer never looks again: --verify-audit names it."""
    wait_sealed(daemon)
    daemon.stop()
    seal_now(daemon)
    last_seal, last_id = rows_by_seal(daemon)[-1]
    assert watermark(daemon) >= last_id
    superuser(daemon, f"DELETE FROM audit_seals WHERE seal = {last_seal}")
    status, output = verify(daemon)
    assert status == 1, output
    assert f"audit chain broken at row {last_id} (no seal)" in output


def test_an_audit_row_deleted_under_its_seal_is_named(daemon):
    wait_sealed(daemon)
    daemon.stop()
    seal, row_id = rows_by_seal(daemon)[4]
    superuser(daemon, f"DELETE FROM audit WHERE id = {row_id}")
    status, output = verify(daemon)
    assert status == 1, output
    assert broken_row(output) == (row_id, seal)
    assert "missing" in output


def test_seals_are_append_only_and_written_by_the_sealer_only(daemon):
    import psycopg

    wait_sealed(daemon)
    seal, row_id = rows_by_seal(daemon)[0]
    refused = [
        "UPDATE audit_seals SET hash = sha256(hash) WHERE seal = 1",
        "DELETE FROM audit_seals WHERE seal = 1",
        "TRUNCATE audit_seals",
        "INSERT INTO audit_seals VALUES (1000000, 1000000, sha256(''::bytea))",
        "UPDATE audit_seal_state SET watermark = watermark + 1000",
        "DELETE FROM audit",
    ]
    for sql in refused:
        with pytest.raises(psycopg.Error):
            with daemon.db.connect() as conn:
                conn.execute(sql)
    # The sealer's setting opens INSERT into audit_seals only, never a change of a seal.
    for sql in refused[:3]:
        with pytest.raises(psycopg.Error):
            with daemon.db.connect() as conn:
                conn.execute("SELECT set_config('rollcall.audit_sealing', 'on', false)")
                conn.execute(sql)
    assert daemon.db.scalar(f"SELECT audit_id FROM audit_seals WHERE seal = {seal}") == row_id
    assert daemon.db.count("audit_seals", "seal = 1000000") == 0


def test_a_lower_id_committing_after_a_higher_one_was_sealed_is_sealed_later_once(daemon):
    """Two connections: the first inserts a row and stays open; the second's later row (higher
    id) is sealed, and the watermark stays below the open row. Once the first commits, its row
    is sealed by the next run, once, with the next seal number, and the chain verifies."""
    wait_sealed(daemon)
    daemon.stop()
    seal_now(daemon)
    early = daemon.db.connect(autocommit=False)
    try:
        low = early.execute(
            "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
            "(now(), 'admin', 'admin', 'low', 'ok') RETURNING id").fetchone()[0]
        with daemon.db.connect() as later:
            high = later.execute(
                "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
                "(now(), 'admin', 'admin', 'high', 'ok') RETURNING id").fetchone()[0]
        assert low < high
        seal_now(daemon, times=5)
        assert daemon.db.count("audit_seals", f"audit_id = {high}") == 1
        assert daemon.db.count("audit_seals", f"audit_id = {low}") == 0
        assert watermark(daemon) < low
        highest_before = daemon.db.scalar("SELECT max(seal) FROM audit_seals")
        early.commit()
    finally:
        early.close()
    seal_now(daemon)
    assert daemon.db.query(f"SELECT seal FROM audit_seals WHERE audit_id = {low}") == [
        (highest_before + 1,)]
    assert watermark(daemon) >= high
    total = daemon.db.count("audit")
    assert daemon.db.count("audit_seals") == total
    status, output = verify(daemon)
    assert status == 0 and f"audit chain intact: {total} rows" in output, output


def test_a_rolled_back_id_does_not_hold_the_watermark_back(daemon):
    """Ids of rolled-back inserts are gaps for ever: the watermark passes them."""
    wait_sealed(daemon)
    daemon.stop()
    with daemon.db.connect(autocommit=False) as conn:
        gap = conn.execute(
            "INSERT INTO audit (at, cn, role, action, outcome) VALUES "
            "(now(), 'admin', 'admin', 'gone', 'ok') RETURNING id").fetchone()[0]
        conn.rollback()
    daemon.db.execute("INSERT INTO audit (at, cn, role, action, outcome) VALUES "
                      "(now(), 'admin', 'admin', 'after', 'ok')")
    seal_now(daemon)
    assert watermark(daemon) > gap
    assert daemon.db.count("audit", UNSEALED) == 0


def test_a_code_layer_reapplied_over_sealed_rows_keeps_the_chain(daemon):
    """An upgrade re-applies the code layer (the sealer and the append-only triggers dropped and
    created again) over a database that has seals: the seals made before stay as they were, the
    rows audited after are chained onto them, and the whole chain verifies."""
    before = wait_sealed(daemon)
    seals = daemon.db.query("SELECT seal, audit_id, hash FROM audit_seals ORDER BY seal")
    assert len(seals) == before
    # As a package upgrade with a new code layer would find it: the recorded layer differs.
    daemon.db.execute("UPDATE schema_code SET sha256 = 'an older code layer'")
    output = migrate(daemon.cluster, daemon.dbname, daemon.pki, daemon.dir)
    assert "re-applied" in output, output
    make_rows(daemon)
    after = wait_sealed(daemon)
    assert after > before
    assert daemon.db.query("SELECT seal, audit_id, hash FROM audit_seals WHERE seal <= %s"
                           " ORDER BY seal", before) == seals
    status, output = verify(daemon)
    assert status == 0, output
    assert f"audit chain intact: {after} rows" in output
    # Still append-only after the re-apply.
    with pytest.raises(Exception, match="the audit log is append-only"):
        daemon.db.execute("UPDATE audit SET outcome = 'altered' WHERE id = %s", seals[0][1])
