#!/usr/bin/env bash
# Who an agent is, over mutual TLS (review of the mTLS commit). quell-rogue
# plays an agent holding host-001's valid certificate:
# - a certificate names its host exactly: host-001's does not enrol
#   "HOST-001" (mbedTLS alone folds case), a "*.fleet" certificate enrols no
#   host, and one without an extended key usage is not for client use;
# - an agent with a certificate sends its proof only over TLS: a hello seen
#   on a plain tcp:// link could be replayed over TLS by another host;
# - a hello is as fresh as its signed time: one 10 minutes old (a replay)
#   is refused, even with the right certificate and key;
# - the coordinator names, at start, the pins no certificate vouched for;
# - a key pinned over plain tcp:// before TLS was turned on (that never
#   proved a certificate) cannot report results over TLS without a hello
#   whose certificate is checked, which it cannot make.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl is missing"
command -v jq >/dev/null || fail "jq is missing"
fleet_up 1
CONF=$FLEET/coordinator.conf
PORT=$(sed -n 's|^agent_listen = tls+tcp://127.0.0.1:||p' "$CONF")
URL=tls+tcp://127.0.0.1:$PORT
TLS=$FLEET/tls
R=$FLEET/rogue
mkdir -p "$R"
# The connection's own certificate: host-001's, valid, from the fleet CA.
CONN=(--cert "$TLS/host-001.crt" --tls-key "$TLS/host-001.key" --ca "$TLS/ca.crt"
	--server-name "$(sed -n 's|^tls_server_name = ||p' "$FLEET/hosts/host-001/agent.conf")")
rogue() { "$BIN/quell-rogue" "$@"; }
newkey() { q keygen "$R/$1" >/dev/null; }

# mk NAME CN EXTENSIONS: a certificate from the fleet CA, made with openssl.
mk() {
	(umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out "$R/$1.key")
	openssl req -new -key "$R/$1.key" -subj "/CN=$2" -out "$R/$1.csr" 2>/dev/null
	printf '%b' "$3" >"$R/$1.ext"
	openssl x509 -req -in "$R/$1.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
		-days 30 -extfile "$R/$1.ext" -out "$R/$1.crt" 2>/dev/null
}

# An old hello (10 minutes), otherwise perfect: host-001's own proof.
newkey k-old
expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-old" --hostname host-001 --age 600 \
	--proof-cert "$TLS/host-001.crt" --proof-key "$TLS/host-001.key" "$URL"
assert_contains "reply refused"
assert_contains "fix the agent's clock"

# Case: host-001's certificate and key vouch for a new key as "HOST-001".
newkey k-case
expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-case" --hostname HOST-001 \
	--proof-cert "$TLS/host-001.crt" --proof-key "$TLS/host-001.key" "$URL"
assert_contains "reply refused certificate refused: the client certificate is not for host HOST-001"

# A wildcard certificate names no host of ours.
mk wild wild 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:*.fleet\n'
newkey k-wild
expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-wild" --hostname web1.fleet \
	--proof-cert "$R/wild.crt" --proof-key "$R/wild.key" "$URL"
assert_contains "reply refused certificate refused"

# No extended key usage, or only "any": not a fleet client certificate.
mk noeku noeku-host 'basicConstraints=critical,CA:FALSE\n'
mk anyeku anyeku-host 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=anyExtendedKeyUsage\n'
for c in noeku anyeku; do
	newkey "k-$c"
	expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-$c" --hostname "$c-host" \
		--proof-cert "$R/$c.crt" --proof-key "$R/$c.key" "$URL"
	assert_contains "reply refused certificate refused: the certificate for $c-host is not for client use"
done
# The exact name still works (a new key for a new name, with its own certificate).
mk exact exact-host 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:exact-host\n'
newkey k-exact
expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-exact" --hostname exact-host \
	--proof-cert "$R/exact.crt" --proof-key "$R/exact.key" "$URL"
assert_contains "reply idle"
expect_exit 0 q agents
assert_not_contains "HOST-001"
assert_not_contains "web1.fleet"
assert_not_contains "eku-host"

# A key pinned over plain tcp:// before TLS: the coordinator's agent socket
# is plain for a while, and anything that reaches it claims "legacy-9".
stop_coordinator
sed -i 's|^agent_listen = tls+tcp://|agent_listen = tcp://|' "$CONF"
coordinator() { # start it again, on its changed config
	"$BIN/quell-coordinator" -c "$CONF" </dev/null >>"$FLEET/coordinator.log" 2>&1 &
	echo "coordinator $!" >>"$FLEET/pids"
	wait_until 20 port_listening "$PORT"
}
coordinator
newkey k-legacy
expect_exit 0 rogue hello --key "$R/k-legacy" --hostname legacy-9 "tcp://127.0.0.1:$PORT"
assert_contains "reply idle"
stop_coordinator
sed -i 's|^agent_listen = tcp://|agent_listen = tls+tcp://|' "$CONF"
coordinator
_h1() { q agents 2>/dev/null | grep -q "^host-001 .* connected"; }
wait_until 30 _h1
# The restarted coordinator names the pins no certificate vouched for
# (legacy-9; host-001 proved its certificate before the switch).
grep "pinned without a certificate" "$FLEET/coordinator.log" | tail -n 1 >"$R/uncert"
assert_file_contains "$R/uncert" "1 agent was pinned without a certificate (over plain tcp://): legacy-9;"
# Over TLS its hello is refused (no certificate for legacy-9)...
expect_exit 0 rogue hello "${CONN[@]}" --key "$R/k-legacy" --hostname legacy-9 "$URL"
assert_contains "reply refused certificate refused"
# ... and so is its result for a job it is part of: it never said a hello
# that was checked.
q ping -t host=legacy-9 --timeout 6 >"$R/ping.out" 2>&1 &
ping=$!
job=
_job() { job=$(q jobs --json | jq -r '.jobs[] | select(.target == "host=legacy-9") | .job'); [[ -n "$job" ]]; }
wait_until 10 _job
expect_exit 0 rogue result "${CONN[@]}" --key "$R/k-legacy" --hostname legacy-9 --job-id "$job" "$URL"
assert_contains "reply hello-required"
wait "$ping" || true
OUT=$(cat "$R/ping.out")
assert_not_contains "forged by quell-rogue"
assert_contains "legacy-9"
# An agent with tls_cert whose coordinator URL is plain: its hello, which
# anyone on the path can record, carries no certificate proof.
PLAIN=$(free_port)
rogue record --listen "tcp://127.0.0.1:$PLAIN" --count 1 --out "$R/cap" &
rec=$!
wait_until 10 port_listening "$PLAIN"
mkdir -p "$R/state"
sed -e "s|^coordinator = .*|coordinator = tcp://127.0.0.1:$PLAIN|" \
	-e "s|^state_dir = .*|state_dir = $R/state|" \
	"$FLEET/hosts/host-001/agent.conf" >"$R/plain-agent.conf"
"$BIN/quell-agent" -c "$R/plain-agent.conf" </dev/null >"$R/plain-agent.log" 2>&1 &
agent=$!
echo "plain-agent $agent" >>"$FLEET/pids"
wait "$rec" || fail "no hello recorded: $(cat "$R/plain-agent.log")"
kill "$agent" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
[[ -s "$R/cap.1" ]] || fail "empty hello"
grep -qa "quell fleet CA" "$R/cap.1" && fail "the hello on a plain link carries the certificate"
pass
