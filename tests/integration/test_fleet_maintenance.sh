#!/usr/bin/env bash
# A fleet of 5 real agents and a real coordinator on loopback: maintenance
# on/off reaches every host, a selector reaches only the hosts it names,
# and ping answers from all.
. "$(dirname "$0")/lib.sh"
fleet_up 5

expect_exit 0 q ping
assert_contains "5 ok"

expect_exit 0 q maintenance on --message "Checkout is degraded; we are on it" --reason "INC-1 test"
assert_contains "5 ok"
for h in host-001 host-002 host-003 host-004 host-005; do
	assert_file_contains "$FLEET/hosts/$h/www/maintenance.html" "Checkout is degraded; we are on it"
done

expect_exit 0 q maintenance off
for h in host-001 host-002 host-003 host-004 host-005; do
	assert_no_file "$FLEET/hosts/$h/www/maintenance.html"
done

# role=web is host-001 and host-004 (roles cycle web, worker, cache).
expect_exit 0 q maintenance on -t role=web --json
assert_contains '"ok":	2'
assert_file_contains "$FLEET/hosts/host-001/www/maintenance.html" "maintenance"
assert_file_contains "$FLEET/hosts/host-004/www/maintenance.html" "maintenance"
for h in host-002 host-003 host-005; do
	assert_no_file "$FLEET/hosts/$h/www/maintenance.html"
done

# dc alternates east (odd) / west (even): role=web,dc=west is host-004 only.
expect_exit 0 q maintenance off -t 'role=web,dc=west'
assert_contains "host-004"
assert_not_contains "host-001"
assert_no_file "$FLEET/hosts/host-004/www/maintenance.html"
assert_file_contains "$FLEET/hosts/host-001/www/maintenance.html" "maintenance"

# A selector nothing matches is an error, not a silent success.
expect_exit 1 q ping -t host=nosuchhost
assert_contains "no known agent matches"

# Usage errors exit 2.
expect_exit 2 q maintenance sideways
expect_exit 2 q ping -t 'role=[web]'

expect_exit 0 q agents
assert_contains "5 agents, 5 connected"
pass
