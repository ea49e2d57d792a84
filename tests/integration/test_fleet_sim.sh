#!/usr/bin/env bash
# The fleet simulator (tests/sim) runs 500 real agents in one process
# against a real coordinator, over mutual TLS: every one connects, answers
# a ping, and a maintenance job reaches exactly the selected third of them,
# writing (and then removing) each one's own file. Its stage timestamps account for every
# result, and it stops cleanly on TERM (no sanitizer report).
. "$(dirname "$0")/lib.sh"
N=500
WEB=$(((N + 2) / 3)) # role=web is agent 1, 4, 7, ...
fleet_up 0
AGENT_URL=$(sed -n 's|^agent_listen = ||p' "$FLEET/coordinator.conf")
[[ "$AGENT_URL" == tls+tcp://* ]] || fail "the fleet is not on TLS: $AGENT_URL"
SIM="$FLEET/sim"
# Mutual TLS like a real fleet: each simulated agent gets a certificate for
# its name from the fleet's CA.
"$BIN/quell-sim" -d "$SIM" -n "$N" -c "$AGENT_URL" -s "$FLEET/operator.key.pub" \
	-T "$FLEET/tls" -N "$(sed -n 's|^tls_server_name = ||p' "$QUELL_CONFIG")" \
	</dev/null >"$FLEET/sim.log" 2>&1 &
sim=$!
echo "sim $sim" >>"$FLEET/pids" # the fleet's teardown stops it if the test fails
on_exit sanitizer_reports "$FLEET/sim.log"

all_connected() {
	kill -0 "$sim" 2>/dev/null || fail "quell-sim exited: $(tail -n 5 "$FLEET/sim.log")"
	q agents >"$FLEET/agents.out" 2>&1 || return 1
	[[ "$(tail -n 1 "$FLEET/agents.out")" == "$N agents, $N connected" ]]
}
wait_until 120 all_connected || fail "not all $N simulated agents connected"

expect_exit 0 q ping -t sim=1
assert_contains "$N ok"

expect_exit 0 q maintenance on -t role=web --message "sim test"
assert_contains "$WEB ok"
files=$(find "$SIM/hosts" -name maintenance.html | wc -l)
((files == WEB)) || fail "expected $WEB maintenance files, found $files"
assert_file_contains "$SIM/hosts/sim-00001/maintenance.html" "sim test"
assert_no_file "$SIM/hosts/sim-00002/maintenance.html" # role=worker

# Every result of that job went out, in stage order.
kill -USR1 "$sim"
wait_until 10 test -s "$SIM/stats.json" || fail "quell-sim wrote no stats.json"
jq -e --argjson n "$WEB" '.sent.count == $n and .received.count == $n
	and .received.min <= .admitted.min and .admitted.max <= .done.max
	and .done.max <= .sent.max' "$SIM/stats.json" >/dev/null ||
	fail "unexpected stage stats: $(cat "$SIM/stats.json")"

expect_exit 0 q maintenance off -t role=web
assert_contains "$WEB ok"
files=$(find "$SIM/hosts" -name maintenance.html | wc -l)
((files == 0)) || fail "$files maintenance files left after maintenance off"

kill -TERM "$sim"
rc=0
wait "$sim" || rc=$?
((rc == 0)) || fail "quell-sim exited $rc on TERM: $(tail -n 5 "$FLEET/sim.log")"
pass
