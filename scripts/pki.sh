#!/bin/bash
# A development certificate authority for rollcall's demo and tests (OpenSSL, EC P-256).
# Not for production: keys are unencrypted and certificates live 30 days.
#
#   pki.sh init DIR            CA, server certificate (CN=localhost, SAN localhost/127.0.0.1),
#                              empty CRL. Keeps an existing CA.
#   pki.sh client DIR CN       client certificate DIR/clients/CN.crt + .key (clientAuth).
#                              Keeps a valid existing one; re-issues a revoked one.
#   pki.sh revoke DIR CN       revokes CN's current certificate and rewrites DIR/crl.pem.
#   pki.sh other-ca DIR [CN]   an unrelated CA in DIR/other/ and a client certificate from it
#                              (CN default "admin") for negative tests.
#   pki.sh crl DIR             rewrites DIR/crl.pem (e.g. before it expires).
#
# Files: DIR/ca.crt ca.key server.crt server.key crl.pem clients/ and OpenSSL's bookkeeping
# (openssl.cnf, index.txt, serial, crlnumber, issued/). `openssl ca` keeps the index, so a
# revocation is recorded against the exact certificate that was issued.
set -euo pipefail

DAYS=${PKI_DAYS:-30}

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

die() {
	echo "pki.sh: $*" >&2
	exit 1
}

# A CN becomes a file name and an account name: keep it to a safe alphabet.
check_cn() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
		die "bad CN '$1': use 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)"
}

write_config() {
	local dir=$1
	cat >"$dir/openssl.cnf" <<EOF
# Written by scripts/pki.sh: OpenSSL 'ca' configuration for rollcall's development CA.
[ ca ]
default_ca = rollcall_ca

[ rollcall_ca ]
dir              = $dir
database         = \$dir/index.txt
new_certs_dir    = \$dir/issued
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
certificate      = \$dir/ca.crt
private_key      = \$dir/ca.key
default_md       = sha256
default_days     = $DAYS
default_crl_days = $DAYS
policy           = policy_any
# A CN may be issued again after its certificate was revoked.
unique_subject   = no
copy_extensions  = none

[ policy_any ]
commonName = supplied

[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
EOF
}

new_key() {
	# umask keeps the private key readable by its owner only.
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null)
}

new_ca() {
	local dir=$1 name=$2
	new_key "$dir/ca.key"
	openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$DAYS" -subj "/CN=$name" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$dir/ca.crt"
}

# sign DIR EXT CN KEY OUT: a certificate for KEY with subject CN, signed by DIR's CA.
sign() {
	local dir=$1 ext=$2 cn=$3 key=$4 out=$5 csr
	csr=$(mktemp "$dir/.csr.XXXXXX")
	openssl req -new -key "$key" -subj "/CN=$cn" -out "$csr"
	if ! openssl ca -batch -config "$dir/openssl.cnf" -extensions "$ext" -notext \
		-in "$csr" -out "$out.tmp" 2>"$dir/.ca.err"; then
		cat "$dir/.ca.err" >&2
		rm -f "$csr" "$out.tmp"
		die "openssl ca could not sign $cn"
	fi
	rm -f "$csr" "$dir/.ca.err"
	mv "$out.tmp" "$out"
}

gen_crl() {
	local dir=$1
	openssl ca -batch -config "$dir/openssl.cnf" -gencrl -crlexts crl_ext -out "$dir/crl.pem.tmp" \
		2>"$dir/.ca.err" || { cat "$dir/.ca.err" >&2; die "could not write the CRL"; }
	rm -f "$dir/.ca.err"
	# rename() so a daemon reloading on SIGHUP never reads a half-written file.
	mv "$dir/crl.pem.tmp" "$dir/crl.pem"
}

# 0 when CERT is listed as valid (V) in DIR's index.
is_valid() {
	local dir=$1 cert=$2 serial
	[[ -f $cert ]] || return 1
	serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
	awk -F'\t' -v s="$serial" '$4 == s && $1 == "V" { found = 1 } END { exit !found }' \
		"$dir/index.txt"
}

cmd_init() {
	local dir=$1
	mkdir -p "$dir/issued" "$dir/clients"
	write_config "$dir"
	[[ -f $dir/index.txt ]] || : >"$dir/index.txt"
	[[ -f $dir/serial ]] || openssl rand -hex 8 >"$dir/serial"
	[[ -f $dir/crlnumber ]] || echo 1000 >"$dir/crlnumber"
	if [[ ! -f $dir/ca.crt || ! -f $dir/ca.key ]]; then
		new_ca "$dir" "rollcall development CA"
		rm -f "$dir/server.crt"
	fi
	if ! is_valid "$dir" "$dir/server.crt" || [[ ! -f $dir/server.key ]]; then
		new_key "$dir/server.key"
		sign "$dir" server_ext localhost "$dir/server.key" "$dir/server.crt"
	fi
	[[ -f $dir/crl.pem ]] || gen_crl "$dir"
}

need_ca() {
	[[ -f $1/ca.crt && -f $1/openssl.cnf ]] || die "no CA in $1: run 'pki.sh init $1' first"
}

cmd_client() {
	local dir=$1 cn=$2
	need_ca "$dir"
	local crt=$dir/clients/$cn.crt key=$dir/clients/$cn.key
	if is_valid "$dir" "$crt" && [[ -f $key ]]; then
		return 0
	fi
	new_key "$key.tmp"
	sign "$dir" client_ext "$cn" "$key.tmp" "$crt"
	mv "$key.tmp" "$key"
}

cmd_revoke() {
	local dir=$1 cn=$2
	need_ca "$dir"
	local crt=$dir/clients/$cn.crt
	[[ -f $crt ]] || die "no certificate for $cn in $dir/clients"
	if is_valid "$dir" "$crt"; then
		openssl ca -batch -config "$dir/openssl.cnf" -revoke "$crt" 2>"$dir/.ca.err" ||
			{ cat "$dir/.ca.err" >&2; die "could not revoke $cn"; }
		rm -f "$dir/.ca.err"
	fi
	gen_crl "$dir"
}

cmd_other_ca() {
	local dir=$1 cn=${2:-admin}
	local other=$dir/other
	mkdir -p "$other"
	[[ -f $other/ca.crt ]] || new_ca "$other" "unrelated CA"
	if [[ ! -f $other/$cn.crt ]]; then
		new_key "$other/$cn.key"
		local csr
		csr=$(mktemp "$other/.csr.XXXXXX")
		openssl req -new -key "$other/$cn.key" -subj "/CN=$cn" -out "$csr"
		local ext
		ext=$(mktemp "$other/.ext.XXXXXX")
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
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# One pki.sh at a time per directory: the index and serial are read-modify-write.
exec 9>"$dir/.lock"
flock 9

case $command in
init) [[ $# -eq 0 ]] || usage; cmd_init "$dir" ;;
client) [[ $# -eq 1 ]] || usage; check_cn "$1"; cmd_client "$dir" "$1" ;;
revoke) [[ $# -eq 1 ]] || usage; check_cn "$1"; cmd_revoke "$dir" "$1" ;;
other-ca) [[ $# -le 1 ]] || usage; check_cn "${1:-admin}"; cmd_other_ca "$dir" "${1:-}" ;;
crl) [[ $# -eq 0 ]] || usage; need_ca "$dir"; gen_crl "$dir" ;;
*) usage ;;
esac
