#!/usr/bin/python3
"""Loads rollcall's demo data through the API over mutual TLS: the centre "tonder"
(Børnecenter Tønder, 76 places), its staff, on-call, manager accounts and 76 residents with
invented names, aged 9 to 17 today, in asylum phases 1 and 2. The residents are entered the way
a centre goes live: one import with the instant of the head count as `accounted_for_at`.

    demo-data.py URL PKI_DIR [AUTHORITIES_JSON]

AUTHORITIES_JSON, if given, is the centre's webhook endpoints ([{"kind","url","secret"}], the
demo's stand-in receiver); an existing centre gets them too (the receiver's port may change).
Deterministic (fixed seed): the same residents every run. Safe to run again: a centre that
exists already is left as it is. Every name and case number here is invented.
"""

import datetime
import http.client
import json
import random
import ssl
import sys
import urllib.parse
import zoneinfo
from pathlib import Path

CENTRE = {
    "id": "tonder",
    "name": "Børnecenter Tønder",
    "operator": "Demo operator",
    "capacity": 76,
    "timezone": "Europe/Copenhagen",
    "check_times": ["07:00", "15:00", "23:00"],
    "grace_minutes": 60,
    "free_meals": False,
}
ACCOUNTS = [
    ("tonder-staff", "staff"),
    ("tonder-oncall", "oncall"),
    ("tonder-manager", "manager"),
]

# Invented names in the spelling a Danish case file would use, by the residents' countries of
# origin (the largest groups among unaccompanied minors in Denmark).
NAMES = {
    "Afghanistan": (
        ["Ahmad", "Mohammad", "Farid", "Hamid", "Samiullah", "Najib", "Zahra", "Sahar",
         "Mursal", "Rohullah", "Bilal", "Khalid"],
        ["Rahimi", "Ahmadzai", "Hakimi", "Popal", "Sultani", "Noori", "Wardak", "Safi",
         "Karimi", "Stanikzai"],
    ),
    "Syria": (
        ["Omar", "Khaled", "Rami", "Lina", "Yara", "Hassan", "Nour", "Ammar", "Rasha"],
        ["Haddad", "Al-Hassan", "Khalil", "Darwish", "Sabbagh", "Al-Ali", "Hamdan"],
    ),
    "Eritrea": (
        ["Yonas", "Filmon", "Semhar", "Helen", "Robel", "Mebrahtu", "Senait", "Aron"],
        ["Tesfay", "Ghebremariam", "Kidane", "Haile", "Tekle", "Berhane", "Weldemichael"],
    ),
    "Somalia": (
        ["Abdirahman", "Hodan", "Ayaan", "Mahad", "Fartun", "Abdullahi", "Sagal"],
        ["Warsame", "Farah", "Jama", "Hirsi", "Egal", "Osman", "Abdi"],
    ),
    "Morocco": (
        ["Youssef", "Amine", "Hamza", "Salma", "Imane", "Ayoub", "Zakaria"],
        ["El Amrani", "Benali", "Ouali", "Bouzid", "Tazi", "Chakir"],
    ),
    "Ukraine": (
        ["Oleksandr", "Dmytro", "Maksym", "Sofiia", "Anastasiia", "Bohdan", "Daryna"],
        ["Kovalenko", "Shevchenko", "Bondarenko", "Melnyk", "Tkachenko", "Kravchenko"],
    ),
    "Iran": (
        ["Amir", "Reza", "Mahsa", "Parisa", "Arash"],
        ["Hosseini", "Moradi", "Jafari", "Rostami"],
    ),
}
# How many residents from each country: 76 in all.
ORIGINS = [("Afghanistan", 24), ("Syria", 14), ("Eritrea", 12), ("Somalia", 9),
           ("Morocco", 7), ("Ukraine", 6), ("Iran", 4)]


