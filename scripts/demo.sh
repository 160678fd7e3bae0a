#!/bin/bash
# rollcall's demo on a fresh Debian 12 machine: installs what is missing, builds, starts a
# throwaway PostgreSQL, migrates, issues development certificates, loads Børnecenter Tønder's
# demo data (76 invented residents) through the API, runs rollcalld in the foreground and prints
# how to use the client against it. A local HTTPS receiver stands in for the three authorities,
# so the demo's notifications are delivered, signed and shown. Ctrl-C stops everything.
#
#   ./scripts/demo.sh               keep ./run/ (database, certificates) from an earlier run
#   ./scripts/demo.sh --reset       start again from nothing
#   ./scripts/demo.sh --test-clock  the daemon's clock stands still until moved with
#                                   `rollcall clock`, to show the 12- and 24-hour rules in minutes
#
# Environment: ROLLCALL_RUN_DIR (default ./run), ROLLCALL_PORT (default 8443, or a free port),
# PGPORT (default a free port).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${ROLLCALL_RUN_DIR:-$ROOT/run}

reset=no
test_clock=false
for arg in "$@"; do
	case $arg in
	--reset) reset=yes ;;
	--test-clock) test_clock=true ;;
	--help | -h)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done
if [[ $reset == yes ]]; then
	for dir in "$RUN/pg" /tmp/rollcall-demo-pg; do
		[[ -d $dir ]] && ./scripts/pg.sh stop "$dir" || true
	done
	rm -rf "$RUN" /tmp/rollcall-demo-pg
fi

say() {
	printf '\n\033[1m== %s\033[0m\n' "$*"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_is_free() {
	/usr/bin/python3 -c "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', $1))" 2>/dev/null
}

say "dependencies"
./scripts/deps.sh

say "build"
cmake -S . -B build -Wno-dev >/dev/null
make -C build -j2 --no-print-directory

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)

# PostgreSQL runs as the postgres user when we are root: it must be able to reach its directory.
PGDIR=$RUN/pg
if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$RUN"; then
	PGDIR=/tmp/rollcall-demo-pg
	echo "demo: the postgres user cannot reach $RUN; the cluster lives in $PGDIR"
fi

say "PostgreSQL (throwaway cluster in $PGDIR)"
if [[ -f $RUN/pg.port ]]; then
	PGPORT=$(cat "$RUN/pg.port")
else
	PGPORT=${PGPORT:-$(free_port)}
	echo "$PGPORT" >"$RUN/pg.port"
fi
./scripts/pg.sh start "$PGDIR" "$PGPORT"
ADMIN_CONNINFO=$(./scripts/pg.sh conninfo "$PGDIR")
CONNINFO=$(./scripts/pg.sh conninfo "$PGDIR" rollcall)
if [[ -z $(psql -X -At "$ADMIN_CONNINFO" -c "SELECT 1 FROM pg_database WHERE datname = 'rollcall'") ]]; then
	psql -X -q "$ADMIN_CONNINFO" -c "CREATE DATABASE rollcall"
fi

say "certificates (development CA in $RUN/pki)"
./scripts/pki.sh init "$RUN/pki"
for cn in admin tonder-staff tonder-oncall tonder-manager; do
	./scripts/pki.sh client "$RUN/pki" "$cn"
done

say "the authorities' stand-in (HTTPS receiver, log: $RUN/authorities.log)"
RECEIVER_PORT=$(free_port)
if [[ ! -f $RUN/authority-secrets.json ]]; then
	/usr/bin/python3 -c 'import base64, json, os; print(json.dumps({k: "whsec_" + base64.b64encode(os.urandom(32)).decode() for k in ("municipality", "police", "immigration")}))' \
		>"$RUN/authority-secrets.json"
fi
/usr/bin/python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(json.dumps([{"kind": k, "url": f"https://localhost:{sys.argv[2]}/{k}", "secret": v} for k, v in s.items()]))' \
	"$RUN/authority-secrets.json" "$RECEIVER_PORT" >"$RUN/authorities.json"
/usr/bin/python3 ./scripts/demo-receiver.py "$RECEIVER_PORT" "$RUN/pki/server.crt" \
	"$RUN/pki/server.key" "$RUN/authority-secrets.json" "$RUN/authorities.log" &
RECEIVER=$!

PORT=${ROLLCALL_PORT:-8443}
if ! port_is_free "$PORT"; then
	PORT=$(free_port)
fi
cat >"$RUN/rollcalld.ini" <<EOF
# rollcalld configuration written by scripts/demo.sh (see README.md, Configuration).
[rollcalld]
listen = 127.0.0.1:$PORT
tls_cert = $RUN/pki/server.crt
tls_key = $RUN/pki/server.key
tls_ca = $RUN/pki/ca.crt
tls_crl = $RUN/pki/crl.pem
database = $CONNINFO
bootstrap_admin = admin
webhook_ca = $RUN/pki/ca.crt
test_clock = $test_clock
log_level = info
EOF

say "migrations"
./build/rollcalld --migrate --config "$RUN/rollcalld.ini"

