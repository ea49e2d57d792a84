# shellcheck shell=bash disable=SC2317 # (poll calls the nested functions)
# bench/bench.sh: `./dev bench [--quick]`, sourced by ./dev (it uses dev's
# fleet functions). Figures, never asserts: what a mitigation costs in time,
# CPU and memory on this machine, next to parallel-ssh and clush measured in
# the same run. Writes bench/results.md and bench/results.json.
#
#   1. memory: one real, idle quell-agent with the demo handles;
#   2. fan-out to 100 real agent processes (the figure compared with ssh);
#   3. fan-out to 100, 1,000 and 10,000 agents run by the fleet simulator
#      (tests/sim), with the coordinator's CPU per job, its memory per
#      connected agent, and where the time goes (stage timestamps);
#   4. connect storm: every simulated agent reconnecting after a
#      coordinator restart;
#   5. the same mitigation through parallel-ssh and clush against a local
#      sshd (bench/peers.sh), and the ratios.
#
# Environment: BENCH_RUNS (timed runs per verb), BENCH_IDLE_S, BENCH_SIZES
# (simulated fleet sizes, e.g. "100 1000"), BENCH_STORM (agents in the
# connect storm), BENCH_PEERS_HOSTS.

BENCH_OUT=$ROOT/bench
BENCH_TMP=
BENCH_FLEETS=()

# bench_figure SECTION NAME VALUE UNIT [TARGET]: record and show one figure.
bench_figure() {
	jq -nc --arg s "$1" --arg n "$2" --arg v "$3" --arg u "$4" --arg t "${5:-}" \
		'{section: $s, name: $n, value: ($v | tonumber? // $v), unit: $u, target: $t}' \
		>>"$BENCH_TMP/figures.jsonl"
	printf '  %-66s %10s %-3s %s\n' "$2" "$3" "$4" "${5:+(target $5)}" >&2
}

# A "Vm..."/"Rss..." line of /proc/PID/status, in kB.
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# CPU ticks (user + system) a process has used so far.
proc_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}
# percentile P of the numbers on stdin (nearest rank)
percentile() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'; }
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }

bench_cleanup() {
	local d
	for d in "${BENCH_FLEETS[@]}"; do
		"$ROOT/dev" fleet stop "$d" >/dev/null 2>&1 || true
		rm -rf "$d" "/dev/shm/$(basename "$d")"
	done
	[[ -z "$BENCH_TMP" ]] || rm -rf "$BENCH_TMP"
}

# bench_fleet N: a fresh fleet (coordinator + N real agents) in a new dir;
# sets FLEET (and BIN for dev's fleet functions).
bench_fleet() {
	FLEET=$(mktemp -d "${TMPDIR:-/tmp}/quell-bench.XXXXXX")
	BENCH_FLEETS+=("$FLEET")
	BIN=$QUELL_BIN # dev's fleet_quell
	export BIN
	"$ROOT/dev" fleet start "$1" "$FLEET" >/dev/null 2>"$FLEET/start.log" ||
		die "could not start a fleet of $1; see $FLEET/start.log"
	fleet_load "$FLEET"
}

bench_fleet_done() {
	"$ROOT/dev" fleet stop "$FLEET" >/dev/null 2>&1 || true
	rm -rf "$FLEET" "/dev/shm/$(basename "$FLEET")"
}

# run_timed OUTFILE VERB...: the CLI against $FLEET; appends its wall time (ms).
run_timed() {
	local out=$1 t0 t1
	shift
	t0=$(now_us)
	fleet_quell "$@" >"$FLEET/last.out" 2>&1 ||
		die "quell $* failed during the bench: $(tail -n 3 "$FLEET/last.out")"
	t1=$(now_us)
	echo $(((t1 - t0) / 1000)) >>"$out"
	LAST_T0=$t0
	LAST_T1=$t1
}

# ---------------------------------------------------------------- 1. idle agent

bench_idle_agent() {
	local idle_s=$1 pid coord hz t0 t1
	say "bench: one idle agent (${idle_s}s)"
	bench_fleet 1
	pid=$(recorded_pid "$FLEET" host-001) || die "the agent did not stay up"
	coord=$(recorded_pid "$FLEET" coordinator) || die "the coordinator did not stay up"
	fleet_quell ping >/dev/null || die "ping failed"
	hz=$(getconf CLK_TCK)
	sleep 2 # let start-up settle before measuring "idle"
	t0=$(proc_ticks "$pid")
	sleep "$idle_s"
	t1=$(proc_ticks "$pid")
	bench_figure memory "agent idle RSS (demo handles, 1 coordinator)" \
		"$(proc_kb "$pid" VmRSS)" kB "< 3072 kB"
	bench_figure memory "agent private memory (RssAnon)" "$(proc_kb "$pid" RssAnon)" kB
	bench_figure memory "agent shared-library and binary pages (RssFile)" \
		"$(proc_kb "$pid" RssFile)" kB
	bench_figure memory "agent peak RSS" "$(proc_kb "$pid" VmHWM)" kB
	bench_figure memory "agent threads" "$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status")" ""
	bench_figure memory "agent CPU while idle for ${idle_s}s" "$(((t1 - t0) * 1000 / hz))" ms
	bench_figure memory "coordinator RSS, 1 agent" "$(proc_kb "$coord" VmRSS)" kB
	bench_fleet_done
}

