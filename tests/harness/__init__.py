"""rollcall's test harness: a throwaway PostgreSQL cluster, a development PKI, real rollcalld
processes over real mutual TLS, the real rollcall binary, and a world builder for centres and
residents. Used by the API tests (tests/api/conftest.py turns it into fixtures), the SQL checks
(tests/sql/test_sql_checks.py) and the benchmarks (tests/bench/).

    from harness import Environment, Centre, at, ok

    with Environment.create(prefix="rollcall-bench-") as env:   # PKI, cluster, migrated template
        rc = env.daemon("bench", config={"log_level": "warn"})  # a started, checked Daemon
        rc.set_clock(at("2026-11-20", "08:00"))
        centre = Centre(rc, staff=True)
        r = centre.resident()
        ok(centre.staff.get(f"/v1/residents/{r['id']}"))

Modules: common (paths, ROLLCALL_BUILD, sanitizer settings), pki, cluster (Cluster, Database,
migrate), environment (Environment: work directory + PKI + cluster + template), daemon (Daemon,
DaemonSet, the log registry), api (Api, Reply, ok, error_of), client (the rollcall binary),
world (instant, local, at, Centre, Clock), sse (SseStream), allowance, webhooks
(WebhookReceiver, World), smtp (SmtpRelay, imported as harness.smtp). See tests/README.md.
"""

from .api import Api, Reply, client_context, error_of, ok
from .cluster import TEMPLATE_DB, Cluster, Database, migrate
from .common import (
    BENCH_HTTPS,
    BUILD,
    PG_SH,
    PKI_SH,
    ROLLCALL,
    ROLLCALLD,
    ROOT,
    SANITIZER_REPORT,
    assert_no_sanitizer_report,
    free_port,
    keep,
    run,
)
from .daemon import REGISTRY, START_TIMEOUT, STOP_TIMEOUT, Daemon, DaemonSet
from .environment import Environment, make_workdir, migrated_environment
from .pki import Pki
from .world import AUTHORITIES, COPENHAGEN, UTC, Centre, Clock, at, instant, local, wait_until

__all__ = [
    "AUTHORITIES", "Api", "BENCH_HTTPS", "BUILD", "COPENHAGEN", "Centre", "Clock", "Cluster",
    "Daemon", "DaemonSet", "Database", "Environment", "PG_SH", "PKI_SH", "Pki", "REGISTRY",
    "ROLLCALL", "ROLLCALLD", "ROOT", "Reply", "SANITIZER_REPORT", "START_TIMEOUT",
    "STOP_TIMEOUT", "TEMPLATE_DB", "UTC", "assert_no_sanitizer_report", "at", "client_context",
    "error_of", "free_port", "instant", "keep", "local", "make_workdir", "migrate",
    "migrated_environment", "ok", "run", "wait_until",
]
