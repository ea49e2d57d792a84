#!/usr/bin/env bash
# `quell kill` as an operator sees it: the fleet's runaway process dies on
# every host, a second run finds nothing and still succeeds, a process that
# ignores SIGTERM is SIGKILLed after the handle's grace, and a handle whose
# matcher would hit pid 1 or the agent itself is refused before anything is
# signalled.
. "$(dirname "$0")/lib.sh"
fleet_up 2

# gone PID: no such process, or only a zombie left.
gone() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[[ "${stat:0:1}" == Z ]]
}
running() { ! gone "$1"; }
# A process of this test's own: killed at the end if it is still there.
forget() { disown "$1" 2>/dev/null || true; on_exit kill_quietly "$1"; }
kill_quietly() { kill -9 "$1" 2>/dev/null || true; }

r1=$(cat "$FLEET/hosts/host-001/run/runaway.pid")
r2=$(cat "$FLEET/hosts/host-002/run/runaway.pid")
running "$r1" && running "$r2" || fail "the fleet's runaways are not running"
# The runaway's own arguments (e.g. "86400"), so a look-alike matches the same handle.
runaway_args=$(tr '\0' ' ' <"/proc/$r1/cmdline")
runaway_args=${runaway_args#* }
runaway_args=${runaway_args% }

# A dry run names the pid and signals nothing.
expect_exit 0 q kill runaway -n
assert_contains "would send TERM to"
assert_contains "$r1"
running "$r1" && running "$r2" || fail "a dry run killed something"

expect_exit 0 q kill runaway
assert_contains "2 ok"
assert_contains "$r1 (TERM)"
assert_contains "$r2 (TERM)"
wait_until 10 gone "$r1"
wait_until 10 gone "$r2"

# Again: nothing left, which is what the operator wanted, so success.
expect_exit 0 q kill runaway
assert_contains "2 ok"
assert_contains "no process matched"

# A runaway that ignores SIGTERM: KILL after the handle's grace (2 s).
bash -c 'trap "" TERM; exec -a quell-demo-runaway-host-001 /bin/sleep $0' "$runaway_args" \
	</dev/null >/dev/null 2>&1 &
stubborn=$!
forget "$stubborn"
execed() { grep -q quell-demo-runaway "/proc/$stubborn/cmdline" 2>/dev/null; }
wait_until 10 execed
t0=$SECONDS
expect_exit 0 q kill runaway -t host=host-001
assert_contains "$stubborn (KILL after 2s)"
((SECONDS - t0 >= 2)) || fail "KILL came before the grace period was over"
wait_until 10 gone "$stubborn"

# --signal and --grace override the handle's; the grace still bounds the wait.
bash -c 'trap "" TERM INT; exec -a quell-demo-runaway-host-002 /bin/sleep $0' "$runaway_args" \
	</dev/null >/dev/null 2>&1 &
stubborn2=$!
forget "$stubborn2"
execed2() { grep -q quell-demo-runaway "/proc/$stubborn2/cmdline" 2>/dev/null; }
wait_until 10 execed2
expect_exit 0 q kill runaway -t host=host-002 --signal INT --grace 0
assert_contains "$stubborn2 (KILL after 0s)"
wait_until 10 gone "$stubborn2"

# Handles that would hit the agent itself or pid 1: refused, nothing signalled.
H2=$FLEET/hosts/host-002
agent_exe=$(readlink -f "$BIN/quell-agent")
add_dangerous_handles() {
	echo 1 >"$H2/run/init.pid"
	cat >>"$H2/agent.conf" <<EOF
[handle agents]
type = process
match_exe = $agent_exe
[handle init]
type = process
pidfile = $H2/run/init.pid
signal = KILL
EOF
}
restart_agent host-002 add_dangerous_handles
agent1=$(awk '$1 == "host-001" { print $2 }' "$FLEET/pids")
running "$agent1" || fail "cannot find host-001's agent in $FLEET/pids"
pings() { q ping -t host=host-002 >/dev/null 2>&1; }
wait_until 20 pings
for handle in agents init; do
	expect_exit 1 q kill "$handle" -t host=host-002
	assert_contains "denied"
	assert_contains "refused"
done
assert_contains "init (pid 1)"
# The other agent, which the match_exe handle also matches, was not touched.
running "$agent1" || fail "host-001's agent died: the refused kill signalled it"
expect_exit 0 q ping
assert_contains "2 ok"
pass
