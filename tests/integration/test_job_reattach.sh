#!/usr/bin/env bash
# `quell job ID` and `quell jobs`: the CLI that submitted a slow job is
# killed; another CLI finds the job again (from `quell jobs`, with the
# operator who signed it), sees it in progress, follows it to the end, and
# still finds it after the coordinator crashed and the job is only in its
# store.
. "$(dirname "$0")/lib.sh"
fleet_up 3
HOSTS=(host-001 host-002 host-003)

add_slow() {
	cat >>"$FLEET/hosts/$1/agent.conf" <<CONF
[handle slow]
type = service
restart = /bin/sh -c "echo run >> $FLEET/hosts/$1/slow.count; exec /bin/sleep 5"
CONF
}
for h in "${HOSTS[@]}"; do restart_agent "$h" add_slow "$h"; done

# Usage errors and an unknown id.
expect_exit 2 q job
expect_exit 2 q job not-hex
expect_exit 2 q job 0123
expect_exit 2 q jobs --limit 0
expect_exit 2 q jobs --limit 201
expect_exit 1 q job 00000000000000000000000000000000
assert_contains "no job with this id"

q restart slow --timeout 60 --reason reattach-test >"$FLEET/cli.out" 2>&1 &
cli=$!
started() {
	local h
	for h in "${HOSTS[@]}"; do [[ -s "$FLEET/hosts/$h/slow.count" ]] || return 1; done
}
wait_until 20 started
kill -9 "$cli"
wait "$cli" 2>/dev/null || true

db=$FLEET/coordinator/coordinator.db
id=$(sqlite3 "$db" "SELECT lower(hex(job_id)) FROM jobs ORDER BY created_at DESC LIMIT 1")
[[ ${#id} == 32 ]] || fail "no job id in the store: '$id'"

# Where it is now: nothing final yet (each action takes 5 s).
expect_exit 1 q job "$id"
assert_contains "3 hosts still in progress"
assert_contains "job $id: restart slow: 3 hosts"
expect_exit 0 q jobs
assert_contains "$id"
assert_contains "oncall"
assert_contains "running"
assert_contains "3 in progress"

# Follow it to the end, as the submitting CLI would have.
expect_exit 0 q job "${id^^}" --follow
assert_contains "job $id: restart slow: 3 hosts in"
assert_contains "3 ok"
assert_not_contains "in progress"
n_ok=$(grep -c '  ok  ' <<<"$OUT" || true)
((n_ok == 3)) || fail "expected 3 ok rows:$NL$OUT"

# The documented JSON, counts adding up to 3.
json=$(q job "$id" --json) || fail "quell job --json exited $?"
jq -e --arg id "$id" '.job == $id and .action == "restart" and .handle == "slow"
	and .state == "done" and .operator == "oncall" and .in_progress == 0
	and ([.counts[]] | add) == 3 and .counts.ok == 3 and (.hosts | length) == 3' \
	<<<"$json" >/dev/null || fail "unexpected JSON:$NL$json"

# quell jobs: newest first, who signed it, done; the JSON agrees.
expect_exit 0 q ping
expect_exit 0 q jobs --limit 1
assert_contains "ping"
assert_not_contains "$id"
expect_exit 0 q jobs
[[ "$OUT" == *"2 jobs"* ]] || fail "expected 2 jobs:$NL$OUT"
line=$(grep "^$id" <<<"$OUT") || fail "job $id not listed:$NL$OUT"
[[ "$line" == *oncall*done*"restart slow"*all*"3 ok"* ]] || fail "unexpected line: $line"
json=$(q jobs --json) || fail "quell jobs --json exited $?"
jq -e --arg id "$id" '(.jobs | length) == 2 and .jobs[0].action == "ping"
	and (.jobs[1] | .job == $id and .operator == "oncall" and .state == "done"
	     and .reason == "reattach-test" and .hosts == 3 and .counts.ok == 3
	     and (.signer | length) == 44)' <<<"$json" >/dev/null ||
	fail "unexpected jobs JSON:$NL$json"
# The same operator is in the coordinator's audit log for the submission.
who=$(sqlite3 "$db" "SELECT actor FROM audit_log WHERE kind = 'submit' AND hex(job_id) = upper('$id')")
[[ "$who" == oncall ]] || fail "audit log says '$who' submitted $id"

# After a crash the done job is only in the store: same answers.
crash_coordinator
expect_exit 0 q job "$id"
assert_contains "job $id: restart slow: 3 hosts in"
assert_contains "3 ok"
expect_exit 0 q job "$id" --follow
assert_contains "3 ok"
json=$(q job "$id" --json) || fail "quell job --json after the crash exited $?"
jq -e '.state == "done" and ([.counts[]] | add) == 3' <<<"$json" >/dev/null ||
	fail "unexpected JSON after the crash:$NL$json"
expect_exit 0 q jobs
line=$(grep "^$id" <<<"$OUT") || fail "job $id not listed after the crash:$NL$OUT"
[[ "$line" == *oncall*done*"3 ok"* ]] || fail "unexpected line after the crash: $line"

# A job in flight when the coordinator crashes: resumed, and reattachable.
q restart slow --timeout 60 >"$FLEET/cli2.out" 2>&1 &
cli=$!
id2=
newest() {
	id2=$(sqlite3 "$db" "SELECT lower(hex(job_id)) FROM jobs WHERE action = 'restart'
		ORDER BY created_at DESC, rowid DESC LIMIT 1")
	[[ "$id2" != "$id" && -n "$id2" ]]
}
wait_until 20 newest
ran_twice() {
	local h
	for h in "${HOSTS[@]}"; do (($(wc -l <"$FLEET/hosts/$h/slow.count") == 2)) || return 1; done
}
wait_until 20 ran_twice
crash_coordinator
wait "$cli" 2>/dev/null || true
expect_exit 0 q job "$id2" --follow
assert_contains "job $id2: restart slow: 3 hosts in"
assert_contains "3 ok"
for h in "${HOSTS[@]}"; do
	runs=$(wc -l <"$FLEET/hosts/$h/slow.count")
	((runs == 2)) || fail "$h ran the slow action $runs times (expected 2: one per job)"
done
pass
