"""The fault-injection suite's fixtures: those of the API tests (tests/api/conftest.py: workdir,
pki, cluster, environment, rc, daemon_factory, receiver_pki, receiver, world, and the hooks that
attach a failing test's daemon logs), loaded under another module name and re-exported, so that
nothing is copied. Each case prints its counts and appends them to the results file
(harness.faults.RESULTS) that scripts/test.sh prints at the end."""

import importlib.util
import sys
from pathlib import Path

_API = Path(__file__).resolve().parents[1] / "api"
sys.path.insert(0, str(_API.parent))  # tests/: the harness package
sys.path.insert(0, str(_API))  # alerts_helpers and friends, for cases that reuse them
_spec = importlib.util.spec_from_file_location("api_conftest", _API / "conftest.py")
_api_conftest = importlib.util.module_from_spec(_spec)
sys.modules["api_conftest"] = _api_conftest
_spec.loader.exec_module(_api_conftest)

from api_conftest import (  # noqa: E402,F401
    cluster,
    daemon_factory,
    environment,
    pki,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    rc,
    receiver,
    receiver_pki,
    workdir,
    world,
)
