# lib.sh: helpers for the integration tests, sourced by each test_*.sh. A
# test starts real binaries on loopback (usually a whole fleet through
# `./dev fleet`), runs the CLI the way an operator would, and checks exit
# codes, output and files on disk. Nothing here sleeps for a fixed time:
# waiting is polling with a deadline. ctest sets QUELL_BIN (and QUELL_ROOT).
#
#   fleet_up N                 coordinator + N agents in $FLEET; stopped and removed on exit
#   q ARGS...                  the quell CLI ($QUELL_CONFIG points at the fleet)
#   expect_exit CODE CMD...    run CMD, its output (stdout+stderr) in $OUT, exit status must be CODE
#   assert_contains STR        $OUT contains STR (a fixed string); assert_not_contains
#   assert_file_contains F STR / assert_no_file F
#   wait_until SECONDS CMD...  poll CMD every 0.1 s until it succeeds
#   restart_agent NAME [CMD...] stop agent NAME, run CMD (e.g. edit its config), start it again
#   free_port / port_listening PORT
#   on_exit CMD...             run CMD when the test ends (last registered runs first)
#   sanitizer_reports LOG...   in a cleanup: fail the test if a log holds a sanitizer report
#                              (fleet_up's cleanup does this for the fleet's logs)
#   crash_coordinator          kill -9 the coordinator, start it again, wait for every agent
#   stop_coordinator [SIG] / start_coordinator   the same in two steps
#   kill9_agent NAME           kill -9 one agent (start it with ./dev fleet start-agent)
#   remember_state [exact] HOST... / same_state WHAT [exact] HOST...
#                              what the verbs can change on fleet hosts, before and after
#   forge_agent HOST ALLOW [LABELS]  a standalone agent config for a test driving quell-forge
#   alertmanager_up WEBHOOK    the real Alertmanager posting to WEBHOOK; sets AMDIR, AM_URL
#                              (alertmanager_stop stops it early)
#   fail MSG / pass
#   skip MSG                   the test cannot run here (not root, a tool missing): exit 77,
#                              which ctest reports as skipped
set -euo pipefail

