#!/usr/bin/env bash
# Several operators at once, each with their own key: every command is
# authenticated by its operator's signature, the agents' policies tell the
# operators apart, and both audit logs record who signed what.
. "$(dirname "$0")/lib.sh"
fleet_up 3
HOSTS=(host-001 host-002 host-003)

# A second operator, "sre2": a key, a CLI config, and trust on both sides.
q keygen "$FLEET/sre2.key" >/dev/null
sed "s|^key = .*|key = $FLEET/sre2.key|" "$FLEET/cli.conf" >"$FLEET/sre2.conf"
printf '[operator sre2]\nkey_file = %s\n' "$FLEET/sre2.key.pub" >>"$FLEET/coordinator.conf"
crash_coordinator # restarts it with the new operator
trust_sre2() { # sre2 may ping and flip flags, nothing else
	printf '[signer sre2]\nkey_file = %s\nallow = ping, flag\n' "$FLEET/sre2.key.pub" \
		>>"$FLEET/hosts/$1/agent.conf"
}
for h in "${HOSTS[@]}"; do restart_agent "$h" trust_sre2 "$h"; done
q2() { QUELL_CONFIG=$FLEET/sre2.conf "$BIN/quell" "$@"; }

# Both at once, several times over.
pids=()
for i in 1 2 3; do
	q maintenance on --message "oncall $i" >"$FLEET/a$i.out" 2>&1 &
	pids+=($!)
	q2 flag checkout_v2 off >"$FLEET/b$i.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent command failed: $(cat "$FLEET"/*.out)"; done
for i in 1 2 3; do
	OUT=$(cat "$FLEET/a$i.out")
	assert_contains "3 ok"
	OUT=$(cat "$FLEET/b$i.out")
	assert_contains "3 ok"
done

# The agents tell the operators apart: sre2 may not put the site in maintenance.
expect_exit 1 q2 maintenance off
assert_contains "3 rejected"
assert_contains "denied"

# Who signed what, on the coordinator and on every agent.
db=$FLEET/coordinator/coordinator.db
n1=$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE operator = 'oncall' AND action = 'maintenance'")
n2=$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE operator = 'sre2'")
((n1 == 3 && n2 == 4)) || fail "coordinator recorded oncall=$n1 sre2=$n2 jobs"
for h in "${HOSTS[@]}"; do
	adb=$FLEET/hosts/$h/state/agent.db
	a1=$(sqlite3 "$adb" "SELECT count(*) FROM audit WHERE signer = 'oncall' AND status = 'ok'")
	a2=$(sqlite3 "$adb" "SELECT count(*) FROM audit WHERE signer = 'sre2' AND status = 'ok'")
	a3=$(sqlite3 "$adb" "SELECT count(*) FROM audit WHERE signer = 'sre2' AND code = 'denied'")
	((a1 == 3 && a2 == 3 && a3 == 1)) || fail "$h audit: oncall ok=$a1, sre2 ok=$a2 denied=$a3"
done
pass
