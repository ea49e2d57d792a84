#!/usr/bin/env bash
# A fleet of 100 real agent processes: a fan-out to all answers 100 ok, and
# every host ends with exactly one final status that tells the truth:
# stopped before the job -> unreachable, frozen during it -> timeout,
# policy says no -> rejected; the counts add up to the target count.
. "$(dirname "$0")/lib.sh"
fleet_up 100

expect_exit 0 q ping --json
assert_contains '"ok":	100'
assert_contains '"failed":	0'

# host-010 denies maintenance; host-020 and host-021 are down; host-030 freezes.
conf="$FLEET/hosts/host-010/agent.conf"
restart_agent host-010 sed -i 's/^allow = .*/allow = ping/' "$conf"
"$ROOT/dev" fleet stop-agent "$FLEET" host-020
"$ROOT/dev" fleet stop-agent "$FLEET" host-021
frozen=$(awk '$1 == "host-030" { print $2 }' "$FLEET/pids")
kill -STOP "$frozen"
on_exit kill -CONT "$frozen"

expect_exit 1 q maintenance on --timeout 3 --json
assert_contains '"ok":	96'
assert_contains '"rejected":	1'
assert_contains '"unreachable":	2'
assert_contains '"timeout":	1'
# One line per host, exactly one status each.
n=$(grep -c '"host":' <<<"$OUT")
((n == 100)) || fail "expected 100 host results, got $n"
for h in host-020 host-021 host-030 host-010; do
	assert_no_file "$FLEET/hosts/$h/www/maintenance.html"
done
assert_file_contains "$FLEET/hosts/host-099/www/maintenance.html" "maintenance"
kill -CONT "$frozen"
pass
