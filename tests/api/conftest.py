"""The API tests' fixtures. The harness itself (cluster, PKI, daemons, HTTP over mutual TLS, the
client binary, the world builder) is the package tests/harness; see tests/README.md.

Session: one cluster (scripts/pg.sh, random port, a directory under /tmp that the postgres user
can reach), one PKI (scripts/pki.sh) and a template database migrated once with
`rollcalld --migrate`. Each daemon gets a fresh database cloned from the template, its own port
and config, and is stopped with SIGTERM at teardown: it must exit 0 within a few seconds and,
under ASan/UBSan, print no sanitizer report. When a test fails, the logs of the daemons it used
are attached to the report.

Fixtures:
  rc              a daemon shared by the tests of one module (fresh database per module)
  daemon_factory  make(**options) -> a new Daemon for this test (custom config, own database)
  cluster         the session's PostgreSQL cluster (stop/start for outage tests)
  pki             the session's PKI (client certificates on demand, revoke, other CA)
  environment     the session's Environment (workdir, pki, cluster, migrated template)
  workdir         the session's directory under /tmp
  receiver_pki, receiver, world   a webhook receiver and a centre wired to it (notifications)

Environment: ROLLCALL_BUILD (default build/) names the build directory holding rollcalld and
rollcall; ROLLCALL_KEEP=1 keeps the session's directory for inspection.
"""

import contextlib
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the harness package
pytest.register_assert_rewrite("harness")  # its asserts explain themselves as the tests' do

import harness  # noqa: E402
from harness import daemon as _daemon  # noqa: E402
from harness import webhooks as _webhooks  # noqa: E402

# Names earlier test files import from conftest (`from conftest import ok`): kept so they work.
from harness import (  # noqa: E402,F401
    BUILD,
    PG_SH,
    PKI_SH,
    ROLLCALL,
    ROLLCALLD,
    ROOT,
    SANITIZER_REPORT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TEMPLATE_DB,
    Api,
    Cluster,
    Daemon,
    DaemonSet,
    Database,
    Environment,
    Pki,
    Reply,
    client_context,
    error_of,
    free_port,
    migrated_environment,
    ok,
    run,
)
from harness.api import complete_response as _complete_response  # noqa: E402,F401
from harness.api import parse_reply as _parse_reply  # noqa: E402,F401
from harness.daemon import REGISTRY as _REGISTRY  # noqa: E402,F401

# --------------------------------------------------------------------------------------------
# Session


@pytest.fixture(scope="session")
def workdir():
    path = harness.make_workdir("rollcall-tests-")
    yield path
    if not harness.keep():
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(workdir):
    return harness.Pki(workdir / "pki")


@pytest.fixture(scope="session")
def cluster(workdir):
    c = harness.Cluster(workdir / "pg")
    yield c
    with contextlib.suppress(Exception):
        c.stop()


@pytest.fixture(scope="session")
def environment(workdir, pki, cluster):
    """The migrated template database every daemon's database is cloned from."""
    return harness.migrated_environment(workdir, pki, cluster)


# --------------------------------------------------------------------------------------------
# Daemons


@pytest.fixture(scope="module")
def rc(environment, request):
    """A daemon shared by the tests of a module, on a fresh database."""
    daemons = harness.DaemonSet(environment, request.module.__name__.split(".")[-1])
    try:
        yield daemons.make()
    finally:
        daemons.close()


@pytest.fixture
def daemon_factory(environment, request):
    """make(config={key: value or None to drop}, database=name, start=True, migrated=True)."""
    daemons = harness.DaemonSet(environment, request.node.name)
    try:
        yield daemons.make
    finally:
        daemons.close()


# --------------------------------------------------------------------------------------------
# Webhooks (notification tests)


@pytest.fixture(scope="session")
def receiver_pki(workdir):
    """The receivers' own CA (not the daemon's client CA), shared by the session."""
    return _webhooks.make_pki(workdir / "webhook-pki")


@pytest.fixture
def receiver(receiver_pki):
    r = _webhooks.WebhookReceiver(receiver_pki)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def world(daemon_factory, receiver):
    """A daemon trusting the receiver, and a centre whose authorities all point at it."""
    return _webhooks.World(daemon_factory(config=_webhooks.notify_config(receiver.ca)), receiver)


# --------------------------------------------------------------------------------------------
# Logs of the daemons a failing test used


def pytest_runtest_setup(item):
    # Daemons stopped by an earlier test's teardown are done with; the others' logs count from
    # here.
    _daemon.mark_logs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for name, text in _daemon.logs_since_mark():
        report.sections.append((f"rollcalld {name} log ({report.when})", text))


def pytest_sessionfinish(session, exitstatus):
    # Secrets and leaks (tests/harness/leaks.py): whatever the harness saw after
    # test_zz_secrets_leak.py ran, including the teardown of module daemons, fails the run too.
    from harness import leaks

    if leaks.FINDINGS:
        lines = "\n".join(f"  {w}: {what}: {ex!r}" for w, what, ex in leaks.FINDINGS[:20])
        print(f"\nleaks found by the harness (tests/harness/leaks.py):\n{lines}")
        session.exitstatus = 1