ROOT=${QUELL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=$(cd "${QUELL_BIN:?set QUELL_BIN to the directory holding quell, quell-agent, quell-coordinator}" && pwd)
export QUELL_BIN=$BIN
TEST_NAME=$(basename "$0" .sh)
OUT=
FLEET=
NL=$'\n'

fail() {
	printf 'FAIL %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

skip() {
	printf 'SKIP %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

# Reached the end; PASS is printed once the cleanups (which may still find
# sanitizer reports) are done.
_passed=0
pass() {
	_passed=1
}

# A failing command at the top level of a test says where it was.
trap 'echo "FAIL $TEST_NAME: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

_cleanups=()
on_exit() {
	_cleanups+=("$(printf '%q ' "$@")")
}
_run_cleanups() {
	_exit_rc=$?
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" || true
	done
	((_exit_rc != 0 || _passed == 0)) || echo "PASS $TEST_NAME"
	exit "$_exit_rc"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

wait_until() {
	local secs=$1 deadline
	shift
	deadline=$(($(_now_ms) + secs * 1000))
	until "$@"; do
		(($(_now_ms) < deadline)) || fail "gave up after ${secs}s waiting for: $*"
		sleep 0.1
	done
}

port_listening() {
	[[ -n "$(ss -Hltn "sport = :$1")" ]]
}

free_port() {
	local p
	while :; do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768)) # below the ephemeral ports (32768 up)
		[[ -n "$(ss -Htan "sport = :$p")" ]] || break
	done
	echo "$p"
}

# On failure, what the fleet's logs say, before the directory goes away.
_fleet_logs() {
	local log
	echo "--- $FLEET/coordinator.log (tail)" >&2
	tail -n 20 "$FLEET/coordinator.log" >&2 || true
	for log in "$FLEET"/hosts/*/agent.log; do
		grep -Eqs ' (error|warn): ' "$log" || continue
		echo "--- $log (errors and warnings)" >&2
		grep -E ' (error|warn): ' "$log" | tail -n 10 >&2
	done
}

# A sanitizer report in any daemon's log fails the test, even if everything
# the operator saw was right (the daemons have stopped, so leaks are in).
sanitizer_reports() {
	local hits
	hits=$(grep -lE '(ERROR|WARNING): (Address|Leak|Undefined|Thread)Sanitizer|runtime error:' "$@" \
		2>/dev/null) || return 0
	echo "FAIL $TEST_NAME: sanitizer reports in:$NL$hits" >&2
	grep -hE -A20 '(ERROR|WARNING): (Address|Leak|Undefined|Thread)Sanitizer|runtime error:' $hits | head -n 60 >&2
	_exit_rc=1
}

_fleet_down() {
	((_exit_rc == 0)) || _fleet_logs
	"$ROOT/dev" fleet stop "$FLEET" >/dev/null 2>&1 || true
	sanitizer_reports "$FLEET/coordinator.log" "$FLEET"/hosts/*/agent.log
	rm -rf "$FLEET"
}

fleet_up() {
	local out
	FLEET=$(mktemp -d "${TMPDIR:-/tmp}/quell-fleet.XXXXXX")
	on_exit _fleet_down
	out=$("$ROOT/dev" fleet start "$1" "$FLEET" 2>&1) ||
		fail "a fleet of $1 did not start:$NL$out"
	# shellcheck source=/dev/null
	. "$FLEET/env"
}

q() {
	"$BIN/quell" "$@"
}

expect_exit() {
	local want=$1 rc=0
	shift
	OUT=$("$@" 2>&1) || rc=$?
	((rc == want)) || fail "'$*' exited $rc, expected $want; its output:$NL$OUT"
}

assert_contains() {
	[[ "$OUT" == *"$1"* ]] || fail "expected the output to contain '$1'; it was:$NL$OUT"
}

assert_not_contains() {
	[[ "$OUT" != *"$1"* ]] || fail "expected the output not to contain '$1'; it was:$NL$OUT"
}

assert_file_contains() {
	[[ -f "$1" ]] || fail "expected $1 to exist"
	grep -qF -- "$2" "$1" || fail "expected $1 to contain '$2'; it has:$NL$(head -c 2000 "$1")"
}

assert_no_file() {
	[[ ! -e "$1" ]] || fail "expected no $1; it exists"
}

restart_agent() {
	local name=$1
	shift
	"$ROOT/dev" fleet stop-agent "$FLEET" "$name" || fail "could not stop $name"
	(($# == 0)) || "$@"
	"$ROOT/dev" fleet start-agent "$FLEET" "$name" || fail "could not start $name again"
}

# stop_coordinator [SIGNAL]: stop the fleet's coordinator (TERM, or e.g. KILL)
# and wait until it is gone; start_coordinator starts it again on the same
# config and state and waits for every agent; crash_coordinator does both
# with kill -9.
stop_coordinator() {
	local pid
	pid=$(awk '$1 == "coordinator" { print $2 }' "$FLEET/pids")
	[[ -n "$pid" ]] || fail "no coordinator recorded in $FLEET/pids"
	kill -"${1:-TERM}" "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	sed -i '/^coordinator /d' "$FLEET/pids"
}
start_coordinator() {
	local n
	"$BIN/quell-coordinator" -c "$FLEET/coordinator.conf" </dev/null \
		>>"$FLEET/coordinator.log" 2>&1 &
	echo "coordinator $!" >>"$FLEET/pids"
	n=$(ls "$FLEET/hosts" | wc -l)
	_all_back() { q agents 2>/dev/null | grep -q "^$n agents, $n connected"; }
	wait_until 30 _all_back
}
crash_coordinator() {
	stop_coordinator KILL
	start_coordinator
}

# kill9_agent NAME: kill -9 one agent (no clean shutdown of any kind); bring
# it back with `"$ROOT/dev" fleet start-agent "$FLEET" NAME`.
kill9_agent() {
	local pid
	pid=$(awk -v n="$1" '$1 == n { print $2 }' "$FLEET/pids")
	[[ -n "$pid" ]] || fail "no agent $1 recorded in $FLEET/pids"
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	sed -i "/^$1 /d" "$FLEET/pids"
}

# host_state NAME [exact]: everything a verb can change on a fleet host (the
# demo handles), as text: flag values (exact: the flag file's bytes), the
# release link, the maintenance page, cache instances, the worker's and the
# runaway's pid and state. remember_state HOST... keeps it; same_state WHAT
# [exact] HOST... fails naming the first host whose state differs.
host_state() {
	local h=$FLEET/hosts/$1
	if [[ "${2:-}" == exact ]]; then cat "$h/flags.json"; else jq -S -c . "$h/flags.json"; fi
	readlink "$h/app/current"
	cat "$h/www/maintenance.html" 2>/dev/null || echo "(no maintenance page)"
	if [[ -s "$h/state/instances/cache" ]]; then cat "$h/state/instances/cache"; else echo "(no cache instances)"; fi
	ps -o pid=,stat= -p "$(cat "$h/run/worker.pid")" | awk '{ print "worker", $1, substr($2, 1, 1) }'
	ps -o pid=,stat= -p "$(cat "$h/run/runaway.pid")" | awk '{ print "runaway", $1, substr($2, 1, 1) }'
}
declare -A _state
remember_state() {
	local mode=
	[[ "${1:-}" != exact ]] || { mode=exact; shift; }
	local h
	for h; do _state[$h]=$(host_state "$h" $mode); done
}
same_state() {
	local what=$1 mode= h now
	shift
	[[ "${1:-}" != exact ]] || { mode=exact; shift; }
	for h; do
		now=$(host_state "$h" $mode)
		[[ "$now" == "${_state[$h]}" ]] ||
			fail "$what: $h is not as it was:$NL--- before$NL${_state[$h]}$NL--- now$NL$now"
	done
}

# forge_agent HOSTNAME ALLOW [LABELS]: a standalone agent for a test that
# plays the coordinator itself (quell-forge serve). Sets $dir (removed on
# exit), $port and $url (where the forge listens), makes op.key (trusted as
# signer "oncall" for ALLOW) and agent.key, and writes $dir/agent.conf up to
# the signer; the test appends its handles. A test that starts the agent
# keeps its pid in $agent_pid, which is stopped on exit.
forge_agent() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/quell-$TEST_NAME.XXXXXX")
	agent_pid=
	on_exit _forge_agent_down
	port=$(free_port)
	url="tcp://127.0.0.1:$port"
	q keygen "$dir/op.key" >/dev/null
	q keygen "$dir/agent.key" >/dev/null
	mkdir -p "$dir/state"
	{
		printf '[agent]\nhostname = %s\n' "$1"
		[[ -z "${3:-}" ]] || printf 'labels = %s\n' "$3"
		printf 'coordinator = %s\nkey = %s\nstate_dir = %s\n' "$url" "$dir/agent.key" "$dir/state"
		printf '[signer oncall]\nkey_file = %s\nallow = %s\n' "$dir/op.key.pub" "$2"
	} >"$dir/agent.conf"
}
_forge_agent_down() {
	[[ -z "$agent_pid" ]] || { kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null; } || true
	sanitizer_reports "$dir"/agent*.log "$dir/serve.err"
	rm -rf "$dir"
}

# alertmanager_up WEBHOOK: the real Alertmanager on loopback (its own config
# and storage, no cluster gossip), one receiver "quell" whose webhook_configs
# entry is WEBHOOK (YAML lines, indented for the list: "      - url: ...");
# grouped at once, repeated hourly. Sets AMDIR and AM_URL; returns when it is
# ready; stopped on exit (its log's tail shown when the test failed).
alertmanager_up() {
	local am=/usr/bin/prometheus-alertmanager
	[[ -x "$am" ]] || fail "$am is missing (./dev deps installs prometheus-alertmanager)"
	AMDIR=$(mktemp -d "${TMPDIR:-/tmp}/quell-alertmanager.XXXXXX")
	on_exit rm -rf "$AMDIR"
	local port
	port=$(free_port)
	AM_URL=http://127.0.0.1:$port
	{
		printf 'route:\n  receiver: quell\n  group_by: [alertname]\n  group_wait: 1s\n'
		printf '  group_interval: 1s\n  repeat_interval: 1h\n'
		printf 'receivers:\n  - name: quell\n    webhook_configs:\n%s\n' "$1"
	} >"$AMDIR/alertmanager.yml"
	# --cluster.listen-address= : no gossip (it would bind 0.0.0.0:9094).
	"$am" --config.file="$AMDIR/alertmanager.yml" --storage.path="$AMDIR/data" \
		--web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
		</dev/null >"$AMDIR/alertmanager.log" 2>&1 &
	_am_pid=$!
	on_exit _alertmanager_down
	wait_until 30 _alertmanager_ready
}
_alertmanager_ready() {
	kill -0 "$_am_pid" 2>/dev/null || fail "alertmanager exited:$NL$(tail -n 20 "$AMDIR/alertmanager.log")"
	curl -sf "$AM_URL/-/ready" >/dev/null
}
# alertmanager_stop: stop it now (it is stopped on exit anyway).
alertmanager_stop() {
	kill "$_am_pid" 2>/dev/null && wait "$_am_pid" 2>/dev/null
	return 0
}
_alertmanager_down() {
	alertmanager_stop
	((_exit_rc == 0)) || { echo "--- alertmanager.log (tail)" >&2 && tail -n 20 "$AMDIR/alertmanager.log" >&2; }
	return 0
}