# ---------------------------------------------------------------- 2. real agents

# Sets QUELL_REAL_MS: median of `maintenance on` to N real agents.
bench_real_fanout() {
	local n=$1 runs=$2 i verb f name
	say "bench: fan-out to $n real agent processes ($runs runs per verb)"
	bench_fleet "$n"
	for verb in ping on off; do : >"$FLEET/times.$verb"; done
	for ((i = 0; i < runs; i++)); do
		run_timed "$FLEET/times.ping" ping
		run_timed "$FLEET/times.on" maintenance on --message "bench"
		run_timed "$FLEET/times.off" maintenance off
	done
	for verb in ping on off; do
		f=$FLEET/times.$verb
		case $verb in on | off) name="maintenance $verb" ;; *) name=$verb ;; esac
		bench_figure "real agents" "quell $name, $n real agents: median" \
			"$(percentile 50 <"$f")" ms
		bench_figure "real agents" "quell $name, $n real agents: p99" \
			"$(percentile 99 <"$f")" ms
	done
	QUELL_REAL_MS=$(percentile 50 <"$FLEET/times.on")
	bench_fleet_done
}

# ---------------------------------------------------------------- 3. simulator

# Start quell-sim with N agents against $FLEET's coordinator; wait for all.
sim_start() {
	local n=$1 simdir t0 t1
	simdir=$FLEET/sim
	# Handle files on tmpfs when there is one: the bench measures quell, not the disk.
	[[ -d /dev/shm && -w /dev/shm ]] && simdir=/dev/shm/$(basename "$FLEET")
	SIMDIR=$simdir
	t0=$(now_us)
	# Mutual TLS, as a real fleet: a certificate per simulated agent from the fleet's CA.
	"$QUELL_BIN/quell-sim" -d "$simdir" -n "$n" -c "tls+tcp://127.0.0.1:$AGENT_PORT" \
		-s "$FLEET/operator.key.pub" -T "$FLEET/tls" -N "$COORD_CERT_NAME" \
		</dev/null >"$FLEET/sim.log" 2>&1 &
	SIM_PID=$!
	echo "sim $SIM_PID" >>"$FLEET/pids"
	sim_up() { alive "$SIM_PID" || return 0; all_connected "$n"; }
	poll 180 sim_up || die "not all $n simulated agents connected in 180 s"
	alive "$SIM_PID" || die "quell-sim exited: $(tail -n 3 "$FLEET/sim.log")"
	t1=$(now_us)
	SIM_START_MS=$(((t1 - t0) / 1000))
}

# Stage timestamps of the last run (LAST_T0, LAST_T1) from the simulator.
sim_stages() {
	local n=$1 verb=$2 f=$SIMDIR/stats.json
	rm -f "$f"
	kill -USR1 "$SIM_PID"
	poll 10 test -s "$f" || die "quell-sim wrote no stats"
	jq -c --argjson t0 "$LAST_T0" --argjson t1 "$LAST_T1" --argjson n "$n" --arg verb "$verb" '
		def ms(x): ((x * 10 | round) / 10000);
		{agents: $n, verb: $verb,
		 cli_to_first_agent_ms: ms(.received.min - $t0),
		 fan_out_first_to_last_ms: ms(.received.max - .received.min),
		 agent_check_median_us: .received_to_admitted.median,
		 agent_check_p99_us: .received_to_admitted.p99,
		 agent_queue_act_sign_median_ms: ms(.admitted_to_done.median),
		 result_to_sent_median_ms: ms(.done_to_sent.median),
		 last_result_sent_ms: ms(.sent.max - $t0),
		 cli_exit_ms: ms($t1 - $t0),
		 results_seen: .sent.count,
		 ed25519_sign_us: (.sign_ns / 1000), ed25519_verify_us: (.verify_ns / 1000)}' \
		"$f" >>"$BENCH_TMP/stages.jsonl"
}

