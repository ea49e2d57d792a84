#!/usr/bin/env bash
# TTLs are the agents' own: `maintenance on --ttl 3s` with the coordinator
# stopped right after still ends on every host, and the coordinator learns
# it (mitigations, timeline) when it comes back. An agent killed with -9
# while holding a mitigation whose TTL passes meanwhile reverts it right
# after it starts again. `extend` pushes the expiry; a host's policy caps
# the TTL a signer may ask for and can require one.
. "$(dirname "$0")/lib.sh"
fleet_up 3
HOSTS=(host-001 host-002 host-003)
page() { echo "$FLEET/hosts/$1/www/maintenance.html"; }
pages_gone() {
	local h
	for h in "$@"; do [[ ! -e "$(page "$h")" ]] || return 1; done
}
# state_count ID STATE N: the coordinator lists N hosts of mitigation ID in STATE.
state_count() {
	q mitigations --all --json |
		jq -e --arg id "$1" --arg st "$2" --argjson n "$3" \
			'.mitigations[] | select(.id == $id) | .hosts[$st] == $n' >/dev/null
}
now() { date +%s; }
passed() { (($(now) >= $1)); }

# --ttl is for actions that can be reverted, and a sane duration.
expect_exit 2 q kill runaway --ttl 5m
assert_contains "--ttl only goes with"
expect_exit 2 q maintenance on --ttl 5x
assert_contains "duration"
expect_exit 2 q maintenance on --ttl 8d
expect_exit 2 q maintenance off --ttl 5m

# 1. The coordinator goes away right after the command: the agents still revert.
expect_exit 0 q maintenance on --ttl 3s --incident ttl-test --reason "db failover" \
	--message "Back soon"
assert_contains "3 ok"
for h in "${HOSTS[@]}"; do assert_file_contains "$(page "$h")" "Back soon"; done
expect_exit 0 q mitigations --json
id=$(jq -r '.mitigations[0].id' <<<"$OUT")
[[ "$(jq -r '.mitigations[0].hosts.active' <<<"$OUT")" == 3 ]] ||
	fail "expected 3 active hosts:$NL$OUT"
[[ "$(jq -r '.mitigations[0].incident' <<<"$OUT")" == ttl-test ]] || fail "incident lost:$NL$OUT"
[[ "$(jq -r '.mitigations[0].expires' <<<"$OUT")" != null ]] || fail "no expiry:$NL$OUT"
stop_coordinator
wait_until 15 pages_gone "${HOSTS[@]}"
start_coordinator
wait_until 30 state_count "$id" reverted 3
expect_exit 0 q mitigations
assert_not_contains "${id:0:12}"
expect_exit 0 q mitigations --all
assert_contains "${id:0:12}"
assert_contains "0 active, 3 reverted"
# The timeline has the command, its results and the three automatic reverts.
expect_exit 0 q timeline ttl-test --json
for h in "${HOSTS[@]}"; do
	jq -e --arg h "$h" '[.events[] | select(.kind == "mitigation" and .host == $h
		and .data.cause == "expired" and .data.state == "reverted")] | length == 1' \
		<<<"$OUT" >/dev/null || fail "no automatic revert of $h in the timeline:$NL$OUT"
done
# For the postmortem, the three reverts are one row.
expect_exit 0 q timeline ttl-test --markdown
assert_contains "| mitigation | 3 hosts | mitigation ${id:0:12} reverted (expired) on 3 hosts: host-00"
# Undoing what already reverted is ok, with a note.
expect_exit 0 q undo "${id:0:10}"
assert_contains "already reverted"

# 2. kill -9 while holding a mitigation; its TTL passes while the agent is down.
expect_exit 0 q maintenance on --ttl 3s -t host=host-002 --reason crash-test
expect_exit 0 q mitigations --json
id2=$(jq -r '.mitigations[0].id' <<<"$OUT")
until_=$(($(now) + 5))
kill9_agent host-002
wait_until 15 passed "$until_"
[[ -e "$(page host-002)" ]] || fail "the page went away while its agent was down"
"$ROOT/dev" fleet start-agent "$FLEET" host-002 || fail "host-002 did not come back"
wait_until 10 pages_gone host-002
wait_until 20 state_count "$id2" reverted 1

# 3. extend: the expiry moves from now, and undo still ends it early.
expect_exit 0 q maintenance on --ttl 3s -t host=host-001
expect_exit 0 q mitigations --json
id3=$(jq -r '.mitigations[0].id' <<<"$OUT")
expect_exit 2 q extend "$id3"
assert_contains "--ttl"
expect_exit 0 q extend "$id3" --ttl 1h
assert_contains "1 ok"
assert_contains "reverts at"
until_=$(($(now) + 5))
wait_until 15 passed "$until_"
[[ -e "$(page host-001)" ]] || fail "an extended mitigation reverted at its old expiry"
expect_exit 0 q mitigations --json
exp=$(jq -r --arg id "$id3" '.mitigations[] | select(.id == $id) | .expires' <<<"$OUT")
[[ "$(date -d "$exp" +%s)" -gt $(($(now) + 3000)) ]] || fail "expiry not pushed: $exp"
expect_exit 0 q undo "$id3"
assert_contains "1 ok"
pages_gone host-001 || fail "undo left the page"
expect_exit 1 q extend "$id3" --ttl 1h
assert_contains "in effect"

# 4. Policy: host-003 caps oncall's TTL at 10m and requires one.
cap_ttl() { sed -i 's/^allow = \*$/allow = *\nmax_ttl = 10m\nrequire_ttl = yes/' \
	"$FLEET/hosts/host-003/agent.conf"; }
restart_agent host-003 cap_ttl
expect_exit 1 q maintenance on -t host=host-003
assert_contains "ttl-required"
expect_exit 1 q maintenance on --ttl 1h -t host=host-003
assert_contains "ttl-too-long"
pages_gone host-003 || fail "a refused command changed the host"
expect_exit 0 q maintenance on --ttl 10m -t host=host-003
expect_exit 0 q ping -t host=host-003 # not reversible: no TTL needed
pass
