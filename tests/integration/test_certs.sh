#!/usr/bin/env bash
# certs/quell-certs makes what mutual TLS needs (test_mtls uses it with
# the daemons): a fleet CA; coordinator and agent certificates,
# ECDSA P-256, naming their host in CN and subjectAltName, for server or
# client use, chaining to the CA and not to another CA; secret keys 0600,
# never overwritten; a new agent's bundle with its config.
. "$(dirname "$0")/lib.sh"
Q=$ROOT/certs/quell-certs
dir=$(mktemp -d "${TMPDIR:-/tmp}/quell-certs.XXXXXX")
on_exit rm -rf "$dir"

expect_exit 0 "$Q" ca "$dir/ca"
expect_exit 0 "$Q" issue "$dir/ca" coordinator coord-1
expect_exit 0 "$Q" issue "$dir/ca" agent web-1 --days 30
expect_exit 0 "$Q" agent "$dir/ca" web-2 tls+tcp://coord-1:7400 "$dir/web-2"
perm() { stat -c %a "$1"; }
for k in "$dir/ca/ca.key" "$dir/ca/coord-1.key" "$dir/ca/web-1.key" "$dir/web-2/agent.key"; do
	[[ "$(perm "$k")" == 600 ]] || fail "$k is mode $(perm "$k"), expected 600"
done
expect_exit 0 openssl verify -CAfile "$dir/ca/ca.crt" "$dir/ca/coord-1.crt" "$dir/ca/web-1.crt" \
	"$dir/web-2/agent.crt"
cmp -s "$dir/ca/ca.crt" "$dir/web-2/ca.crt" || fail "the agent's bundle has another CA"

text() { openssl x509 -in "$1" -noout -text; }
expect_exit 0 text "$dir/ca/web-1.crt"
assert_contains "Subject: CN = web-1"
assert_contains "DNS:web-1"
assert_contains "ASN1 OID: prime256v1"
assert_contains "TLS Web Client Authentication"
assert_contains "CA:FALSE"
expect_exit 0 text "$dir/ca/coord-1.crt"
assert_contains "DNS:coord-1"
assert_contains "TLS Web Server Authentication"
expect_exit 0 text "$dir/ca/ca.crt"
assert_contains "CA:TRUE"
# --days 30: it ends within 31 days.
end=$(date -d "$(openssl x509 -in "$dir/ca/web-1.crt" -noout -enddate | cut -d= -f2)" +%s)
((end - $(date +%s) <= 31 * 86400)) || fail "--days 30 made a longer certificate"
expect_exit 0 cat "$dir/web-2/agent.conf"
assert_contains "hostname = web-2"
assert_contains "coordinator = tls+tcp://coord-1:7400"
assert_contains "tls_cert = /etc/quell/tls/agent.crt"

# Another CA's certificate does not chain to this one.
expect_exit 0 "$Q" ca "$dir/other"
expect_exit 0 "$Q" issue "$dir/other" agent web-1
expect_exit 2 openssl verify -CAfile "$dir/ca/ca.crt" "$dir/other/web-1.crt"

# Refusals: nothing overwritten, bad names and arguments.
before=$(sha256sum "$dir/ca/web-1.key")
expect_exit 1 "$Q" issue "$dir/ca" agent web-1
assert_contains "exists; refusing to overwrite"
[[ "$(sha256sum "$dir/ca/web-1.key")" == "$before" ]] || fail "a key was overwritten"
expect_exit 1 "$Q" ca "$dir/ca"
expect_exit 1 "$Q" issue "$dir/ca" agent "web 1"
assert_contains "not a valid host name"
expect_exit 1 "$Q" issue "$dir/nowhere" agent web-3
assert_contains "no CA in"
expect_exit 1 "$Q" issue "$dir/ca" agent web-4 --days 0
expect_exit 1 "$Q" agent "$dir/ca" web-5 tcp://coord-1:7400 "$dir/web-5"
assert_contains "tls+tcp://HOST:PORT"
expect_exit 2 "$Q" issue "$dir/ca" admin web-6
expect_exit 2 "$Q" bogus x
pass
