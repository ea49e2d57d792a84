#!/usr/bin/env bash
# The coordinator refuses an operator key it does not know (exit 3), and a
# CLI that cannot reach the coordinator exits 3 too.
. "$(dirname "$0")/lib.sh"
fleet_up 2

"$BIN/quell" keygen "$FLEET/intruder.key" >/dev/null
sed "s|$FLEET/operator.key|$FLEET/intruder.key|" "$FLEET/cli.conf" > "$FLEET/intruder.conf"
expect_exit 3 q maintenance on --config "$FLEET/intruder.conf"
assert_contains "not accepted"
for h in host-001 host-002; do
	assert_no_file "$FLEET/hosts/$h/www/maintenance.html"
done
expect_exit 3 q agents --config "$FLEET/intruder.conf"

# Secret key readable by others: refused before anything is sent.
chmod 0644 "$FLEET/operator.key"
expect_exit 1 q ping
assert_contains "chmod 600"
chmod 0600 "$FLEET/operator.key"

# Nothing listening.
sed 's|coordinator = .*|coordinator = tcp://127.0.0.1:1|' "$FLEET/cli.conf" > "$FLEET/nowhere.conf"
expect_exit 3 q ping --config "$FLEET/nowhere.conf"
assert_contains "cannot reach the coordinator"
pass
