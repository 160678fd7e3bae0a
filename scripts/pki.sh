#!/bin/bash
# The development certificate authority of rollcall's demo and tests: packaging/rollcall-ca (the
# deployment's tool) with 30-day lifetimes (PKI_DAYS), a server certificate for
# localhost/127.0.0.1, and nothing installed or reloaded. Not for production: keys are
# unencrypted. Expired certificates (the CA included) are made again, not kept.
#
#   pki.sh init DIR            CA, server certificate (CN=localhost, SAN localhost/127.0.0.1),
#                              CRL. Keeps an existing CA while it is valid.
#   pki.sh client DIR CN       client certificate DIR/clients/CN.crt + .key (clientAuth).
#                              Keeps a valid existing one; re-issues a revoked or expired one.
#   pki.sh revoke DIR CN       revokes CN's current certificate and rewrites DIR/crl.pem.
#   pki.sh other-ca DIR [CN]   an unrelated CA in DIR/other/ and a client certificate from it
#                              (CN default "admin") for negative tests.
#   pki.sh crl DIR             rewrites DIR/crl.pem (e.g. before it expires).
set -euo pipefail

DAYS=${PKI_DAYS:-30}
CA=$(dirname "$0")/../packaging/rollcall-ca

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

ca() {
	local dir=$1
	shift
	"$CA" --dir "$dir" --install-dir none --reload none --days "$DAYS" --ca-days "$DAYS" \
		--crl-days "$DAYS" "$@"
}

# The unrelated CA: one self-signed certificate and one client certificate, no bookkeeping.
cmd_other_ca() {
	local other=$1/other cn=$2
	mkdir -p "$other"
	if ! openssl x509 -in "$other/ca.crt" -noout -checkend 86400 >/dev/null 2>&1; then
		(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$other/ca.key" 2>/dev/null)
		openssl req -x509 -new -key "$other/ca.key" -sha256 -days "$DAYS" -subj "/CN=unrelated CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$other/ca.crt"
		find "$other" -maxdepth 1 -name '*.crt' ! -name ca.crt -delete
	fi
	if ! openssl x509 -in "$other/$cn.crt" -noout -checkend 86400 >/dev/null 2>&1; then
		(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$other/$cn.key" 2>/dev/null)
		local csr ext
		csr=$(mktemp "$other/.csr.XXXXXX")
		ext=$(mktemp "$other/.ext.XXXXXX")
		openssl req -new -key "$other/$cn.key" -subj "/CN=$cn" -out "$csr"
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=clientAuth" >"$ext"
		openssl x509 -req -in "$csr" -CA "$other/ca.crt" -CAkey "$other/ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days "$DAYS" -sha256 -extfile "$ext" \
			-out "$other/$cn.crt" 2>/dev/null
		rm -f "$csr" "$ext"
	fi
}

[[ $# -ge 2 ]] || usage
command=$1
dir=$2
shift 2
case $command in
init)
	[[ $# -eq 0 ]] || usage
	ca "$dir" init --name "rollcall development CA" --server-name localhost --server-ip 127.0.0.1
	;;
client) [[ $# -eq 1 ]] || usage; ca "$dir" issue "$1" --no-account --keep-valid >/dev/null ;;
revoke) [[ $# -eq 1 ]] || usage; ca "$dir" revoke "$1" --keep-account >/dev/null ;;
crl) [[ $# -eq 0 ]] || usage; ca "$dir" crl >/dev/null ;;
other-ca)
	[[ $# -le 1 ]] || usage
	cn=${1:-admin}
	[[ $cn =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || { echo "pki.sh: bad CN '$cn'" >&2; exit 2; }
	mkdir -p "$dir"
	exec 9>"$dir/.lock-other"
	flock 9
	cmd_other_ca "$dir" "$cn"
	;;
*) usage ;;
esac