bench_sim_fanout() {
	local n=$1 runs=$2 storm=$3 coord rss0 rss c0 c1 hz i f verb t0 t1
	say "bench: fan-out to $n simulated agents ($runs runs per verb)"
	bench_fleet 0
	coord=$(recorded_pid "$FLEET" coordinator) || die "the coordinator did not stay up"
	rss0=$(proc_kb "$coord" VmRSS)
	sim_start "$n"
	bench_figure "simulated agents" "start $n simulated agents until all are connected" \
		"$SIM_START_MS" ms
	rss=$(proc_kb "$coord" VmRSS)
	bench_figure memory "coordinator RSS, $n connected agents" "$rss" kB
	bench_figure memory "coordinator RSS per connected agent ($n; RSS / agents)" \
		"$((rss / n))" kB "< 20 kB"
	bench_figure memory "coordinator RSS growth per agent ($n; (RSS - RSS at 0) / agents)" \
		"$(((rss - rss0) / n))" kB
	hz=$(getconf CLK_TCK)
	: >"$FLEET/times.on"
	: >"$FLEET/times.off"
	c0=$(proc_ticks "$coord")
	for ((i = 0; i < runs; i++)); do
		run_timed "$FLEET/times.on" maintenance on --message "bench"
		run_timed "$FLEET/times.off" maintenance off
	done
	c1=$(proc_ticks "$coord")
	sim_stages "$n" "maintenance off"
	local target=
	((n == 1000)) && target="< 250 ms"
	((n == 10000)) && target="< 2000 ms"
	for verb in on off; do
		f=$FLEET/times.$verb
		bench_figure "simulated agents" "quell maintenance $verb, $n agents: median" \
			"$(percentile 50 <"$f")" ms "$target"
		bench_figure "simulated agents" "quell maintenance $verb, $n agents: p99" \
			"$(percentile 99 <"$f")" ms
	done
	bench_figure "simulated agents" "coordinator CPU per job, $n agents" \
		"$(((c1 - c0) * 1000 / hz / (2 * runs)))" ms
	if ((storm)); then
		bench_storm "$n" "$coord"
	fi
	bench_fleet_done
}

# ---------------------------------------------------------------- 4. connect storm

# Restart the coordinator under N connected agents; time until all are back.
bench_storm() {
	local n=$1 old=$2 pid t0 t1 s0
	say "bench: connect storm, $n agents"
	s0=$(now_us)
	stop_pids "$old"
	sed -i '/^coordinator /d' "$FLEET/pids"
	t0=$(now_us)
	# The agents back off while it is down (0.1 s doubling to 5 s, jittered).
	bench_figure "connect storm" "coordinator stop (TERM, $n agents connected)" \
		"$(((t0 - s0) / 1000))" ms
	"$QUELL_BIN/quell-coordinator" -c "$FLEET/coordinator.conf" </dev/null \
		>>"$FLEET/coordinator.log" 2>&1 &
	pid=$!
	echo "coordinator $pid" >>"$FLEET/pids"
	storm_done() { alive "$pid" || return 0; all_connected "$n"; }
	poll 180 storm_done || die "not all $n agents were back within 180 s of the restart"
	alive "$pid" || die "the restarted coordinator exited"
	t1=$(now_us)
	bench_figure "connect storm" "$n agents back in the inventory after a coordinator restart" \
		"$(((t1 - t0) / 1000))" ms
}

# ---------------------------------------------------------------- 5. ssh peers

bench_peers() {
	local hosts=$1 runs=$2 line tool median ratio
	say "bench: parallel-ssh and clush against a local sshd ($hosts hosts, $runs runs)"
	install_missing "${BENCH_DEPS[@]}"
	bash "$ROOT/bench/peers.sh" "$hosts" "$runs" >"$BENCH_TMP/peers.jsonl" ||
		die "bench/peers.sh failed"
	while read -r line; do
		tool=$(jq -r .tool <<<"$line")
		median=$(jq -r .median_ms <<<"$line")
		bench_figure peers "$tool, maintenance file on $hosts hosts: median" "$median" ms
		bench_figure peers "$tool: hosts that succeeded (worst run)" \
			"$(jq -r .ok_hosts <<<"$line")" ""
		ratio=$(awk -v a="$median" -v b="$QUELL_REAL_MS" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 1) }')
		bench_figure peers "$tool time / quell time (100 real agents)" "$ratio" x "≥ 20 x"
	done <"$BENCH_TMP/peers.jsonl"
}

# ---------------------------------------------------------------- results

bench_machine() {
	jq -n --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		--arg cores "$(nproc)" \
		--arg mem "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" \
		--arg kernel "$(uname -r)" \
		--arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
		'{cpu: $cpu, cores: ($cores | tonumber), memory_kb: ($mem | tonumber),
		  kernel: $kernel, os: $os}'
}

