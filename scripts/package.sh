#!/bin/bash
# The Debian package of rollcall (CPack, docs/operations.md).
#
#   package.sh build [DIR]   configure DIR (default build-release) as the package's Release build
#                            (-DROLLCALL_PACKAGE=ON, prefix /usr), build it and run cpack -G DEB;
#                            prints the .deb's path.
#   package.sh test [DIR]    build as above, check the .deb's contents (dpkg-deb -c), install it
#                            on this machine with dpkg -i (root; CI's machine is thrown away),
#                            run the installed rollcalld --version and --migrate (twice, with the
#                            installed default schema directory, as the rollcalld user) against a
#                            throwaway PostgreSQL, systemd-analyze verify and security on the
#                            installed unit, an upgrade of a first-release database by the
#                            installed --migrate, an upgrade of the package over itself (the
#                            operator's configuration and the state kept), then dpkg -r and
#                            dpkg -P, checking what each leaves.
#                            Safe to run again: a rollcall package left installed is purged first.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0} # systemd-analyze security's score must not exceed it

die() {
	echo "package.sh: $*" >&2
	exit 1
}

cmd_build() {
	local dir=$1
	mkdir -p "$dir"
	cmake -S . -B "$dir" -Wno-dev -DCMAKE_BUILD_TYPE=Release -DROLLCALL_PACKAGE=ON \
		>"$dir/configure-package.log" 2>&1 ||
		{ cat "$dir/configure-package.log" >&2; die "cmake failed for $dir"; }
	make -C "$dir" -j"$JOBS" --no-print-directory >/dev/null || die "build failed in $dir"
	rm -f "$dir"/rollcall_*.deb
	(cd "$dir" && cpack -G DEB >cpack.log 2>&1) || { cat "$dir/cpack.log" >&2; die "cpack failed"; }
	local deb
	deb=$(ls "$dir"/rollcall_*.deb 2>/dev/null | head -n 1)
	[[ -n $deb ]] || die "cpack wrote no rollcall_*.deb in $dir"
	echo "$deb"
}

purge_installed() {
	if dpkg-query -W -f='${Status}' rollcall 2>/dev/null | grep -q 'installed\|config-files'; then
		dpkg -P rollcall >/dev/null
	fi
}