def birth_date(today, age, rng):
    """A date of birth that makes someone exactly `age` completed years old today."""
    latest = today.replace(year=today.year - age) if not (today.month == 2 and today.day == 29) \
        else today.replace(year=today.year - age, day=28)
    earliest = latest.replace(year=latest.year - 1) + datetime.timedelta(days=1)
    return earliest + datetime.timedelta(days=rng.randrange((latest - earliest).days + 1))


def residents(today):
    rng = random.Random(7600)
    out, used = [], set()
    number = 0
    for country, count in ORIGINS:
        given, family = NAMES[country]
        for _ in range(count):
            while True:
                name = (rng.choice(given), rng.choice(family))
                if name not in used:
                    used.add(name)
                    break
            number += 1
            age = 9 + (number * 7) % 9  # 9..17, spread evenly
            dob = birth_date(today, age, rng)
            days_here = rng.randrange(3, 420)
            arrival = today - datetime.timedelta(days=days_here)
            out.append({
                # The year the centre went live with rollcall, not of arrival: the examples
                # in --help and the docs name these (TON-2026-0001 ...) on any day.
                "case_number": f"TON-2026-{number:04d}",
                "given_name": name[0],
                "family_name": name[1],
                "date_of_birth": dob.isoformat(),
                "arrival_date": arrival.isoformat(),
                # Newly arrived children are in reception (phase 1) for about two months.
                "phase": 1 if days_here < 60 else 2,
            })
    # One resident turns 18 in three weeks, so managers see the 30-day warning.
    soon = today + datetime.timedelta(days=21)
    out[0]["date_of_birth"] = soon.replace(year=soon.year - 18).isoformat()
    return out


class Client:
    def __init__(self, url, pki, cn):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 443
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "clients" / f"{cn}.crt"),
                                     str(pki / "clients" / f"{cn}.key"))

    def call(self, method, path, body=None):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            conn.close()

    def must(self, method, path, body=None, accept=(200, 201)):
        status, answer = self.call(method, path, body)
        if status not in accept:
            sys.exit(f"demo-data: {method} {path} answered {status}: {answer}")
        return answer


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    url, pki = sys.argv[1], Path(sys.argv[2])
    if len(sys.argv) == 4:
        CENTRE["authorities"] = json.loads(Path(sys.argv[3]).read_text())
    admin = Client(url, pki, "admin")
    status, _ = admin.call("GET", f"/v1/centres/{CENTRE['id']}")
    if status == 200:
        if "authorities" in CENTRE:
            admin.must("PATCH", f"/v1/centres/{CENTRE['id']}",
                       {"authorities": CENTRE["authorities"]})
        print("demo-data: centre tonder exists already; nothing loaded")
        return
    admin.must("POST", "/v1/centres", CENTRE, accept=(201,))
    for cn, role in ACCOUNTS:
        admin.must("POST", "/v1/accounts", {"cn": cn, "role": role, "centres": [CENTRE["id"]]},
                   accept=(201, 409))
    manager = Client(url, pki, "tonder-manager")
    # The head count is now (the daemon's clock when it is the test clock). Without
    # accounted_for_at a resident never observed would count as away since the arrival day,
    # months ago, and an absence at the first check would be reported to the police at once.
    status, clock = admin.call("GET", "/v1/clock")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if status == 200:
        now = datetime.datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))
    local = now.astimezone(zoneinfo.ZoneInfo(CENTRE["timezone"]))
    people = residents(local.date())
    for person in people:
        person["accounted_for_at"] = now.isoformat()
    manager.must("POST", f"/v1/centres/{CENTRE['id']}/residents/import",
                 {"residents": people}, accept=(201,))
    phases = sum(1 for p in people if p["phase"] == 2)
    local = now.astimezone(zoneinfo.ZoneInfo(CENTRE["timezone"]))
    print(f"demo-data: centre tonder with {len(people)} residents "
          f"({len(people) - phases} in phase 1, {phases} in phase 2), all counted at "
          f"{local.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
