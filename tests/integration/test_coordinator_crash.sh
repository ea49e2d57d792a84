#!/usr/bin/env bash
# kill -9 of the coordinator while a job is in flight: after a restart the
# job continues from its SQLite store and finishes; every host ends with one
# final status, and every agent acted exactly once (their audit logs).
. "$(dirname "$0")/lib.sh"
fleet_up 4
HOSTS=(host-001 host-002 host-003 host-004)

# A slow action on every host, counting its runs.
for h in "${HOSTS[@]}"; do
	add_slow() {
		cat >>"$FLEET/hosts/$1/agent.conf" <<CONF
[handle slow]
type = service
restart = /bin/sh -c "echo run >> $FLEET/hosts/$1/slow.count; exec /bin/sleep 3"
CONF
	}
	restart_agent "$h" add_slow "$h"
done

q restart slow --timeout 60 >"$FLEET/cli.out" 2>&1 &
cli=$!
started() {
	local h
	for h in "${HOSTS[@]}"; do [[ -s "$FLEET/hosts/$h/slow.count" ]] || return 1; done
}
wait_until 20 started
crash_coordinator
wait "$cli" || true # the CLI lost its coordinator; `quell job` (issue [3]) reattaches

db=$FLEET/coordinator/coordinator.db
done_now() { [[ "$(sqlite3 "$db" "SELECT state FROM jobs ORDER BY created_at DESC LIMIT 1")" == done ]]; }
wait_until 30 done_now
OUT=$(sqlite3 "$db" "SELECT hostname, status, detail FROM job_hosts WHERE job_id =
	(SELECT job_id FROM jobs ORDER BY created_at DESC LIMIT 1) ORDER BY hostname")
n_ok=$(grep -c '|ok|' <<<"$OUT" || true)
((n_ok == 4)) || fail "expected 4 hosts ok after the coordinator restart:$NL$OUT"
assert_contains "slow restarted"
assert_file_contains "$FLEET/coordinator.log" "resumed job"

# Each agent ran it once: one line in its counter, one 'ok' audit row for it.
for h in "${HOSTS[@]}"; do
	runs=$(wc -l <"$FLEET/hosts/$h/slow.count")
	((runs == 1)) || fail "$h ran the slow action $runs times"
	audited=$(sqlite3 "$FLEET/hosts/$h/state/agent.db" \
		"SELECT count(*) FROM audit WHERE action = 'restart' AND status = 'ok'")
	((audited == 1)) || fail "$h audited $audited runs"
done
pass