cmd_test() {
	local dir=$1 deb work
	[[ $(id -u) -eq 0 ]] || die "test installs the package: run as root (CI does)"
	deb=$(cmd_build "$dir")
	echo "built $deb"

	# Contents: binaries, schema, the board's files, unit, manual pages, example config.
	local listing
	listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
	local want=(./usr/bin/rollcall ./usr/sbin/rollcalld ./etc/rollcall/rollcalld.ini
		./usr/lib/systemd/system/rollcalld.service ./usr/share/man/man8/rollcalld.8.gz
		./usr/share/man/man5/rollcalld.conf.5.gz ./usr/share/man/man1/rollcall.1.gz
		./usr/share/doc/rollcall/operations.md ./usr/sbin/rollcall-ca
		./usr/lib/systemd/system/rollcall-crl.service ./usr/lib/systemd/system/rollcall-crl.timer)
	for file in schema/migrations/*.sql schema/code/*.sql; do
		want+=("./usr/share/rollcall/$file")
	done
	for file in daemon/board/*; do
		want+=("./usr/share/rollcall/board/${file#daemon/board/}")
	done
	for path in "${want[@]}"; do
		grep -qxF "$path" <<<"$listing" || die "$deb lacks $path"
	done
	dpkg-deb -f "$deb" Depends | grep -q libevent || die "no computed library dependencies"
	dpkg-deb -f "$deb" Recommends | grep -q postgresql-client || die "postgresql-client not recommended"
	echo "contents: ${#want[@]} expected files present"

	purge_installed
	work=$(mktemp -d /tmp/rollcall-package.XXXXXX)
	chmod 755 "$work"
	trap 'cleanup '"$work" EXIT
	if ! dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
		# Dependencies missing on this machine: let apt fetch them, then configure.
		DEBIAN_FRONTEND=noninteractive apt-get install -f -y -q >>"$work/dpkg.log" 2>&1 ||
			{ cat "$work/dpkg.log" >&2; die "dpkg -i $deb failed"; }
	fi
	getent passwd rollcalld >/dev/null || die "postinst created no rollcalld user"
	[[ $(stat -c %U:%a /var/lib/rollcall) == rollcalld:750 ]] || die "/var/lib/rollcall is wrong"
	[[ $(stat -c %G:%a /etc/rollcall/rollcalld.ini) == rollcalld:640 ]] ||
		die "/etc/rollcall/rollcalld.ini is not root:rollcalld 0640"
	/usr/sbin/rollcalld --version
	/usr/sbin/rollcalld --help | grep -q /usr/share/rollcall/schema ||
		die "the installed rollcalld's default schema directory is not /usr/share/rollcall/schema"
	/usr/sbin/rollcalld --help | grep -q /usr/share/rollcall/board ||
		die "the installed rollcalld's board directory is not /usr/share/rollcall/board"
	man -l /usr/share/man/man8/rollcalld.8.gz >/dev/null 2>&1 || die "man cannot read rollcalld(8)"

	/usr/sbin/rollcall-ca --help | grep -q 'rollcall-ca \[OPTIONS\] issue' ||
		die "the installed rollcall-ca does not answer --help"
	systemd-analyze verify /usr/lib/systemd/system/rollcalld.service \
		/usr/lib/systemd/system/rollcall-crl.service /usr/lib/systemd/system/rollcall-crl.timer ||
		die "systemd-analyze verify failed"
	local score
	score=$(systemd-analyze security --offline=true --no-pager \
		/usr/lib/systemd/system/rollcalld.service 2>&1 |
		sed -n 's/.*Overall exposure level for rollcalld.service: \([0-9.]*\).*/\1/p')
	[[ -n $score ]] || die "systemd-analyze security gave no score"
	echo "systemd-analyze security: exposure $score"
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		die "exposure $score is above $MAX_EXPOSURE"

	# --migrate with the installed schema, as the service's user, against a throwaway cluster.
	local port conninfo
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	./scripts/pg.sh start "$work/pg" "$port" --fast >/dev/null || die "PostgreSQL did not start"
	psql -X -q "$(./scripts/pg.sh conninfo "$work/pg")" -c "CREATE DATABASE packaged" ||
		die "cannot create the database"
	conninfo=$(./scripts/pg.sh conninfo "$work/pg" packaged)
	./scripts/pki.sh init "$work/pki" >/dev/null 2>&1 || die "pki.sh init failed"
	chown -R rollcalld: "$work/pki"
	cat >"$work/rollcalld.ini" <<-INI
		[rollcalld]
		listen = 127.0.0.1:1
		tls_cert = $work/pki/server.crt
		tls_key = $work/pki/server.key
		tls_ca = $work/pki/ca.crt
		database = $conninfo
		log_level = warn
	INI
	chmod 644 "$work/rollcalld.ini"
	local run
	for run in first second; do
		(cd /var/lib/rollcall && runuser -u rollcalld -- /usr/sbin/rollcalld \
			--config "$work/rollcalld.ini" --migrate) >"$work/migrate-$run.log" 2>&1 ||
			{ cat "$work/migrate-$run.log" >&2; die "installed rollcalld --migrate failed ($run run)"; }
	done
	local applied
	applied=$(psql -X -At "$conninfo" -c "SELECT count(*) FROM schema_migrations")
	[[ $applied -eq $(ls schema/migrations/*.sql | wc -l) ]] ||
		die "schema_migrations holds $applied rows"
	echo "installed rollcalld --migrate: $applied migrations, second run a no-op"

	upgrade_from_release1 "$work" "$applied"
	upgrade_package "$work" "$deb" "$applied"

	dpkg -r rollcall >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log" >&2; die "dpkg -r failed"; }
	[[ ! -e /usr/sbin/rollcalld && ! -e /usr/share/rollcall ]] || die "dpkg -r left files"
	[[ -f /etc/rollcall/rollcalld.ini ]] || die "dpkg -r removed the conffile"
	getent passwd rollcalld >/dev/null || die "dpkg -r removed the user (only purge may)"
	dpkg -P rollcall >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log" >&2; die "dpkg -P failed"; }
	[[ ! -e /etc/rollcall && ! -e /var/lib/rollcall ]] || die "dpkg -P left /etc/rollcall or /var/lib/rollcall"
	! getent passwd rollcalld >/dev/null || die "dpkg -P left the rollcalld user"
	echo "dpkg -r kept configuration and user; dpkg -P removed them"
}

# A database of the first release (its frozen schema, tests/upgrade/release1, applied the way
# its --migrate did) upgraded by the installed package's rollcalld --migrate: the rows stay.
upgrade_from_release1() {
	local work=$1 migrations=$2 old conninfo f
	psql -X -q "$(./scripts/pg.sh conninfo "$work/pg")" -c "CREATE DATABASE release1" ||
		die "cannot create the release-1 database"
	old=$(./scripts/pg.sh conninfo "$work/pg" release1)
	psql -X -q -v ON_ERROR_STOP=1 "$old" -c "CREATE TABLE schema_migrations (version integer
		PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)" >/dev/null
	for f in tests/upgrade/release1/[0-9][0-9][0-9]_*.sql; do
		f=$(basename "$f")
		psql -X -q -v ON_ERROR_STOP=1 --single-transaction "$old" \
			-f "tests/upgrade/release1/$f" \
			-c "INSERT INTO schema_migrations VALUES (${f:0:3}, '$f', now())" >/dev/null ||
			die "release-1 migration $f failed"
	done
	psql -X -q -v ON_ERROR_STOP=1 "$old" -c "SELECT bootstrap_admin('it-admin', now())" >/dev/null ||
		die "release-1 bootstrap_admin failed"
	sed "s|^database = .*|database = $old|" "$work/rollcalld.ini" >"$work/release1.ini"
	chmod 644 "$work/release1.ini"
	(cd /var/lib/rollcall && runuser -u rollcalld -- /usr/sbin/rollcalld \
		--config "$work/release1.ini" --migrate) >"$work/migrate-release1.log" 2>&1 ||
		{ cat "$work/migrate-release1.log" >&2; die "installed rollcalld --migrate of a release-1 database failed"; }
	[[ $(psql -X -At "$old" -c "SELECT count(*) FROM schema_migrations") -eq $migrations ]] ||
		die "the release-1 database did not reach $migrations migrations"
	[[ $(psql -X -At "$old" -c "SELECT role FROM accounts WHERE cn = 'it-admin'") == admin ]] ||
		die "the release-1 database lost its admin account in the upgrade"
	echo "release-1 database upgraded by the installed rollcalld --migrate: $migrations migrations, rows kept"
}

# The package upgraded over itself (the same files as the next version, built by repacking the
# .deb with a higher version): the configuration edited by the operator, the state directory and
# the user stay, and --migrate is still a no-op.
upgrade_package() {
	local work=$1 deb=$2 migrations=$3 version next
	echo "# edited by the operator" >>/etc/rollcall/rollcalld.ini
	touch /var/lib/rollcall/kept
	version=$(dpkg-deb -f "$deb" Version)
	next="$version+upgrade1"
	rm -rf "$work/repack"
	dpkg-deb -R "$deb" "$work/repack"
	sed -i "s/^Version: .*/Version: $next/" "$work/repack/DEBIAN/control"
	dpkg-deb -b "$work/repack" "$work/next.deb" >/dev/null || die "cannot repack the .deb"
	DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$work/next.deb" >"$work/dpkg-upgrade.log" 2>&1 ||
		{ cat "$work/dpkg-upgrade.log" >&2; die "dpkg -i of the next version failed"; }
	[[ $(dpkg-query -W -f '${Version}' rollcall) == "$next" ]] || die "the upgrade did not install $next"
	grep -q '^# edited by the operator$' /etc/rollcall/rollcalld.ini ||
		die "the upgrade replaced the operator's configuration"
	[[ -f /var/lib/rollcall/kept ]] || die "the upgrade emptied /var/lib/rollcall"
	getent passwd rollcalld >/dev/null || die "the upgrade removed the rollcalld user"
	(cd /var/lib/rollcall && runuser -u rollcalld -- /usr/sbin/rollcalld \
		--config "$work/rollcalld.ini" --migrate) >"$work/migrate-upgraded.log" 2>&1 ||
		{ cat "$work/migrate-upgraded.log" >&2; die "rollcalld --migrate after the upgrade failed"; }
	[[ $(psql -X -At "$(./scripts/pg.sh conninfo "$work/pg" packaged)" \
		-c "SELECT count(*) FROM schema_migrations") -eq $migrations ]] ||
		die "the upgrade changed the applied migrations"
	echo "package upgraded to $next: configuration, state directory and user kept"
}

cleanup() {
	local work=$1
	./scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	purge_installed || true
	rm -rf "$work"
}

case ${1:-} in
build) cmd_build "${2:-build-release}" ;;
test) cmd_test "${2:-build-release}" ;;
*)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
