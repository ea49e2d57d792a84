#!/usr/bin/env bash
# quell timeline and quell audit verify against a real fleet: commands sent
# with --incident (or QUELL_INCIDENT) and every host's result are in the
# incident's timeline, in order, and nothing else is; --json and --markdown
# have the documented shapes. Then the attacker's view: a row of the
# coordinator's audit log edited or removed with sqlite3 while it runs is
# named by `quell audit verify` (exit 1), and the newest records removed are
# caught while the coordinator runs but not after a restart (the documented
# limit: only a head hash kept elsewhere shows it).
. "$(dirname "$0")/lib.sh"
fleet_up 3
db=$FLEET/coordinator/coordinator.db

# Usage, and no coordinator.
expect_exit 2 q timeline
expect_exit 2 q timeline a b
expect_exit 2 q timeline 'two words'
expect_exit 2 q timeline db-outage --json --markdown
expect_exit 2 q audit
expect_exit 2 q audit check
expect_exit 2 q audit verify extra
sed 's|coordinator = .*|coordinator = tcp://127.0.0.1:1|' "$FLEET/cli.conf" >"$FLEET/nowhere.conf"
expect_exit 3 q timeline db-outage --config "$FLEET/nowhere.conf"
expect_exit 3 q audit verify --config "$FLEET/nowhere.conf"

# Nothing yet: not an error.
expect_exit 0 q timeline db-outage
assert_contains "no records for incident db-outage"
expect_exit 0 q audit verify
assert_contains "intact: 0 records checked"

# The incident: five commands, one of them rejected everywhere; and one without.
expect_exit 0 q ping --incident db-outage
expect_exit 0 q maintenance on --message "Checkout is degraded | back soon" \
	--reason "INC-7 db failover" --incident db-outage
