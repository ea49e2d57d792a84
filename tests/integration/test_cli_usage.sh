#!/usr/bin/env bash
# The CLI checks what it can before signing anything: wrong arguments to the
# action verbs exit 2 (usage) without talking to a coordinator at all (none
# is configured here).
. "$(dirname "$0")/lib.sh"
export QUELL_CONFIG=/nonexistent/cli.conf

for args in \
	"kill" "kill a b" "kill runaway --signal FOO" "kill runaway --signal 9" \
	"kill runaway --grace 601" "kill runaway --grace -1" "kill runaway --grace 2s" \
	"pause" "pause a b" "resume" "restart" "rollback" "rollback a b" \
	"scale" "scale cache" "scale cache 65" "scale cache -1" "scale cache x" "scale cache 1 2" \
	"flag" "flag x" "flag x maybe" "flag x on extra" "flag bad/name on" \
	"maintenance on --grace 3" "pause worker --signal TERM" "ping --file flags" \
	"scale cache 2 --file flags"; do
	# shellcheck disable=SC2086 # split on purpose
	expect_exit 2 q $args
done

# Valid usage gets as far as the (missing) config: exit 2 for that, with its message.
expect_exit 2 q kill runaway --signal SIGKILL --grace 0
assert_contains "cannot read config"
expect_exit 2 q scale cache 0 -n
assert_contains "cannot read config"
expect_exit 0 q help
for verb in kill pause resume restart flag rollback scale; do
	assert_contains "  $verb "
done
assert_contains "--dry-run"
pass
