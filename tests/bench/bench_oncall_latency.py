#!/usr/bin/python3
"""Figures for issue 13 (on-call): how long from an absence report with a concern
(POST /v1/residents/{id}/absences, measured from the start of the request) until on-call staff
hear of it: the `resident_absent` alert arriving (1) on an open alert stream, (2) as an e-mail
at the SMTP relay (aiosmtpd over STARTTLS, the e-mail channel) and (3) at the webhook channel
(an HTTPS receiver with keep-alive). Prints median, p90 and max of --reports reports; asserts
nothing about timing (it is a program that prints, not a timed test).

Usage (from the repository root, after building):
    ROLLCALL_BUILD=build /usr/bin/python3 tests/bench/bench_oncall_latency.py [--reports 20]
It starts its own PostgreSQL cluster (scripts/pg.sh, --fast: fsync off), PKI, webhook receiver,
SMTP relay and one rollcalld (log_level info) under /tmp, and removes them afterwards
(ROLLCALL_KEEP=1 keeps them).
"""

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402  (tests/harness)
from harness import ok  # noqa: E402
from harness.smtp import SmtpRelay  # noqa: E402
from harness.webhooks import WebhookReceiver, World, make_pki, new_secret, notify_config  # noqa: E402

POLL_S = 0.001


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, int(round(p / 100.0 * len(ordered) + 0.5)))
    return ordered[min(rank, len(ordered)) - 1]


def wait(predicate, timeout=20.0, what="it"):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20)
    args = parser.parse_args()

    env = harness.Environment.create(prefix="rollcall-bench-oncall-")
    relay = receiver = None
    try:
        pki_dir = make_pki(env.workdir / "webhook-pki")
        receiver = WebhookReceiver(pki_dir, keep_alive=True)
        relay = SmtpRelay(tls_dir=pki_dir)
        rc = env.daemons("bench_oncall").make(config=notify_config(
            receiver.ca, log_level="info", smtp_relay=relay.host_port,
            smtp_from="rollcall@centre.example", smtp_ca=str(pki_dir / "ca.crt")))
        world = World(rc, receiver)
        ok(rc.admin.patch(f"/v1/centres/{world.id}", json={"oncall_channels": [
            {"kind": "email", "to": "oncall@centre.example", "min_priority": "urgent"},
            {"kind": "webhook", "url": receiver.url("oncall"), "secret": new_secret(),
             "min_priority": "urgent"}]}))
        residents = [world.resident_id(given_name="Bench", family_name=f"R{i}",
                                       date_of_birth="2012-03-10")
                     for i in range(args.reports)]
        stream_s, mail_s, hook_s = [], [], []
        with world.stream() as watcher:
            wait(lambda: watcher.head, what="the stream's head")
            staff = world.staff
            for resident in residents:
                started = time.monotonic()
                absence = ok(staff.post(f"/v1/residents/{resident}/absences",
                                        json={"concern": "bench: left with an unknown adult"}),
                             201)
                ev = watcher.next(timeout=20)
                while ev.alert.get("absence") != absence["id"]:
                    ev = watcher.next(timeout=20)
                stream_s.append(time.monotonic() - started)
                alert_id = ev.alert["id"]
                ack = re.compile(rf"^Acknowledge: rollcall ack {alert_id}\r?$", re.M)
                wait(lambda: next((m for m in relay.messages()
                                   if m.event_type == "alert.raised" and ack.search(m.text)),
                                  None), what="the e-mail")
                mail_s.append(time.monotonic() - started)
                hook = wait(lambda: next((r for r in receiver.requests("oncall")
                                          if r.json["type"] == "alert.raised"
                                          and r.json["alert"]["id"] == alert_id), None),
                            what="the webhook")
                hook_s.append(hook.received_mono - started)
        print(f"on-call latency from an absence report with a concern "
              f"({args.reports} reports, one daemon, loopback, fsync off):")
        for name, values in (("alert stream (SSE event)", stream_s),
                             ("e-mail at the SMTP relay", mail_s),
                             ("webhook channel", hook_s)):
            print(f"  {name:26s} median {statistics.median(values) * 1000:7.1f} ms   "
                  f"p90 {percentile(values, 90) * 1000:7.1f} ms   "
                  f"max {max(values) * 1000:7.1f} ms")
    finally:
        if relay is not None:
            relay.close()
        if receiver is not None:
            receiver.close()
        env.close()


if __name__ == "__main__":
    main()
