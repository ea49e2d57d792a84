#!/usr/bin/env bash
# An agent whose policy does not allow the operator's action answers
# "rejected: denied" and changes nothing; the others act.
. "$(dirname "$0")/lib.sh"
fleet_up 3

conf="$FLEET/hosts/host-002/agent.conf"
restart_agent host-002 sed -i 's/^allow = .*/allow = ping/' "$conf"

expect_exit 1 q maintenance on --message "should not appear on host-002"
assert_contains "host-002  rejected"
assert_contains "denied"
assert_contains "2 ok, 1 rejected"
assert_no_file "$FLEET/hosts/host-002/www/maintenance.html"
assert_file_contains "$FLEET/hosts/host-001/www/maintenance.html" "should not appear"
assert_file_contains "$FLEET/hosts/host-002/agent.log" "denied"

# ping is still allowed there.
expect_exit 0 q ping
pass
