#!/bin/bash
# rollcall's whole test suite, as CI runs it (.ci/run): installs what is missing, builds three times
# (build/: optimised with assertions on; build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer;
# build-release/: Release as packaged, then built into a .deb and installed by scripts/package.sh),
# runs the unit tests of both, the API tests against the sanitized daemon, and the SQL checks;
# also checks the formatting of every C file and that a Release build (-O3) compiles.
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

sql_checks=(tests/sql/*.sql)
if [[ -e ${sql_checks[0]} ]]; then
	step "SQL checks (tests/sql)"
	work=$(mktemp -d /tmp/rollcall-sqlcheck.XXXXXX)
	chmod 755 "$work"
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cleanup() {
		./scripts/pg.sh stop "$work/pg" >/dev/null 2>&1
		rm -rf "$work"
	}
	trap cleanup EXIT
	if ./scripts/pg.sh start "$work/pg" "$port" --fast && ./scripts/pki.sh init "$work/pki"; then
		for check in "${sql_checks[@]}"; do
			name=$(basename "$check" .sql)
			db="check_${name//[^A-Za-z0-9_]/_}"
			conninfo=$(./scripts/pg.sh conninfo "$work/pg" "$db")
			cat >"$work/$name.ini" <<EOF
[rollcalld]
listen = 127.0.0.1:1
tls_cert = $work/pki/server.crt
tls_key = $work/pki/server.key
tls_ca = $work/pki/ca.crt
database = $conninfo
test_clock = true
log_level = warn
EOF
			# Each check gets a freshly migrated database of its own.
			if psql -X -q "$(./scripts/pg.sh conninfo "$work/pg")" -c "CREATE DATABASE $db" &&
				"$ROOT/build/rollcalld" --config "$work/$name.ini" --migrate \
					>"$work/$name.err" 2>&1 &&
				psql -X -q -v ON_ERROR_STOP=1 "$conninfo" -f "$check"; then
				echo "ok: $check"
			else
				cat "$work/$name.err" >&2
				failures+=("SQL check $check")
			fi
		done
	else
		failures+=("SQL checks (cluster or PKI did not start)")
	fi
fi

step "Debian package (scripts/package.sh test build-release)"
# Builds the .deb, checks its contents, installs it here, runs the installed rollcalld --migrate
# against a throwaway cluster, verifies the unit, removes and purges it.
if [[ $(id -u) -eq 0 ]]; then
	./scripts/package.sh test build-release || failures+=("Debian package")
else
	echo "skipped: installing the package needs root (CI runs as root)"
fi

step "summary"
if [[ ${#failures[@]} -gt 0 ]]; then
	printf 'FAILED: %s\n' "${failures[@]}"
	exit 1
fi
echo "all tests passed"
