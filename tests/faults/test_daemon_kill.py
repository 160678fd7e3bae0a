"""Fault case 1 (issue 12): rollcalld killed with SIGKILL at random moments under a load of
idempotent observation POSTs from 8 terminals, and restarted each time."""

import random
import time

from harness import at
from harness.faults import ObservationLoad, report
from harness.world import Centre

DAY = "2026-11-20"
OBSERVATIONS = 10_000
TERMINALS = 8


def test_sigkill_under_load_stores_every_acknowledged_request_once(daemon_factory):
    """Injects: SIGKILL of rollcalld every 0.5-2.5 s (at a random moment, so that requests are cut
    before, during and after their commit), then a restart on the same port and database,
    while 8 terminals post 10,000 observations, each with an Idempotency-Key of its own (and the
    key in its note), retrying the same key with the same body until acknowledged. Must hold:
    every request answered 2xx is stored exactly once, no key is stored twice (no duplicate
    effect of a retry), every key is finally acknowledged, and the daemon's log shows no
    sanitizer report. (10,000 under ASan on 2 cores took about a minute on 2026-12-03 and 12 s
    on 2026-12-07, when kills 2-5 s apart came only twice: hence the shorter interval.)"""
    # The 8 terminals share one certificate here, so its request budget is that of 8 terminals
    # (8 x the default 500/s): on a fast machine the load runs at about 700/s and would
    # otherwise meet 429, which is the budget working, not the fault this case is about.
    rc = daemon_factory(config={"log_level": "info",
                                "request_rate": str(8 * 500), "request_burst": str(8 * 1000)})
    rc.set_clock(at(DAY, "23:30"))
    centre = Centre(rc, staff=True)
    residents = centre.residents(32)
    rng = random.Random(12)
    load = ObservationLoad(centre.staff, centre.id, DAY, residents, threads=TERMINALS,
                           total=OBSERVATIONS, prefix="kill", timeout=30).start()
    kills = 0
    started = time.monotonic()
    try:
        while any(t.is_alive() for t in load._workers):
            time.sleep(rng.uniform(0.5, 2.5))
            if not any(t.is_alive() for t in load._workers):
                break
            rc.kill()
            kills += 1
            rc.start()
        load.join(timeout=120)
    finally:
        load.stop()
    elapsed = time.monotonic() - started
    acked, stored, duplicates = load.check_exactly_once(rc.db)
    statuses = load.statuses()
    report("daemon_sigkill", observations=OBSERVATIONS, terminals=TERMINALS, kills=kills,
           acked=acked, stored=stored, duplicates=duplicates, attempts=len(load.attempts),
           connection_errors=statuses.get(None, 0), seconds=f"{elapsed:.1f}")
    assert kills >= 3, f"only {kills} kills: the case proved little"
    assert acked == OBSERVATIONS, f"{OBSERVATIONS - acked} keys never acknowledged"
    assert stored == OBSERVATIONS
    other = {s: n for s, n in statuses.items() if s not in (None, 200, 201, 503)}
    assert not other, f"answers other than 2xx, 503 or a cut connection: {other}"
