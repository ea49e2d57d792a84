#!/usr/bin/env bash
# Mutual TLS between the real daemons (the fleet's certificates come from
# certs/quell-certs): a fleet works over tls+tcp:// and warns about nothing;
# the coordinator refuses a client with no certificate, one from another CA
# and an agent presenting another host's certificate; an agent refuses a
# "coordinator" whose certificate is from another CA; the CLI checks the
# coordinator's certificate and name; plain tcp:// is warned about at every
# start; `quell agents forget` re-enrols a host with a new key.
. "$(dirname "$0")/lib.sh"
Q=$ROOT/certs/quell-certs
command -v openssl >/dev/null || fail "openssl is missing"
fleet_up 2
CONF=$FLEET/coordinator.conf
PORT=$(sed -n 's|^agent_listen = tls+tcp://127.0.0.1:||p' "$CONF")
[[ -n "$PORT" ]] || fail "the fleet's agent socket is not tls+tcp://: $(grep listen "$CONF")"
grep -q '^control_listen = tls+tcp://' "$CONF" || fail "the fleet's control socket is not TLS"

expect_exit 0 q ping -t all
assert_contains "2 ok"
expect_exit 0 q maintenance on -t host=host-001 --message "tls"
expect_exit 0 q maintenance off -t host=host-001
grep -q "plain" "$FLEET/coordinator.log" "$FLEET"/hosts/*/agent.log &&
	fail "a TLS fleet warned about plain tcp"

# --check reads the certificate files; a missing one is named.
expect_exit 0 "$BIN/quell-coordinator" --check -c "$CONF"
sed "s|^tls_cert = .*|tls_cert = $FLEET/nope.crt|" "$CONF" >"$FLEET/bad.conf"
expect_exit 1 "$BIN/quell-coordinator" --check -c "$FLEET/bad.conf"
assert_contains "$FLEET/nope.crt"
sed '/^tls_ca = /d' "$CONF" >"$FLEET/bad.conf"
expect_exit 1 "$BIN/quell-coordinator" --check -c "$FLEET/bad.conf"
assert_contains "needs tls_ca"
A1=$FLEET/hosts/host-001/agent.conf
expect_exit 0 "$BIN/quell-agent" --check -c "$A1"
chmod 644 "$FLEET/tls/host-001.key"
expect_exit 1 "$BIN/quell-agent" --check -c "$A1"
assert_contains "readable by its owner only"
chmod 600 "$FLEET/tls/host-001.key"

# Its own certificate's dates: refused once expired, warned about in its
# last 30 days (quell-certs for the short one, openssl ca for a past one).
"$Q" issue "$FLEET/tls" agent soon-1 --days 5 2>/dev/null
sed -e "s|^tls_cert = .*|tls_cert = $FLEET/tls/soon-1.crt|" \
	-e "s|^tls_key = .*|tls_key = $FLEET/tls/soon-1.key|" "$A1" >"$FLEET/soon.conf"
expect_exit 0 "$BIN/quell-agent" --check -c "$FLEET/soon.conf"
assert_contains "soon-1.crt: the certificate expires on"
assert_contains "day(s); renew it (quell-certs issue) and restart"
mkdir -p "$FLEET/old" && touch "$FLEET/old/index.txt" && echo 01 >"$FLEET/old/serial"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s/old/index.txt\nnew_certs_dir = %s/old\nserial = %s/old/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
	"$FLEET" "$FLEET" "$FLEET" >"$FLEET/old/ca.cnf"
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:host-001\n' >"$FLEET/old/ext"
openssl req -new -key "$FLEET/tls/host-001.key" -subj /CN=host-001 -out "$FLEET/old/req.csr"
openssl ca -batch -config "$FLEET/old/ca.cnf" -cert "$FLEET/tls/ca.crt" -keyfile "$FLEET/tls/ca.key" \
	-in "$FLEET/old/req.csr" -out "$FLEET/old/host-001.crt" -startdate 20200101000000Z \
	-enddate 20200102000000Z -extfile "$FLEET/old/ext" -notext >/dev/null 2>&1 ||
	fail "openssl ca could not make an expired certificate"
sed "s|^tls_cert = .*|tls_cert = $FLEET/old/host-001.crt|" "$A1" >"$FLEET/old.conf"
expect_exit 1 "$BIN/quell-agent" --check -c "$FLEET/old.conf"
assert_contains "the certificate expired on 2020-01-02; renew it"

# openssl as the client, at the TLS layer: no certificate and another CA's are
# refused in the handshake; the fleet's own goes through.
"$Q" ca "$FLEET/other" 2>/dev/null
"$Q" issue "$FLEET/other" agent host-001 2>/dev/null
"$Q" issue "$FLEET/other" coordinator "$(sed -n 's|^tls_server_name = ||p' "$A1")" 2>/dev/null
handshake() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$FLEET/tls/ca.crt" \
		-verify_return_error "$@" </dev/null >/dev/null # the errors are on stderr
}
expect_exit 0 handshake -cert "$FLEET/tls/host-001.crt" -key "$FLEET/tls/host-001.key"
expect_exit 1 handshake
expect_exit 1 handshake -cert "$FLEET/other/host-001.crt" -key "$FLEET/other/host-001.key"
assert_contains "unknown ca"

# A real agent: its own key, a valid certificate, but another host's.
mkdir -p "$FLEET/intruder/state"
q keygen "$FLEET/intruder/agent.key" >/dev/null
intruder() { # NAME CERT KEY CA [URL]: an agent config for hostname NAME
	sed -e "s|^hostname = .*|hostname = $1|" -e "s|^tls_cert = .*|tls_cert = $2|" \
		-e "s|^tls_key = .*|tls_key = $3|" -e "s|^tls_ca = .*|tls_ca = $4|" \
		-e "s|^key = .*|key = $FLEET/intruder/agent.key|" \
		-e "s|^state_dir = .*|state_dir = $FLEET/intruder/state|" \
		-e "s|^coordinator = .*|coordinator = ${5:-tls+tcp://127.0.0.1:$PORT}|" \
		"$A1" >"$FLEET/intruder/agent.conf"
}
run_agent() { # LOG: start the intruder config, its pid in $apid
	"$BIN/quell-agent" -c "$FLEET/intruder/agent.conf" </dev/null >"$1" 2>&1 &
	apid=$!
	echo "intruder $apid" >>"$FLEET/pids"
}
stop_agent() {
	kill "$apid" 2>/dev/null || true
	wait "$apid" 2>/dev/null || true
}
intruder web-9 "$FLEET/tls/host-002.crt" "$FLEET/tls/host-002.key" "$FLEET/tls/ca.crt"
run_agent "$FLEET/intruder/wrong-host.log"
wait_until 20 grep -q "certificate refused" "$FLEET/intruder/wrong-host.log" ||
	fail "an agent with another host's certificate was not refused: $(cat "$FLEET/intruder/wrong-host.log")"
stop_agent
assert_file_contains "$FLEET/intruder/wrong-host.log" "not for host web-9"
assert_file_contains "$FLEET/coordinator.log" "refused hello from key"
expect_exit 0 q agents
assert_not_contains "web-9"

# Another CA's certificate for the very name: the handshake fails, no hello is
# ever read, the host never appears.
intruder host-003 "$FLEET/other/host-001.crt" "$FLEET/other/host-001.key" "$FLEET/tls/ca.crt"
sed -i 's|^hostname = .*|hostname = host-001|' "$FLEET/intruder/agent.conf"
run_agent "$FLEET/intruder/other-ca.log"
sleep 2 # a window for what must not happen: there is nothing to poll for
stop_agent
assert_not_contains_file() { grep -q "$2" "$1" && fail "$1 has '$2'"; true; }
assert_not_contains_file "$FLEET/intruder/other-ca.log" ": connected"
expect_exit 0 q agents
assert_contains "2 agents, 2 connected"

# The agent's side: a "coordinator" whose certificate is from another CA.
# openssl s_server plays it; the agent aborts the handshake ("unknown ca").
FAKE=$(free_port)
# (s_server quits at the end of its input: the sleep keeps it open, and ends;
# its stderr is not the test's, which ctest would wait for.)
sleep 30 2>/dev/null | openssl s_server -accept "$FAKE" -cert "$FLEET/other/quell-coordinator.crt" \
	-key "$FLEET/other/quell-coordinator.key" >"$FLEET/fake.log" 2>&1 &
fake=$!
echo "fake $fake" >>"$FLEET/pids"
wait_until 10 port_listening "$FAKE" || fail "openssl s_server did not listen"
intruder host-001 "$FLEET/tls/host-001.crt" "$FLEET/tls/host-001.key" "$FLEET/tls/ca.crt" \
	"tls+tcp://127.0.0.1:$FAKE"
run_agent "$FLEET/intruder/fake.log"
wait_until 20 grep -qi "alert" "$FLEET/fake.log" ||
	fail "the agent did not refuse the fake coordinator: $(cat "$FLEET/fake.log")"
stop_agent
assert_file_contains "$FLEET/fake.log" "unknown ca"
assert_not_contains_file "$FLEET/intruder/fake.log" ": connected"
kill "$fake" 2>/dev/null || true

# The CLI checks the coordinator too: another CA, another name.
sed "s|^tls_ca = .*|tls_ca = $FLEET/other/ca.crt|" "$QUELL_CONFIG" >"$FLEET/cli-other.conf"
expect_exit 3 q agents --config "$FLEET/cli-other.conf"
assert_contains "must chain to tls_ca"
sed "s|^tls_server_name = .*|tls_server_name = somebody-else|" "$QUELL_CONFIG" >"$FLEET/cli-name.conf"
expect_exit 3 q agents --config "$FLEET/cli-name.conf"

# Plain tcp:// only where written, and warned about at every start.
intruder host-007 "$FLEET/tls/host-001.crt" "$FLEET/tls/host-001.key" "$FLEET/tls/ca.crt" \
	"tcp://127.0.0.1:$PORT"
run_agent "$FLEET/intruder/plain.log"
wait_until 10 grep -q "plain tcp://" "$FLEET/intruder/plain.log" || fail "no plain tcp warning"
stop_agent
expect_exit 0 q agents
assert_not_contains "host-007"

# Re-enrol: host-002 comes back with a new key; refused until forgotten, and
# forgetting is refused while the old agent is connected.
expect_exit 1 q agents forget host-002
assert_contains "is connected with its pinned key"
"$ROOT/dev" fleet stop-agent "$FLEET" host-002 >/dev/null 2>&1 || fail "could not stop host-002"
H2=$FLEET/hosts/host-002
old=$(cat "$H2/agent.key.pub")
mv "$H2/agent.key" "$FLEET/intruder/old.key"
mv "$H2/agent.key.pub" "$FLEET/intruder/old.key.pub"
expect_exit 0 "$BIN/quell-agent" --keygen -c "$H2/agent.conf"
[[ "$(cat "$H2/agent.key.pub")" != "$old" ]] || fail "--keygen made no new key"
expect_exit 0 "$BIN/quell-agent" --keygen -c "$H2/agent.conf"
[[ "$OUT" == *"$(cat "$H2/agent.key.pub")"* ]] || fail "--keygen replaced an existing key"
"$BIN/quell-agent" -c "$H2/agent.conf" </dev/null >>"$H2/agent.log" 2>&1 &
echo "host-002 $!" >>"$FLEET/pids"
wait_until 20 grep -q "pinned to another agent key" "$FLEET/coordinator.log" ||
	fail "a new key for host-002 was not refused"
"$ROOT/dev" fleet stop-agent "$FLEET" host-002 >/dev/null 2>&1 || true
expect_exit 1 q agents forget host-404
assert_contains "no agent named host-404"
expect_exit 0 q agents forget host-002 --reason "reinstalled"
assert_contains "forgot host-002 (agent key $old)"
"$ROOT/dev" fleet start-agent "$FLEET" host-002 >/dev/null 2>&1 ||
	fail "host-002 did not come back with its new key: $(tail -n 3 "$H2/agent.log")"
expect_exit 0 q ping -t host=host-002
assert_contains "1 ok"
# The forgotten key is refused for good, certificate or not: whoever has it
# cannot take the host back.
"$ROOT/dev" fleet stop-agent "$FLEET" host-002 >/dev/null 2>&1 || fail "could not stop host-002"
intruder host-002 "$FLEET/tls/host-002.crt" "$FLEET/tls/host-002.key" "$FLEET/tls/ca.crt"
sed -i "s|^key = .*|key = $FLEET/intruder/old.key|" "$FLEET/intruder/agent.conf"
run_agent "$FLEET/intruder/forgotten.log"
wait_until 20 grep -q "forgotten by an operator" "$FLEET/intruder/forgotten.log" ||
	fail "the forgotten key was not refused: $(cat "$FLEET/intruder/forgotten.log")"
stop_agent
"$ROOT/dev" fleet start-agent "$FLEET" host-002 >/dev/null 2>&1 ||
	fail "host-002 did not come back with its new key"
expect_exit 0 q audit verify
pass
