#!/bin/bash
# rollcall's whole test suite, as CI runs it (.ci/run): installs what is missing, checks the
# formatting of every C file, builds four times (build/: optimised with assertions on;
# build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer; build-release/: Release as
# packaged, then made into a .deb and installed by scripts/package.sh; build-fuzz/: clang with
# libFuzzer), runs the unit tests of the first two, the API tests and the fault-injection suite
# (tests/faults) against the sanitized daemon, the SQL checks, the package test and each fuzzing harness for FUZZ_SECONDS (default 20).
# Exits non-zero when anything fails. Extra arguments go to pytest (e.g. -k rounds -x).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
failures=()

step() {
	printf '\n=== %s\n' "$*"
}

# A build failure stops everything: nothing after it can run.
build() {
	local dir=$1
	shift
	step "configure and build $dir"
	cmake -S . -B "$dir" -Wno-dev "$@" >"$dir/configure.log" 2>&1 ||
		{ cat "$dir/configure.log"; echo "test.sh: cmake failed for $dir" >&2; exit 1; }
	make -C "$dir" -j"$JOBS" --no-print-directory ||
		{ echo "test.sh: build failed in $dir" >&2; exit 1; }
}

step "dependencies"
./scripts/deps.sh || { echo "test.sh: scripts/deps.sh failed" >&2; exit 1; }

step "formatting (clang-format, .clang-format)"
# Every C file as the checked-in style has it: a diff here is a failure, not a warning.
mapfile -t c_files < <(git ls-files -- '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
clang-format --dry-run -Werror "${c_files[@]}" || failures+=("formatting (run clang-format -i on the files above)")

mkdir -p build build-asan build-release
# RelWithDebInfo without -DNDEBUG: optimised, and assert() still checks.
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g"
build build-asan -DROLLCALL_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g"
# The package's configuration (-O3, NDEBUG): built so that its warnings fail here, not there.
build build-release -DCMAKE_BUILD_TYPE=Release -DROLLCALL_PACKAGE=ON
# The libFuzzer harnesses (clang): tests/fuzz.
mkdir -p build-fuzz
CC=clang build build-fuzz -DROLLCALL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g"

# Sanitizers: stop at the first report, with a stack; leaks count as failures.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -f tests/lsan.supp ]]; then
	export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
fi

for dir in build build-asan; do
	step "unit tests ($dir)"
	ctest --test-dir "$dir" --output-on-failure -j"$JOBS" || failures+=("unit tests in $dir")
done

step "API tests (pytest, against build-asan)"
# The Debian interpreter: pytest, psycopg and pexpect come from Debian's packages.
ROLLCALL_BUILD=$ROOT/build-asan /usr/bin/python3 -m pytest -q tests/api "$@" ||
	failures+=("API tests")

step "fault-injection suite (tests/faults, pytest, against build-asan)"
# Crashes, PostgreSQL outages and failover, clock jumps, full disks, resets: each case prints a
# "FAULTS <case>: counts" line into the results file, shown below so that the figures are in
# the log even when pytest is quiet.
fault_results=$ROOT/build-asan/fault-results.txt
rm -f "$fault_results"
fault_start=$SECONDS
ROLLCALL_BUILD=$ROOT/build-asan ROLLCALL_FAULT_RESULTS=$fault_results \
	/usr/bin/python3 -m pytest -q tests/faults ||
	failures+=("fault-injection suite (tests/faults)")
echo "fault-injection suite: $((SECONDS - fault_start)) s"
[[ -f $fault_results ]] && cat "$fault_results"

sql_checks=(tests/sql/*.sql)
if [[ -e ${sql_checks[0]} ]]; then
	step "SQL checks (tests/sql, pytest)"
	# tests/sql/test_sql_checks.py: each check in a database of its own, cloned from the
	# harness's template migrated by build/rollcalld.
	ROLLCALL_BUILD=$ROOT/build /usr/bin/python3 -m pytest -q tests/sql/test_sql_checks.py ||
		failures+=("SQL checks (tests/sql)")
fi

step "Debian package (scripts/package.sh test build-release)"
# Builds the .deb, checks its contents, installs it here, runs the installed rollcalld --migrate
# against a throwaway cluster, verifies the unit, removes and purges it.
if [[ $(id -u) -eq 0 ]]; then
	./scripts/package.sh test build-release || failures+=("Debian package")
else
	echo "skipped: installing the package needs root (CI runs as root)"
fi

step "fuzzing (tests/fuzz, ${FUZZ_SECONDS:-20} s per harness)"
tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-20}" || failures+=("fuzzing (tests/fuzz)")

step "summary"
if [[ ${#failures[@]} -gt 0 ]]; then
	printf 'FAILED: %s\n' "${failures[@]}"
	exit 1
fi
echo "all tests passed"
