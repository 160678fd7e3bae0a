#!/bin/bash
# A throwaway PostgreSQL 15 cluster for rollcall's demo and tests, in a directory of its own.
#
#   pg.sh start DIR PORT [--fast]   initdb DIR/data on first use, then start the server on PORT
#                                   (127.0.0.1 and a unix socket in DIR/sock). --fast, for tests:
#                                   initdb --nosync, fsync=off, synchronous_commit=off.
#   pg.sh stop DIR                  fast shutdown; succeeds when nothing is running.
#   pg.sh status DIR                exit 0 when the server is running.
#   pg.sh conninfo DIR [DBNAME]     prints a libpq conninfo for the cluster.
#
# The superuser is "postgres" and local connections are trusted: never expose this cluster.
# PostgreSQL refuses to run as root, so as root the server runs as the postgres user (DIR is
# chowned to it; every directory above DIR must be searchable by it); otherwise as the caller.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

# Runs a PostgreSQL program as the cluster's owner, from a directory it can read.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd "$DIR" && runuser -u postgres -- "$@")
	else
		(cd "$DIR" && "$@")
	fi
}

port_of() {
	sed -n 's/^port = \([0-9]*\).*/\1/p' "$DIR/data/postgresql.auto.conf" \
		"$DIR/data/postgresql.conf" 2>/dev/null | tail -n 1
}

cmd_start() {
	local port=$1 fast=$2
	[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65535 ]] || die "bad port '$port'"
	[[ -x $PG_BIN/initdb ]] || die "PostgreSQL 15 is not installed ($PG_BIN): run scripts/deps.sh"
	mkdir -p "$DIR/sock"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres user: install postgresql-15"
		chown -R postgres: "$DIR"
		runuser -u postgres -- test -x "$DIR" ||
			die "the postgres user cannot reach $DIR: choose a directory under /tmp"
	fi
	if [[ ! -f $DIR/data/PG_VERSION ]]; then
		local nosync=()
		[[ $fast == yes ]] && nosync=(--nosync)
		as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 \
			--locale=C.UTF-8 "${nosync[@]}" >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; die "initdb failed"; }
		{
			echo "# scripts/pg.sh"
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = '$DIR/sock'"
			echo "max_connections = 200"
			echo "log_min_messages = warning"
			echo "log_line_prefix = '%m [%p] %d '"
			echo "timezone = 'UTC'"
			if [[ $fast == yes ]]; then
				echo "fsync = off"
				echo "synchronous_commit = off"
				echo "full_page_writes = off"
			fi
		} >>"$DIR/data/postgresql.conf"
	fi
	# The port may change between starts (tests pick a free one): keep the latest.
	sed -i '/^port = /d' "$DIR/data/postgresql.conf"
	echo "port = $port" >>"$DIR/data/postgresql.conf"
	if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
		return 0
	fi
	as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 20 "$DIR/postgres.log" >&2; die "the server did not start"; }
}

cmd_stop() {
	[[ -f $DIR/data/PG_VERSION ]] || return 0
	if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
		as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null
	fi
}

[[ $# -ge 2 ]] || usage
command=$1
DIR=$2
shift 2
case $command in
start)
	[[ $# -ge 1 && $# -le 2 ]] || usage
	fast=no
	if [[ $# -eq 2 ]]; then
		[[ $2 == --fast ]] || usage
		fast=yes
	fi
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	cmd_start "$1" "$fast"
	;;
stop)
	[[ $# -eq 0 ]] || usage
	[[ -d $DIR ]] || exit 0
	DIR=$(cd "$DIR" && pwd)
	cmd_stop
	;;
status)
	[[ $# -eq 0 ]] || usage
	DIR=$(cd "$DIR" && pwd)
	as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
	;;
conninfo)
	[[ $# -le 1 ]] || usage
	DIR=$(cd "$DIR" && pwd)
	echo "host=$DIR/sock port=$(port_of) user=postgres dbname=${1:-postgres}"
	;;
*) usage ;;
esac
