#!/usr/bin/env bash
# `quell pause` / `quell resume` on the fleet's worker (its own session, so
# SIGSTOP/SIGCONT go to its process group): after pause the kernel shows it
# stopped (ps state T), after resume running again; a dry run changes
# nothing. A pause_file worker gets its file created and removed.
. "$(dirname "$0")/lib.sh"
fleet_up 2

state() { ps -o stat= -p "$1" | tr -d ' '; }
stopped() { [[ "$(state "$1")" == T* ]]; }
not_stopped() { local s; s=$(state "$1") && [[ -n "$s" && "$s" != T* ]]; }

w1=$(cat "$FLEET/hosts/host-001/run/worker.pid")
w2=$(cat "$FLEET/hosts/host-002/run/worker.pid")
not_stopped "$w1" && not_stopped "$w2" || fail "the fleet's workers are not running"

expect_exit 0 q pause worker -n
assert_contains "would send STOP"
not_stopped "$w1" || fail "a dry run stopped the worker"

expect_exit 0 q pause worker
assert_contains "2 ok"
assert_contains "state T"
# The agent checked the state before answering: no waiting needed here.
stopped "$w1" || fail "worker $w1 is '$(state "$w1")' after pause, expected T"
stopped "$w2" || fail "worker $w2 is '$(state "$w2")' after pause, expected T"

# Pausing again is harmless.
expect_exit 0 q pause worker -t host=host-001
stopped "$w1" || fail "worker $w1 is not stopped after a second pause"

expect_exit 0 q resume worker
assert_contains "2 ok"
assert_contains "running again"
not_stopped "$w1" || fail "worker $w1 is '$(state "$w1")' after resume"
not_stopped "$w2" || fail "worker $w2 is '$(state "$w2")' after resume"

# A worker that is not running: pause has nothing to do, resume cannot help.
H2=$FLEET/hosts/host-002
add_idle_worker() {
	cat >>"$H2/agent.conf" <<EOF
[handle idle]
type = worker
pidfile = $H2/run/idle.pid
[handle filed]
type = worker
pause_file = $H2/run/paused
EOF
}
restart_agent host-002 add_idle_worker
pings() { q ping -t host=host-002 >/dev/null 2>&1; }
wait_until 20 pings
expect_exit 0 q pause idle -t host=host-002
assert_contains "nothing to pause"
expect_exit 1 q resume idle -t host=host-002
assert_contains "nothing to resume"

# pause_file mode: the file the worker checks comes and goes.
expect_exit 0 q pause filed -t host=host-002
assert_file_contains "$H2/run/paused" "paused by quell"
expect_exit 0 q resume filed -t host=host-002
assert_no_file "$H2/run/paused"
pass
