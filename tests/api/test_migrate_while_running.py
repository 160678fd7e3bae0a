"""A running daemon keeps answering across `rollcalld --migrate` re-applying the code layer
(issue 16): api() is a statement prepared once per pool connection, and the code layer's
functions are dropped and created again under it. No answer may be a 500 ("function does not
exist", "cached plan must not change result type"): the pool re-plans or prepares again."""
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
