#!/usr/bin/env bash
# `quell undo ID` restores exactly the state recorded before the action, on
# every host of the mitigation: a flag's previous value (other flags
# untouched), the previous release, the previous instance
# count (real memcached), a paused worker running again, the previous
# maintenance message. Undo is a signed job with per-host results; undoing
# again is ok with a note. A later command on the same thing ends the
# mitigation (maintenance off) or takes it over (undo of the newer one goes
# back to the state before both).
. "$(dirname "$0")/lib.sh"
[[ -x /usr/bin/memcached ]] || fail "/usr/bin/memcached is missing (./dev deps installs memcached)"
fleet_up 2
HOSTS=(host-001 host-002)
H1=$FLEET/hosts/host-001

# The newest mitigation's id (quell mitigations lists newest first).
newest() {
	q mitigations --all --json | jq -r '.mitigations[0].id'
}
# Flag values, not the file's bytes: cJSON re-indents the file when it writes.
remember_state "${HOSTS[@]}"
same_as_before() { same_state "after undo" "${HOSTS[@]}"; }

# Usage errors.
expect_exit 2 q undo
expect_exit 2 q undo xyz
expect_exit 2 q undo 0123
expect_exit 1 q undo 00000000
assert_contains "no mitigation"

# flag: off, then undo: back on, every other flag as it was.
expect_exit 0 q flag checkout_v2 off --reason "checkout errors" --incident undo-test
id=$(newest)
flag_is() { jq -e --arg f "$2" --argjson v "$3" '.[$f] == $v' "$1" >/dev/null; }
flag_is "$H1/flags.json" checkout_v2 false || fail "flag not off: $(cat "$H1/flags.json")"
expect_exit 0 q undo -n "$id"
assert_contains "would"
flag_is "$H1/flags.json" checkout_v2 false || fail "a dry-run undo changed the flag"
expect_exit 0 q undo "$id"
assert_contains "2 ok"
same_as_before
expect_exit 0 q undo "$id"
assert_contains "already reverted"
expect_exit 0 q mitigations --all --json
[[ "$(jq -r --arg id "$id" '.mitigations[] | select(.id == $id) | .hosts.reverted' <<<"$OUT")" == 2 ]] ||
	fail "the coordinator does not show the flag mitigation reverted:$NL$OUT"

# rollback, then undo: the release from before.
expect_exit 0 q rollback app
[[ "$(readlink "$H1/app/current")" != releases/v2 ]] || fail "rollback did not switch"
expect_exit 0 q undo "$(newest)"
assert_contains "2 ok"
same_as_before

# Two rollbacks in a row: the second takes the first over; its undo goes back
# to where the first started.
for h in "${HOSTS[@]}"; do
	mkdir "$FLEET/hosts/$h/app/releases/v0"
	echo v0 >"$FLEET/hosts/$h/app/releases/v0/VERSION"
done
first=$(q rollback app --json | jq -r .job)
expect_exit 0 q rollback app
[[ "$(readlink "$H1/app/current")" == releases/v0 ]] || fail "two rollbacks did not reach v0"
expect_exit 1 q undo "$first"
assert_contains "taken over"
expect_exit 0 q undo "$(newest)"
assert_contains "2 ok"
same_as_before

# scale, then undo: as many memcached instances as before (none).
expect_exit 0 q scale cache 2 -t host=host-001
port_listening "$QUELL_CACHE_BASE" || fail "scale started no memcached"
expect_exit 0 q undo "$(newest)"
assert_contains "1 ok"
! port_listening "$QUELL_CACHE_BASE" || fail "undo of scale left memcached running"
same_as_before

# pause, then undo: the worker runs again.
expect_exit 0 q pause worker
expect_exit 0 q undo "$(newest)"
assert_contains "2 ok"
same_as_before

# maintenance: a message was up before; undo brings that message back.
expect_exit 0 q maintenance on --message "Old notice"
remember_state "${HOSTS[@]}"
old=$(newest)
expect_exit 0 q maintenance on --message "Checkout is down"
new=$(newest)
[[ "$new" != "$old" ]] || fail "the second maintenance made no new mitigation"
assert_file_contains "$H1/www/maintenance.html" "Checkout is down"
# The newer one took the older over: undo the old one is refused, undo the
# new one goes back to the state before both (no page at all).
expect_exit 1 q undo "$old"
assert_contains "taken over"
expect_exit 0 q undo "$new"
assert_no_file "$H1/www/maintenance.html"
# maintenance on, then off: the mitigation ended, nothing stays active.
expect_exit 0 q maintenance on
expect_exit 0 q maintenance off
expect_exit 0 q mitigations --json
[[ "$(jq '.mitigations | length' <<<"$OUT")" == 0 ]] || fail "mitigations still active:$NL$OUT"

# A host whose policy does not allow undo may still undo what it may do itself,
# and an undo that the policy denies changes nothing.
expect_exit 0 q flag recommendations off -t host=host-002
rid=$(newest)
deny_flags() { sed -i 's/^allow = \*$/allow = ping, maintenance/' "$FLEET/hosts/host-002/agent.conf"; }
restart_agent host-002 deny_flags
expect_exit 1 q undo "$rid"
assert_contains "denied"
flag_is "$FLEET/hosts/host-002/flags.json" recommendations false ||
	fail "a denied undo changed the flag"
pass
