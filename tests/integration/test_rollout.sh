#!/usr/bin/env bash
# Safe rollout: a canary first, then batches; a batch that spends the failure
# budget stops the rollout and the rest are 'skipped' (never touched), and
# the counts still add up to the target count.
. "$(dirname "$0")/lib.sh"
fleet_up 6
page() { echo "$FLEET/hosts/$1/www/maintenance.html"; }

# host-002 and host-003 cannot write their maintenance page.
for h in host-002 host-003; do
	rm -rf "$FLEET/hosts/$h/www"
	echo "not a directory" >"$FLEET/hosts/$h/www"
done

# Canary host-001 ok; batch host-002+host-003 both fail: 2 > --max-failures 1.
expect_exit 1 q maintenance on --canary 1 --batch 2 --max-failures 1 --json
assert_contains '"ok":	1'
assert_contains '"failed":	2'
assert_contains '"skipped":	3'
assert_contains "more than --max-failures 1"
assert_file_contains "$(page host-001)" "maintenance"
for h in host-004 host-005 host-006; do assert_no_file "$(page "$h")"; done
expect_exit 0 q maintenance off -t host=host-001

# A failing canary stops everything after it.
expect_exit 1 q maintenance on --canary 2
assert_contains "1 ok, 1 failed, 4 skipped"
assert_contains "canary hosts did not end ok"
for h in host-004 host-005 host-006; do assert_no_file "$(page "$h")"; done
expect_exit 0 q maintenance off -t host=host-001

# Percent batches and no budget: every host is tried, the failures reported.
expect_exit 1 q maintenance on --batch 50% --json
assert_contains '"ok":	4'
assert_contains '"failed":	2'
assert_contains '"skipped":	0'
for h in host-001 host-004 host-005 host-006; do assert_file_contains "$(page "$h")" "maintenance"; done

# Every batch may run to its deadline: the command lives long enough for the
# last one (three hosts down, one host per batch).
for h in host-004 host-005 host-006; do "$ROOT/dev" fleet stop-agent "$FLEET" "$h"; done
expect_exit 1 q ping --batch 1 --timeout 1
assert_contains "3 ok, 3 unreachable"
assert_not_contains "skipped"

# Usage errors.
expect_exit 2 q ping --batch 0%
expect_exit 2 q ping --max-failures 101%
expect_exit 2 q ping --canary -1
pass