bench_write_results() {
	local quick=$1 json=$BENCH_OUT/results.json md=$BENCH_OUT/results.md
	local commit
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	# Uncommitted changes (other than earlier results) are worth a mention.
	git -C "$ROOT" diff --quiet HEAD -- . ':!bench/results.md' ':!bench/results.json' \
		2>/dev/null || commit="$commit+changes"
	jq -n --arg date "$(date -u +%FT%TZ)" --arg commit "$commit" \
		--argjson quick "$quick" --argjson machine "$(bench_machine)" \
		--slurpfile figures "$BENCH_TMP/figures.jsonl" \
		--slurpfile stages "$BENCH_TMP/stages.jsonl" \
		--slurpfile peers "$BENCH_TMP/peers.jsonl" \
		'{date: $date, commit: $commit, quick: $quick, machine: $machine,
		  figures: $figures, stages: $stages, peers: $peers}' >"$json.tmp"
	mv "$json.tmp" "$json"
	jq -r '
		def row(c): "| " + (c | map(tostring) | join(" | ")) + " |";
		"# quell bench results",
		"",
		"\(.date), commit \(.commit)\(if .quick then ", **quick run** (`./dev bench --quick`)" else "" end).",
		"Machine: \(.machine.cpu), \(.machine.cores) cores, \(.machine.memory_kb / 1048576 | . * 10 | round / 10) GiB, \(.machine.os), kernel \(.machine.kernel).",
		"Reproduce: `./dev bench` (or `./dev bench --quick`). Figures, not assertions.",
		"",
		"| section | figure | value | target |",
		"| --- | --- | ---: | --- |",
		(.figures[] | row([.section, .name, "\(.value) \(.unit)", .target])),
		"",
		"## Where the time goes (stage timestamps from the simulator, last run)",
		"",
		"All agents share this machine'"'"'s 2 cores with the coordinator, so the agent-side",
		"stages include waiting for CPU; on a real fleet each agent has its own.",
		"",
		"| agents | verb | CLI start to first agent has it | first to last agent has it | agent check (verify, policy, store) median | agent queue + act + record + sign median | result signed to sent median | last result sent | CLI exits | ed25519 sign / verify |",
		"| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
		(.stages[] | row([.agents, .verb, "\(.cli_to_first_agent_ms) ms",
			"\(.fan_out_first_to_last_ms) ms", "\(.agent_check_median_us) µs",
			"\(.agent_queue_act_sign_median_ms) ms", "\(.result_to_sent_median_ms) ms",
			"\(.last_result_sent_ms) ms", "\(.cli_exit_ms) ms",
			"\(.ed25519_sign_us) / \(.ed25519_verify_us) µs"])),
		"",
		"## Peers (same run, same machine)",
		"",
		"| tool | version | hosts | runs | median | p99 | hosts ok |",
		"| --- | --- | ---: | ---: | ---: | ---: | ---: |",
		(.peers[] | row([.tool, .version, .hosts, .runs, "\(.median_ms) ms", "\(.p99_ms) ms", .ok_hosts]))
	' "$json" >"$md"
}

bench_main() {
	local quick=false
	case "${1:-}" in
	"") ;;
	--quick) quick=true ;;
	*) die "usage: ./dev bench [--quick]" ;;
	esac
	local runs idle sizes storm peers_hosts peers_runs real_runs
	if [[ $quick == true ]]; then
		runs=${BENCH_RUNS:-3} idle=${BENCH_IDLE_S:-5} sizes=${BENCH_SIZES:-"100 1000"}
		storm=${BENCH_STORM:-1000} real_runs=${BENCH_RUNS:-5} peers_runs=2
	else
		runs=${BENCH_RUNS:-5} idle=${BENCH_IDLE_S:-20} sizes=${BENCH_SIZES:-"100 1000 10000"}
		storm=${BENCH_STORM:-10000} real_runs=${BENCH_RUNS:-20} peers_runs=5
	fi
	peers_hosts=${BENCH_PEERS_HOSTS:-100}
	cmd_build release >&2
	install_missing "${BENCH_DEPS[@]}"
	export QUELL_BIN=$ROOT/build/release/bin
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/quell-bench-out.XXXXXX")
	: >"$BENCH_TMP/figures.jsonl"
	: >"$BENCH_TMP/stages.jsonl"
	: >"$BENCH_TMP/peers.jsonl"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	local started n
	started=$(now_us)

	bench_idle_agent "$idle"
	bench_real_fanout 100 "$real_runs"
	for n in $sizes; do
		bench_sim_fanout "$n" "$runs" "$((n == storm))"
	done
	bench_peers "$peers_hosts" "$peers_runs"

	bench_figure bench "bench wall time" "$((($(now_us) - started) / 1000000))" s
	bench_write_results "$quick"
	cat "$BENCH_OUT/results.md"
	say "wrote $BENCH_OUT/results.md and $BENCH_OUT/results.json"
}
