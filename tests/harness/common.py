"""Paths, the build directory, sanitizer settings and small process helpers shared by the rest of
the harness.

ROLLCALL_BUILD (default build/, relative to the repository root) names the build directory that
holds rollcalld, rollcall and bench_https. It is read once, when the package is first imported:
a script that takes --build sets os.environ["ROLLCALL_BUILD"] before importing harness.
"""

import os
import re
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ROLLCALL_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
ROLLCALLD = BUILD / "rollcalld"
ROLLCALL = BUILD / "rollcall"
BENCH_HTTPS = BUILD / "bench_https"
PKI_SH = ROOT / "scripts" / "pki.sh"
PG_SH = ROOT / "scripts" / "pg.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

# Sanitizer settings for the processes the harness starts, unless the caller chose others.
os.environ.setdefault(
    "ASAN_OPTIONS",
    "detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:"
    "detect_stack_use_after_return=1",
)
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
if (ROOT / "tests" / "lsan.supp").exists():
    os.environ.setdefault(
        "LSAN_OPTIONS", f"suppressions={ROOT / 'tests' / 'lsan.supp'}:print_suppressions=0"
    )

SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)"
)


def assert_no_sanitizer_report(text, what="output"):
    """Fails with the text around it when text holds an ASan/LSan/UBSan report."""
    report = SANITIZER_REPORT.search(text)
    assert not report, f"sanitizer report in {what}:\n{text[max(0, report.start() - 2000):]}"


def keep():
    """ROLLCALL_KEEP=1: leave work directories (cluster, PKI, daemon logs) for inspection."""
    return os.environ.get("ROLLCALL_KEEP") == "1"


def free_port(host="127.0.0.1"):
    """A TCP port on host nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run(args, timeout=120, **kw):
    """Runs a helper program; returns its stdout, raises with its output when it fails."""
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def require(path, what="build first (or set ROLLCALL_BUILD)"):
    assert Path(path).exists(), f"{path} is missing: {what}"
