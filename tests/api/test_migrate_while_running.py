"""A running daemon keeps answering across `rollcalld --migrate` re-applying the code layer
(issue 16): api() is a statement prepared once per pool connection, and the code layer's
functions are dropped and created again under it. No answer may be a 500 ("function does not
exist", "cached plan must not change result type"): the pool re-plans or prepares again."""
import re

from harness import migrate, ok


def rounds(api, centre):
    body = ok(api.get(f"/v1/centres/{centre}/rounds?date=2026-11-20"))
    return [r["slot"] for r in body["items"]]


def test_answers_stay_correct_across_a_code_layer_reapply(rc, cluster, pki, workdir):
    centre = rc.create_centre()["id"]
    # Every pool connection has api() prepared before the migration.
    for _ in range(16):
        assert rounds(rc.admin, centre) == [1, 2, 3]
    migrate(cluster, rc.dbname, pki, workdir)
    for _ in range(16):
        assert rounds(rc.admin, centre) == [1, 2, 3]
    migrate(cluster, rc.dbname, pki, workdir)
    assert rounds(rc.admin, centre) == [1, 2, 3]


API_ARGS = "text, text, jsonb, timestamptz, text, text, text, text, text[]"


def test_api_result_type_changed_under_the_pool_is_prepared_again(daemon_factory):
    """The re-prepare path itself: api() replaced under a running daemon by one of another
    result type, as a code layer of a later release may. (A function dropped and created again
    with the same columns is re-planned by PostgreSQL itself; a status column of another type
    changes the prepared statement's own result type.) Every pool connection holds api()
    prepared; each then meets "cached plan must not change result type" once, prepares again
    and answers correctly; and once more when the original comes back."""
    d = daemon_factory(config={"log_level": "info", "db_pool_size": "2"})
    centre = d.create_centre()["id"]
    for _ in range(8):
        assert rounds(d.admin, centre) == [1, 2, 3]
    assert "prepared statement went stale" not in d.log_text()
    owner = d.db.scalar(f"SELECT proowner::regrole::text FROM pg_proc "
                        f"WHERE oid = 'api({API_ARGS})'::regprocedure")
    args = ", ".join(f"${i}" for i in range(1, 10))
    original = d.db.scalar(f"SELECT pg_get_functiondef('api({API_ARGS})'::regprocedure)")
    # The same api() under another name; its PL/pgSQL qualifies parameters by the
    # function's name (api.args), which follows the new name.
    before = original.replace("FUNCTION public.api(", "FUNCTION public.api_before(", 1)
    before = re.sub(r"\bapi\.", "api_before.", before)
    assert "api_before.args" in before
    d.db.execute(before)
    d.db.execute(f"DROP FUNCTION api({API_ARGS})")
    d.db.execute(f"CREATE FUNCTION api({API_ARGS}) "
                 f"RETURNS TABLE(status bigint, body json, release text) LANGUAGE sql "
                 f"AS $$ SELECT a.status::bigint, a.body, 'next' FROM api_before({args}) a $$")
    for name in ("api", "api_before"):
        d.db.execute(f"ALTER FUNCTION {name}({API_ARGS}) OWNER TO {owner}")
    try:
        for _ in range(8):
            assert rounds(d.admin, centre) == [1, 2, 3]
        stale_once = d.log_text().count("prepared statement went stale")
        assert stale_once >= 1, d.log_text()
    finally:
        d.db.execute(f"DROP FUNCTION api({API_ARGS})")
        d.db.execute(f"DROP FUNCTION api_before({API_ARGS})")
        d.db.execute(original)
        d.db.execute(f"ALTER FUNCTION api({API_ARGS}) OWNER TO {owner}")
    for _ in range(8):
        assert rounds(d.admin, centre) == [1, 2, 3]
    assert d.log_text().count("prepared statement went stale") > stale_once
    assert "ERROR" not in d.log_text(), d.log_text()
