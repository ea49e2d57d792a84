#!/usr/bin/env bash
# `./dev fleet stop` leaves nothing behind: the agents and coordinator, the
# demo runaway and worker (also a paused worker), and the cache instances
# the agents started (memcached, in their own sessions).
. "$(dirname "$0")/lib.sh"
fleet_up 2

pids=()
for h in host-001 host-002; do
	pids+=("$(cat "$FLEET/hosts/$h/run/runaway.pid")" "$(cat "$FLEET/hosts/$h/run/worker.pid")")
done
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
[[ "$(cmdline "${pids[0]}")" == "quell-demo-runaway-host-001 86400.$(<"$FLEET/tag") " ]] ||
	fail "runaway cmdline: $(cmdline "${pids[0]}")"

expect_exit 0 q scale cache 2
expect_exit 0 q pause worker -t host=host-001
for f in "$FLEET"/hosts/*/state/instances/cache; do
	while read -r _ port pid _; do
		port_listening "$port" || fail "no cache instance listens on $port"
		pids+=("$pid")
	done <"$f"
done
((${#pids[@]} == 8)) || fail "expected 8 demo processes, found ${#pids[*]}: ${pids[*]}"

"$ROOT/dev" fleet stop "$FLEET" || fail "fleet stop failed"
gone() {
	local p stat
	for p in "${pids[@]}"; do
		read -r stat 2>/dev/null <"/proc/$p/stat" || continue
		stat=${stat##*) }
		[[ "${stat%% *}" == Z ]] || return 1
	done
}
gone || fail "still running after fleet stop: $(ps -o pid,stat,args -p "${pids[*]// /,}" || true)"
pass