expect_exit 0 env QUELL_INCIDENT=db-outage "$BIN/quell" flag checkout off
expect_exit 0 q ping
expect_exit 1 q maintenance on nosuch --incident db-outage
expect_exit 0 q maintenance off --incident db-outage
mapfile -t ids < <(sqlite3 "$db" "SELECT lower(hex(job_id)) FROM jobs ORDER BY rowid")
((${#ids[@]} == 6)) || fail "expected 6 jobs in the store, found ${#ids[@]}"
other=${ids[3]}
incident_ids=("${ids[0]}" "${ids[1]}" "${ids[2]}" "${ids[4]}" "${ids[5]}")

json=$(q timeline db-outage --json) || fail "quell timeline --json exited $?"
ids_json=$(printf '%s\n' "${incident_ids[@]}" | jq -R . | jq -s .)
jq -e --arg other "$other" --argjson ids "$ids_json" '. as $t |
	.incident == "db-outage" and (.events | length) == 20
	# in order, every one of the incident, none of the other command
	and ([.events[].seq] | . == sort and . == unique)
	and ([.events[].job] | unique) == ($ids | sort)
	and all(.events[]; .job != $other)
	and all(.events[]; .at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"))
	and all(.events[]; .data | type == "object")
	# each job: one submit by the operator, then one result per host
	and all($ids[]; . as $j | [$t.events[] | select(.job == $j)] |
		length == 4 and .[0].kind == "submit" and .[0].actor == "oncall"
		and .[0].host == null and .[0].data.operator == "oncall" and .[0].data.job == $j
		and .[0].data.hosts == 3
		and ([.[1:][] | select(.kind == "result")] | length) == 3
		and ([.[1:][].host] | sort) == ["host-001", "host-002", "host-003"]
		and all(.[1:][]; .actor == .host and (.data.status | type) == "string"))
	# what was asked and what happened, as fields
	and ([.events[] | select(.kind == "submit" and .data.action == "maintenance"
		and .data.args.mode == "on" and .data.handle == "site")][0]
		| .data.args.message == "Checkout is degraded | back soon"
		and .data.reason == "INC-7 db failover" and .data.target == "all"
		and .data.dry_run == false)
	and ([.events[] | select(.kind == "result" and .data.status == "rejected"
		and .data.reason == "unknown-handle")] | length) == 3
	and ([.events[] | select(.kind == "result" and .data.status == "ok")] | length) == 12
' <<<"$json" >/dev/null || fail "unexpected timeline JSON:$NL$json"

# Text: one line per record, results indented.
expect_exit 0 q timeline db-outage
n=$(grep -c . <<<"$OUT")
((n == 20)) || fail "expected 20 lines, got $n:$NL$OUT"
assert_contains "  submit    oncall    ping target=all hosts=3"
assert_contains '  result  host-001  ok: pong'
assert_contains 'reason="INC-7 db failover"'
assert_contains "rejected: unknown-handle: "
assert_not_contains "$other"

# Markdown: heading, period and counts, a table with a job's results merged.
expect_exit 0 q timeline db-outage --markdown
assert_contains "## Timeline: db-outage"
assert_contains "20 records (5 submit, 15 result), "
assert_contains "| Time (UTC) | Event | Who | Details |"
assert_contains "| --- | --- | --- | --- |"
assert_contains '| result | 3 hosts | ok on 3 hosts: host-00'
assert_contains '| result | 3 hosts | rejected on 3 hosts: host-00'
assert_contains '| submit | oncall | maintenance site mode=on message="Checkout is degraded \| back soon"'
rows=$(grep -c '^| 2' <<<"$OUT")
((rows == 10)) || fail "expected 10 table rows (5 submits, 5 merged results):$NL$OUT"

# Another incident's timeline does not see these.
expect_exit 0 q ping --incident other-thing
expect_exit 0 q timeline other-thing --json
jq -e '(.events | length) == 4' <<<"$OUT" >/dev/null || fail "other-thing:$NL$OUT"

# Intact, and the head is the newest record's hash.
expect_exit 0 q audit verify
assert_contains "audit log intact: 28 records checked"
head=$(sqlite3 "$db" "SELECT lower(hex(hash)) FROM audit_log ORDER BY seq DESC LIMIT 1")
assert_contains "head: $head"

# One column of one row edited while the coordinator runs: named.
k=$(sqlite3 "$db" "SELECT seq FROM audit_log WHERE kind = 'submit' AND text LIKE 'maintenance site mode=on%'")
[[ -n "$k" ]] || fail "no maintenance-on submit in audit_log"
orig=$(sqlite3 "$db" "SELECT text FROM audit_log WHERE seq = $k")
sqlite3 "$db" "UPDATE audit_log SET text = 'maintenance site mode=off' WHERE seq = $k"
expect_exit 1 q audit verify
assert_contains "audit log BROKEN at record $k "
assert_contains "record $k (submit, "
assert_contains "changed after it was written"
expect_exit 1 q audit verify --json
jq -e --argjson k "$k" '.intact == false and .first_bad == $k and .records == 28
	and (.problem | contains("record \($k) (submit"))' <<<"$OUT" >/dev/null ||
	fail "unexpected verify JSON:$NL$OUT"
orig_sql=${orig//\'/\'\'}
sqlite3 "$db" "UPDATE audit_log SET text = '$orig_sql' WHERE seq = $k"
expect_exit 0 q audit verify

# The newest record removed: this coordinator still knows its head...
sqlite3 "$db" "DELETE FROM audit_log WHERE seq = 28"
expect_exit 1 q audit verify
assert_contains "the newest records were removed"
# ...a restarted one cannot tell from the log; only the kept head can.
crash_coordinator
expect_exit 0 q audit verify
assert_contains "audit log intact: 27 records checked"
assert_not_contains "head: $head"

# A record removed from the middle: the next one is named, and the gap.
sqlite3 "$db" "DELETE FROM audit_log WHERE seq = 10"
expect_exit 1 q audit verify
assert_contains "audit log BROKEN at record 11 "
assert_contains "follows record 9: record 10 was removed"

# More records than one reply holds (QL_MAX_TIMELINE_PAGE, 1000): the CLI
# pages through all of them, in order (commands ten at a time).
for ((round = 0; round < 26; round++)); do
	pids=()
	for ((i = 0; i < 10; i++)); do
		q ping --incident big >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "a ping for the big incident failed"; done
done
json=$(q timeline big --json) || fail "quell timeline big --json exited $?"
jq -e '(.events | length) == 1040 and ([.events[].seq] | . == sort and . == unique)
	and ([.events[] | select(.kind == "submit")] | length) == 260' <<<"$json" >/dev/null ||
	fail "the big timeline has $(jq '.events | length' <<<"$json") events, expected 1040 in order"
expect_exit 0 q timeline big --markdown
assert_contains "1040 records (260 submit, 780 result)"
pass
