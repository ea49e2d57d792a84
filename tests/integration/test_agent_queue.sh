#!/usr/bin/env bash
# The agent's bounded queue: a compromised or overeager coordinator that
# pushes commands faster than the host can act gets "busy" answers, not an
# agent that grows without bound; every command is answered exactly once,
# and a job refused as busy runs when it is delivered again later.
. "$(dirname "$0")/lib.sh"
forge_agent web-1 "*"
cat >> "$dir/agent.conf" <<CONF
[handle slow]
type = service
restart = /bin/sleep 2
[handle slower]
type = service
restart = /bin/sleep 5
CONF

F="$BIN/quell-forge"
"$F" sign --key "$dir/op.key" --out "$dir/slow" --action restart --handle slow >/dev/null
files=("$dir/slow")
for i in $(seq 1 19); do
	"$F" sign --key "$dir/op.key" --out "$dir/ping$i" --action ping >/dev/null
	files+=("$dir/ping$i")
done

"$F" serve --all-at-once --listen "$url" "${files[@]}" >"$dir/answers" 2>"$dir/serve.err" &
serve_pid=$!
wait_until 10 port_listening "$port"
"$BIN/quell-agent" -c "$dir/agent.conf" 2>"$dir/agent.log" &
agent_pid=$!
wait "$serve_pid" || { cat "$dir/serve.err"; fail "forged coordinator failed"; }

OUT=$(cat "$dir/answers")
busy=$(grep -c '^rejected busy ' "$dir/answers" || true)
ok=$(grep -c '^ok ' "$dir/answers" || true)
((busy >= 1)) || fail "expected at least one busy answer with 20 commands and a queue of 16:$NL$OUT"
((busy + ok == 20)) || fail "expected 20 answers, ok or busy:$NL$OUT"
assert_file_contains "$dir/agent.log" "queue full"

# Busy jobs are not recorded: delivered again, exactly those run now, and
# every other job is answered from the store without running again.
kill "$agent_pid" && wait "$agent_pid" || true
agent_pid=
"$F" serve --listen "$url" "${files[@]}" >"$dir/again" 2>>"$dir/serve.err" &
serve_pid=$!
wait_until 10 port_listening "$port"
"$BIN/quell-agent" -c "$dir/agent.conf" 2>>"$dir/agent.log" &
agent_pid=$!
wait "$serve_pid" || { cat "$dir/serve.err"; fail "forged coordinator failed"; }
OUT=$(cat "$dir/again")
ran=$(grep -c '^ok - first' "$dir/again" || true)
dups=$(grep -c '^ok - duplicate' "$dir/again" || true)
((ran == busy && dups == 20 - busy)) ||
	fail "expected $busy jobs to run now and $((20 - busy)) duplicates:$NL$OUT"

# A command that expires while it waits behind a slow one never runs.
kill "$agent_pid" && wait "$agent_pid" || true
agent_pid=
sed -i 's/^state_dir = .*/&\nclock_skew = 0/' "$dir/agent.conf"
# (Lifetimes are whole seconds from signing, and the agent starts after it:
# 3 s leaves the ping alive when it arrives, the 5 s restart outlives it.)
"$F" sign --key "$dir/op.key" --out "$dir/slow2" --action restart --handle slower >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/brief" --lifetime 3 --action ping >/dev/null
"$F" serve --all-at-once --listen "$url" "$dir/slow2" "$dir/brief" >"$dir/late" 2>>"$dir/serve.err" &
serve_pid=$!
wait_until 10 port_listening "$port"
"$BIN/quell-agent" -c "$dir/agent.conf" 2>>"$dir/agent.log" &
agent_pid=$!
wait "$serve_pid" || { cat "$dir/serve.err"; fail "forged coordinator failed"; }
OUT=$(cat "$dir/late")
assert_contains "rejected expired first command expired while it waited"
pass
