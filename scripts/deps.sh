#!/bin/bash
# Installs what rollcall needs to build, run its demo and run its tests on Debian 12, with
# apt-get. Does nothing (and needs no network) when everything is already installed.
set -euo pipefail

# Packages checked with dpkg and installed by name. prometheus brings promtool, which checks a
# whole /metrics scrape (tests/api/test_metrics.py); its server is never started by the tests.
PACKAGES=(
	build-essential cmake pkg-config
	libevent-dev libevent-2.1-7 libssl-dev libpq-dev libjansson-dev libinih-dev libcmocka-dev
	libcurl4-openssl-dev clang-format clang libclang-rt-14-dev libsystemd-dev scdoc
	postgresql-15 postgresql-client-15
	python3 python3-pytest python3-psycopg python3-pexpect
	openssl curl valgrind util-linux sslscan
	python3-aiosmtpd chromium chromium-driver libnss3-tools python3-selenium
	prometheus
)
# Virtual in Debian 12 (postgresql-15 provides it, with pgbench): installed by name, checked by
# the file it brings.
VIRTUAL=(postgresql-contrib-15)
# Debian 12's security update of libevent fixes evhttp request smuggling (CR/LF, NUL, trailers,
# Transfer-Encoding); the library's own version string cannot tell it apart.
LIBEVENT_MIN=2.1.12-stable-8+deb12u1

installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for package in "${PACKAGES[@]}"; do
	installed "$package" || missing+=("$package")
done
[[ -x /usr/lib/postgresql/15/bin/pgbench ]] || missing+=("${VIRTUAL[@]}")
libevent_ok=yes
if installed libevent-2.1-7; then
	version=$(dpkg-query -W -f='${Version}' libevent-2.1-7)
	dpkg --compare-versions "$version" ge "$LIBEVENT_MIN" || libevent_ok=no
fi

if [[ ${#missing[@]} -eq 0 && $libevent_ok == yes ]]; then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "deps.sh: run as root or install sudo" >&2; exit 1; }
	sudo=(sudo)
fi
[[ $libevent_ok == yes ]] || missing+=("libevent-2.1-7>=$LIBEVENT_MIN")
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" "${VIRTUAL[@]}"

version=$(dpkg-query -W -f='${Version}' libevent-2.1-7)
if ! dpkg --compare-versions "$version" ge "$LIBEVENT_MIN"; then
	echo "deps.sh: libevent-2.1-7 is $version; rollcalld needs >= $LIBEVENT_MIN" \
		"(the Debian 12 security update): enable bookworm-security in apt's sources" >&2
	exit 1
fi
