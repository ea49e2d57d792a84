#!/usr/bin/env bash
# Feature flags and release rollback across a fleet, checked on disk: `flag`
# changes one key of every host's JSON flag file and nothing else, a kv flag
# file keeps its comments, `rollback` moves every host's `current` link to
# the previous release and refuses (exit 1) to go past the oldest, and -n
# changes nothing.
. "$(dirname "$0")/lib.sh"
fleet_up 3
HOSTS=(host-001 host-002 host-003)

# json_flags FILE: "key=value ..." sorted, parsed as JSON (the file must be an object).
json_flags() {
	jq -er 'if type == "object" then to_entries | sort_by(.key)
		| map("\(.key)=\(.value | tojson)") | join(" ") else error("not an object") end' "$1"
}
expect_flags() {
	local got
	got=$(json_flags "$1") || fail "$1 is not a JSON object: $(cat "$1")"
	[[ "$got" == "$2" ]] || fail "$1: expected $2, got $got"
}

# ---- flag, json
INITIAL='checkout_v2=true recommendations=true search_suggestions=false'
for h in "${HOSTS[@]}"; do expect_flags "$FLEET/hosts/$h/flags.json" "$INITIAL"; done

expect_exit 0 q flag checkout_v2 off -n
assert_contains "would set flags checkout_v2: on -> off"
assert_contains "(dry run)"
for h in "${HOSTS[@]}"; do expect_flags "$FLEET/hosts/$h/flags.json" "$INITIAL"; done

expect_exit 0 q flag checkout_v2 off --reason "INC-9 checkout errors"
assert_contains "3 ok"
assert_contains "flags checkout_v2: on -> off ($FLEET/hosts/host-002/flags.json)"
for h in "${HOSTS[@]}"; do
	expect_flags "$FLEET/hosts/$h/flags.json" \
		'checkout_v2=false recommendations=true search_suggestions=false'
done

expect_exit 0 q flag search_suggestions on -t host=host-003
expect_flags "$FLEET/hosts/host-003/flags.json" \
	'checkout_v2=false recommendations=true search_suggestions=true'
expect_flags "$FLEET/hosts/host-001/flags.json" \
	'checkout_v2=false recommendations=true search_suggestions=false'

# Usage errors never reach the fleet.
expect_exit 2 q flag 'checkout v2' off
expect_exit 2 q flag checkout_v2 maybe
expect_exit 2 q flag checkout_v2
expect_exit 2 q ping --file flags

# A flag file that is not a JSON object is refused, not replaced.
echo '["checkout_v2"]' >"$FLEET/hosts/host-001/flags.json"
expect_exit 1 q flag checkout_v2 on -t host=host-001
assert_contains "is not a JSON object"
[[ "$(cat "$FLEET/hosts/host-001/flags.json")" == '["checkout_v2"]' ]] ||
	fail "a non-object flag file was rewritten"

# ---- flag, kv: host-002 gets a second flags handle
add_kv_handle() {
	local h=$FLEET/hosts/host-002
	printf '[handle kvflags]\ntype = flags\nformat = kv\nfile = %s\n' "$h/flags.conf" \
		>>"$h/agent.conf"
	printf '# app feature flags\n\ncheckout_v2 = on\n; old\nbeta=off\n' >"$h/flags.conf"
}
restart_agent host-002 add_kv_handle
expect_exit 0 q flag checkout_v2 off --file kvflags -t host=host-002
assert_contains "kvflags checkout_v2: on -> off"
[[ "$(cat "$FLEET/hosts/host-002/flags.conf")" == \
	$'# app feature flags\n\ncheckout_v2 = off\n; old\nbeta=off' ]] ||
	fail "kv flag file: $(cat "$FLEET/hosts/host-002/flags.conf")"
expect_exit 0 q flag newflag on --file kvflags -t host=host-002
assert_file_contains "$FLEET/hosts/host-002/flags.conf" "newflag=on"
# The other hosts have no such handle.
expect_exit 1 q flag checkout_v2 on --file kvflags
assert_contains "unknown-handle"

# ---- rollback
for h in "${HOSTS[@]}"; do
	[[ "$(readlink "$FLEET/hosts/$h/app/current")" == releases/v2 ]] || fail "$h does not start on v2"
done
expect_exit 0 q rollback app -n
assert_contains "app: would switch v2 -> v1"
for h in "${HOSTS[@]}"; do
	[[ "$(readlink "$FLEET/hosts/$h/app/current")" == releases/v2 ]] || fail "a dry run switched $h"
done

expect_exit 0 q rollback app --reason "INC-9 bad deploy"
assert_contains "3 ok"
assert_contains "app: v2 -> v1"
for h in "${HOSTS[@]}"; do
	[[ "$(readlink "$FLEET/hosts/$h/app/current")" == releases/v1 ]] ||
		fail "$h: current is $(readlink "$FLEET/hosts/$h/app/current"), expected releases/v1"
	[[ "$(cat "$FLEET/hosts/$h/app/current/VERSION")" == v1 ]] || fail "$h does not serve v1"
done

# v1 is the oldest: refused on every host, nothing changes.
expect_exit 1 q rollback app
assert_contains "3 failed"
assert_contains "v1 is the oldest release"
for h in "${HOSTS[@]}"; do
	[[ "$(readlink "$FLEET/hosts/$h/app/current")" == releases/v1 ]] || fail "$h moved past v1"
done

expect_exit 2 q rollback
expect_exit 2 q rollback app extra
pass