say "rollcalld on https://localhost:$PORT (log: $RUN/rollcalld.log)"
./build/rollcalld --config "$RUN/rollcalld.ini" 2>>"$RUN/rollcalld.log" &
DAEMON=$!
stop_all() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping rollcalld and PostgreSQL"
	kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	kill -TERM "$RECEIVER" 2>/dev/null && wait "$RECEIVER" 2>/dev/null
	./scripts/pg.sh stop "$PGDIR"
	exit 0
}
trap stop_all INT TERM EXIT

curl_as() {
	local cn=$1
	shift
	curl -sS --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/clients/$cn.crt" \
		--key "$RUN/pki/clients/$cn.key" "$@"
}
for _ in $(seq 1 100); do
	if curl_as admin -fo /dev/null "https://localhost:$PORT/healthz" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$DAEMON" 2>/dev/null; then
		tail -n 20 "$RUN/rollcalld.log" >&2
		echo "demo: rollcalld did not start" >&2
		exit 1
	fi
	sleep 0.1
done

say "demo data"
if [[ $test_clock == true ]]; then
	# The test clock starts where it was left, or now: set it to now on a fresh run.
	if [[ ! -f $RUN/clock-set ]]; then
		curl_as admin -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' \
			--data "{\"now\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" \
			"https://localhost:$PORT/v1/clock" && touch "$RUN/clock-set"
	fi
fi
/usr/bin/python3 ./scripts/demo-data.py "https://localhost:$PORT" "$RUN/pki" "$RUN/authorities.json"

for cn in admin tonder-staff tonder-oncall tonder-manager; do
	cat >"$RUN/client-$cn.conf" <<EOF
# rollcall client configuration for $cn (written by scripts/demo.sh)
url = https://localhost:$PORT
cert = $RUN/pki/clients/$cn.crt
key = $RUN/pki/clients/$cn.key
ca = $RUN/pki/ca.crt
EOF
done

cat <<EOF

rollcall is running: https://localhost:$PORT, Børnecenter Tønder (centre id "tonder"),
76 residents. Accounts (client certificates in $RUN/pki/clients):
  tonder-staff    staff: rounds, absences, concerns
  tonder-oncall   on call: alerts, acknowledgements
  tonder-manager  manager: residents, statements, payouts
  admin           administrator

In another terminal:
  export ROLLCALL_CONFIG=$RUN/client-tonder-staff.conf
  ./build/rollcall residents                 # who lives here today
  ./build/rollcall round                     # the current check, one key per resident
  ./build/rollcall absent TON-2026-0001 --concern "did not come back from school"
  ROLLCALL_CONFIG=$RUN/client-tonder-oncall.conf ./build/rollcall watch     # live alerts
  ROLLCALL_CONFIG=$RUN/client-tonder-manager.conf ./build/rollcall --help

Or the API with curl:
  curl --cacert $RUN/pki/ca.crt --cert $RUN/pki/clients/tonder-staff.crt \\
       --key $RUN/pki/clients/tonder-staff.key https://localhost:$PORT/v1/centres/tonder

The duty-office board in a browser (docs/board.md): import the on-call certificate,
  openssl pkcs12 -export -in $RUN/pki/clients/tonder-oncall.crt \\
       -inkey $RUN/pki/clients/tonder-oncall.key -out $RUN/tonder-oncall.p12 -passout pass:
trust $RUN/pki/ca.crt, and open https://localhost:$PORT/board/

Notifications to the authorities go to the stand-in receiver on https://localhost:$RECEIVER_PORT:
one line each appears here, every request is kept in $RUN/authorities.log.

Ctrl-C stops rollcalld and PostgreSQL; the data stays in $RUN (--reset starts afresh).
EOF
if [[ $test_clock == true ]]; then
	later() { date -d "$1" +%Y-%m-%dT%H:%M:%S%:z; }
	# A resident under 15 and one of 15 or over, from today's list.
	pick() {
		ROLLCALL_CONFIG=$RUN/client-tonder-staff.conf ./build/rollcall residents --json |
			/usr/bin/python3 -c "import json, sys; print(next((r['case_number'] for r in json.load(sys.stdin)['items'] if $1), '?'))"
	}
	young=$(pick "r['age'] < 15")
	older=$(pick "r['age'] >= 15")
	cat <<EOF

The daemon runs on the test clock: it stands still until an administrator moves it, and every
rule due meanwhile is decided at once. To show the reporting rules:
  export ROLLCALL_CONFIG=$RUN/client-tonder-staff.conf
  ./build/rollcall absent $young      # under 15, reported absent now
  ./build/rollcall absent $older      # 15 or over
  ROLLCALL_CONFIG=$RUN/client-admin.conf ./build/rollcall clock $(later '+12 hours 5 minutes')
      # 12 hours on: $young is reported to all three authorities (see the lines above)
  ROLLCALL_CONFIG=$RUN/client-admin.conf ./build/rollcall clock $(later '+24 hours 5 minutes')
      # 24 hours on: $older is reported too
  ROLLCALL_CONFIG=$RUN/client-admin.conf ./build/rollcall clock   # where the clock stands
EOF
fi

wait "$DAEMON"
