#!/usr/bin/env bash
# At most once, across a crash: the agent is killed with SIGKILL while a
# slow restart runs (its command counts its runs in a file), started again,
# and the coordinator (quell-forge serve) redelivers the same signed
# command. The agent must not run it a second time; it answers "failed
# interrupted" (the effect is unknown, so an operator has to look), and a
# further redelivery gets that same recorded answer.
. "$(dirname "$0")/lib.sh"
forge_agent crash-1 restart:slow
serve_pid=
cleanup() {
	[[ -z "$serve_pid" ]] || kill "$serve_pid" 2>/dev/null || true
	# The slow command runs in its own session and outlives the agent: ours to stop.
	local pid
	pid=$(cat "$dir/child.pid" 2>/dev/null) && kill "$pid" 2>/dev/null || true
}
on_exit cleanup # runs before forge_agent's own clean-up (the last registered runs first)

# Config-defined argv may use sh; operator input never becomes argv.
cat >>"$dir/agent.conf" <<CONF
[handle slow]
type = service
restart = /bin/sh -c "echo \$\$ > $dir/child.pid; echo run >> $dir/counter; exec /bin/sleep 5"
timeout = 30
CONF

F="$BIN/quell-forge"
"$F" sign --key "$dir/op.key" --out "$dir/restart" --action restart --handle slow >/dev/null
# Delivered again and again: the run we interrupt, the redelivery after the
# crash, more to see the recorded answer. (The agent polls on several
# contexts, so the killed agent may have taken one more copy with it.)
"$F" serve --listen "$url" --wait 60 "$dir/restart" "$dir/restart" "$dir/restart" "$dir/restart" \
	"$dir/restart" >"$dir/answers" 2>"$dir/serve.err" &
serve_pid=$!
wait_until 10 port_listening "$port"

"$BIN/quell-agent" -c "$dir/agent.conf" 2>"$dir/agent1.log" &
agent_pid=$!
lines() { [[ -f "$1" ]] && (($(wc -l <"$1") >= $2)); }
wait_until 20 lines "$dir/counter" 1
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=

"$BIN/quell-agent" -c "$dir/agent.conf" 2>"$dir/agent2.log" &
agent_pid=$!
has() { grep -q "$2" "$1" 2>/dev/null; }
wait_until 30 has "$dir/answers" "^failed interrupted duplicate "

OUT=$(cat "$dir/answers")
first=$(grep -n "^failed interrupted first " "$dir/answers" | head -n 1 | cut -d: -f1)
dup=$(grep -n "^failed interrupted duplicate " "$dir/answers" | head -n 1 | cut -d: -f1)
[[ -n "$first" && "$first" -lt "$dup" ]] ||
	fail "expected 'failed interrupted first', then the recorded answer; got:$NL$OUT"
! grep -q "^ok " "$dir/answers" || fail "the interrupted job was answered ok:$NL$OUT"
assert_contains "not run again"
n=$(wc -l <"$dir/counter")
((n == 1)) || fail "the restart command ran $n times, expected once"
assert_file_contains "$dir/agent2.log" "interrupted"
pass
