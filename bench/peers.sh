#!/usr/bin/env bash
# bench/peers.sh: the "peer tools" side of the fleet benchmark.
#
# Pushes one mitigation ("write a maintenance file on every host") to HOSTS
# loopback "hosts" through parallel-ssh (pssh) and through clush
# (ClusterShell), both talking to a private sshd that this script starts on
# 127.0.0.1, and times each run.  The quell side and the ratios live
# elsewhere; this script only measures the two peers.
#
# Usage: bench/peers.sh [HOSTS] [RUNS]
#   HOSTS  number of loopback "hosts" h1..hHOSTS       (default 100, max 1000)
#   RUNS   timed runs per tool, after one untimed warm-up (default 5)
#
# stdout: exactly one JSON object per tool, one per line, e.g.
#   {"tool":"parallel-ssh","version":"2.3.4","hosts":100,"runs":5,
#    "median_ms":812,"p99_ms":905,"min_ms":790,"ok_hosts":100}
# (wall time per run in ms; median and p99 by nearest rank; ok_hosts is the
# minimum, over the timed runs, of hosts whose maintenance file was verified).
# Everything else (progress, diagnostics) goes to stderr.
#
# Optional: PEERS_SSH_KEX=curve25519-sha256 (any ssh KexAlgorithms value) pins
# the key exchange.  Unset, ssh and sshd keep OpenSSH's defaults, which on
# OpenSSH 9.x means sntrup761x25519-sha512: its client-side key generation
# is most of the CPU a connection costs here.
#
# Needs root (it runs sshd and may apt-get install openssh-server,
# openssh-client, pssh, clustershell, jq).  It never touches ~/.ssh, /etc/ssh
# or the system ssh service; it only ever kills the sshd it started itself.
set -euo pipefail
# System tools first (this machine's PATH starts with pyenv and cargo shims):
# pssh runs "ssh" from PATH, and both tools must use the same /usr/bin/ssh.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

HOSTS=${1:-100}
RUNS=${2:-5}
KEX=${PEERS_SSH_KEX:-}
MSG='down for maintenance'   # content of every maintenance file (plus "\n")

log() { printf 'peers: %s\n' "$*" >&2; }
die() { printf 'peers: error: %s\n' "$*" >&2; exit 1; }

if ! [[ $HOSTS =~ ^[1-9][0-9]*$ ]] || ((HOSTS > 1000)); then
    die "HOSTS must be an integer in 1..1000 (got '$HOSTS')"
fi
if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
    die "RUNS must be a positive integer (got '$RUNS')"
fi
((EUID == 0)) || die "must run as root (it starts an sshd that logs in as root)"

# --------------------------------------------------------------------------
# Packages.  Map each binary we need to the Debian package that ships it and
# install whatever is missing.  /usr/sbin/policy-rc.d ("exit 101") keeps the
# openssh-server postinst from starting the system sshd; we rely on that and
# never start or stop the system service ourselves.
# --------------------------------------------------------------------------
declare -A PKG_OF=(
    [/usr/sbin/sshd]=openssh-server
    [/usr/bin/ssh]=openssh-client
    [/usr/bin/ssh-keygen]=openssh-client
    [/usr/bin/parallel-ssh]=pssh
    [/usr/bin/clush]=clustershell
    [/usr/bin/jq]=jq
    [/usr/bin/ss]=iproute2
    [/usr/bin/ps]=procps
)
missing=()
for bin in "${!PKG_OF[@]}"; do
    pkg=${PKG_OF[$bin]}
    if [[ ! -x $bin && " ${missing[*]} " != *" $pkg "* ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    log "installing packages: ${missing[*]}"
    apt_install() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y \
            --no-install-recommends "${missing[@]}" >&2
    }
    if ! apt_install; then
        log "install failed; running apt-get update and retrying"
        apt-get update >&2
        apt_install || die "could not install: ${missing[*]}"
    fi
fi
for bin in "${!PKG_OF[@]}"; do
    [[ -x $bin ]] || die "$bin still missing (package ${PKG_OF[$bin]})"
done
PSSH=/usr/bin/parallel-ssh
CLUSH=/usr/bin/clush

# --------------------------------------------------------------------------
# Scratch directory and cleanup.  Everything we create lives in $TMP; on exit
# (normal, error or signal) we kill our sshd by its PID, then its remaining
# per-connection children by their PIDs, and remove $TMP.
# --------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/quell-peers.XXXXXX")
chmod 0700 "$TMP"
SSHD_PID=

cleanup() {
    local rc=$? kids i k
    trap - EXIT
    if [[ -n $SSHD_PID ]] && kill -0 "$SSHD_PID" 2>/dev/null; then
        kids=$(ps -o pid= --ppid "$SSHD_PID" || true)
        kill -TERM "$SSHD_PID" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do   # up to 5 s, then SIGKILL
            kill -0 "$SSHD_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SSHD_PID" 2>/dev/null || true
        wait "$SSHD_PID" 2>/dev/null || true
        for k in $kids; do kill -TERM "$k" 2>/dev/null || true; done
    fi
    if ((rc != 0)) && [[ -s $TMP/sshd.log ]]; then
        log "last lines of our sshd log:"
        tail -n 20 "$TMP/sshd.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The path ends up unquoted in ssh_config, clush -o and the remote command.
[[ $TMP =~ ^[A-Za-z0-9/._-]+$ ]] ||
    die "scratch dir '$TMP' has unsafe characters (check TMPDIR)"

# Raise the open-file limit (for sshd, the ssh clients and the tools) as far
# as the hard limit allows, up to 65536.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard > 65536)); then hard=65536; fi
ulimit -n "$hard"

# Keep the environment from changing the tools' behaviour: pssh reads PSSH_*
# variables, ssh would talk to an agent.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^PSSH_' || true)
unset SSH_AUTH_SOCK SSH_AGENT_PID

# --------------------------------------------------------------------------
# Keys and a free port.
# --------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C quell-peers-host -f "$TMP/host_key"
ssh-keygen -q -t ed25519 -N '' -C quell-peers-client -f "$TMP/client_key"
cp "$TMP/client_key.pub" "$TMP/authorized_keys"

port_free() { [[ -z $(ss -Hltn "sport = :$1") ]]; }
PORT=
for ((p = 22000; p < 23000; p++)); do
    if port_free "$p"; then PORT=$p; break; fi
done
[[ -n $PORT ]] || die "no free TCP port in 22000..22999"
# A second free port with nothing listening: used to show that the tools
# really go through our ssh_config (pointing them there must fail).
BAD_PORT=
for ((p = PORT + 1; p < 23000; p++)); do
    if port_free "$p"; then BAD_PORT=$p; break; fi
done
[[ -n $BAD_PORT ]] || die "no second free TCP port in 22000..22999"

# --------------------------------------------------------------------------
# Our own sshd.
# StrictModes is off: it checks every directory from the AuthorizedKeysFile
# up to /, and /tmp is world-writable (sticky), so sshd would refuse the key.
# $TMP itself is root-owned 0700, so nobody else can plant a key there.
# MaxStartups 1000: the default 10:30:100 starts dropping 30% of new
# connections once 10 are unauthenticated, i.e. on any burst of 100.
# SetEnv HOME: sshd runs each command through root's login shell, and bash
# started by sshd sources ~/.bashrc even when non-interactive.  A developer
# root .bashrc (pyenv init, cargo env, ...) costs ~100 ms and a dozen forks
# per host, which is about this machine, not about the tools; pointing HOME
# at an empty directory gives every "host" a clean shell.  PermitUserRC no:
# no ~/.ssh/rc either.
# --------------------------------------------------------------------------
mkdir -m 0700 "$TMP/home"
cat >"$TMP/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $TMP/host_key
PidFile $TMP/sshd.pid
AuthorizedKeysFile $TMP/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
UseDNS no
MaxStartups 1000
MaxSessions 1000
AcceptEnv QUELL_HOST
SetEnv HOME=$TMP/home
PermitUserRC no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
LogLevel INFO
EOF

# sshd needs its privilege-separation directory; the package normally has
# systemd create it at boot.  It is the standard empty root-owned directory,
# so we create it if absent and leave it (another sshd may use it later).
[[ -d /run/sshd ]] || install -d -m 0755 -o root -g root /run/sshd

/usr/sbin/sshd -t -f "$TMP/sshd_config" || die "sshd rejected its config"
/usr/sbin/sshd -D -e -f "$TMP/sshd_config" </dev/null >"$TMP/sshd.log" 2>&1 &
SSHD_PID=$!
log "sshd pid $SSHD_PID on 127.0.0.1:$PORT (scratch dir $TMP)"

# --------------------------------------------------------------------------
# Client side: known_hosts holding our host key (so ssh verifies it really
# talks to our sshd), and an ssh_config with hosts h1..hN, each telling the
# remote side its name through SetEnv QUELL_HOST.  ssh -F ignores ~/.ssh and
# /etc/ssh/ssh_config.
# --------------------------------------------------------------------------
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$TMP/host_key.pub")" \
    >"$TMP/known_hosts"

write_ssh_config() { # FILE PORT
    local k
    {
        for ((k = 1; k <= HOSTS; k++)); do
            printf 'Host h%d\n    SetEnv QUELL_HOST=h%d\n' "$k" "$k"
        done
        cat <<EOF
Host h*
    HostName 127.0.0.1
    Port $2
    User root
    IdentityFile $TMP/client_key
    IdentitiesOnly yes
    IdentityAgent none
    PreferredAuthentications publickey
    BatchMode yes
    StrictHostKeyChecking yes
    UserKnownHostsFile $TMP/known_hosts
    GlobalKnownHostsFile /dev/null
    UpdateHostKeys no
    ConnectTimeout 30
    ControlMaster no
    ControlPath none
    ForwardAgent no
    ForwardX11 no
    RequestTTY no
    LogLevel ERROR
EOF
        if [[ -n $KEX ]]; then printf '    KexAlgorithms %s\n' "$KEX"; fi
    } >"$1"
}
write_ssh_config "$TMP/ssh_config" "$PORT"
write_ssh_config "$TMP/ssh_config.bad" "$BAD_PORT"

# Wait (up to 10 s) for sshd to listen, then check one real login end to end:
# key auth works, QUELL_HOST arrives and the shell got the clean HOME.
for ((i = 0; ; i++)); do
    kill -0 "$SSHD_PID" 2>/dev/null || die "sshd exited at startup (see log below)"
    if ! port_free "$PORT"; then break; fi
    ((i < 200)) || die "sshd did not listen on 127.0.0.1:$PORT within 10 s"
    sleep 0.05
done
# shellcheck disable=SC2016  # expanded by the remote shell
got=$(ssh -F "$TMP/ssh_config" h1 'printf %s "$QUELL_HOST $HOME"' </dev/null) ||
    die "ssh login to our sshd failed"
[[ $got == "h1 $TMP/home" ]] ||
    die "remote environment wrong: want 'h1 $TMP/home', got '$got'"

# --------------------------------------------------------------------------
# The fleet: DIR/hosts/hK per host, and the mitigation command.  The remote
# shell expands ${QUELL_HOST} (refusing to run without it) and $$; the file
# is written under a temporary name in the same directory, then renamed.
# --------------------------------------------------------------------------
FLEET=$TMP/fleet
write_hosts_file() { # FILE N: h1..hN, one per line
    local k
    for ((k = 1; k <= $2; k++)); do printf 'h%d\n' "$k"; done >"$1"
}
for ((k = 1; k <= HOSTS; k++)); do mkdir -p "$FLEET/hosts/h$k"; done
write_hosts_file "$TMP/hosts.txt" "$HOSTS"   # pssh host file

read -r -d '' REMOTE_CMD <<'EOF' || true
d=@FLEET@/hosts/${QUELL_HOST:?} && printf '%s\n' '@MSG@' > "$d/.m.$$" && mv -f "$d/.m.$$" "$d/maintenance"
EOF
REMOTE_CMD=${REMOTE_CMD//@FLEET@/$FLEET}
REMOTE_CMD=${REMOTE_CMD//@MSG@/$MSG}
log "mitigation: $REMOTE_CMD"
log "ssh key exchange: ${KEX:-OpenSSH default} ($(ssh -V 2>&1))"

# clush configuration, isolated from /etc/clustershell and ~/.config:
#  * --conf / --groupsconf make clush read only our clush.conf / groups.conf;
#  * CLUSTERSHELL_CFGDIR puts our defaults.conf last (it wins over any
#    /etc/clustershell/defaults.conf); it pins the library defaults and turns
#    auto_tree off so no topology.conf can route us through gateways.
CLUSH_DIR=$TMP/clustershell
mkdir -p "$CLUSH_DIR/empty"
cat >"$CLUSH_DIR/clush.conf" <<EOF
[Main]
fanout: $HOSTS
connect_timeout: 0
command_timeout: 60
color: never
fd_max: 8192
history_size: 0
node_count: yes
maxrc: yes
verbosity: 1
password_prompt: no
confdir: $CLUSH_DIR/empty
ssh_path: /usr/bin/ssh
EOF
cat >"$CLUSH_DIR/groups.conf" <<EOF
[Main]
default: bench
confdir: $CLUSH_DIR/empty
autodir: $CLUSH_DIR/empty
[bench]
map: true
EOF
cat >"$CLUSH_DIR/defaults.conf" <<'EOF'
[task.default]
stderr: false
stdin: true
stdout_msgtree: true
stderr_msgtree: true
engine: auto
auto_tree: false
local_workername: exec
distant_workername: ssh
[task.info]
debug: false
fanout: 64
grooming_delay: 0.25
connect_timeout: 10
command_timeout: 0
EOF
export CLUSTERSHELL_CFGDIR=$CLUSH_DIR

# --------------------------------------------------------------------------
# Running one tool once.
# run_tool TOOL SSH_CONFIG NHOSTS: runs the mitigation on h1..hNHOSTS, sets
# ELAPSED_MS (wall time, tool start to exit) and TOOL_RC; the tool's own
# output goes to $TMP/last.log.
# --------------------------------------------------------------------------
usec() { local t=$EPOCHREALTIME; echo "${t//[!0-9]/}"; }  # locale-proof

run_tool() {
    local tool=$1 cfg=$2 n=$3 t0 t1 hostsfile=$TMP/hosts.txt
    if ((n != HOSTS)); then
        hostsfile=$TMP/hosts.sub
        write_hosts_file "$hostsfile" "$n"
    fi
    TOOL_RC=0
    case $tool in
    parallel-ssh)
        t0=$(usec)
        "$PSSH" -h "$hostsfile" -p "$n" -t 60 -X -F -X "$cfg" "$REMOTE_CMD" \
            </dev/null >"$TMP/last.log" 2>&1 || TOOL_RC=$?
        t1=$(usec)
        ;;
    clush)
        t0=$(usec)
        "$CLUSH" --conf "$CLUSH_DIR/clush.conf" \
            --groupsconf "$CLUSH_DIR/groups.conf" -R ssh -n -S \
            -w "h[1-$n]" -f "$n" -o "-F $cfg" "$REMOTE_CMD" \
            </dev/null >"$TMP/last.log" 2>&1 || TOOL_RC=$?
        t1=$(usec)
        ;;
    *) die "unknown tool $tool" ;;
    esac
    ELAPSED_MS=$(((t1 - t0 + 500) / 1000))
}

# Remove every maintenance file (and any leftover temp file).
reset_fleet() { rm -f "$FLEET"/hosts/h*/maintenance "$FLEET"/hosts/h*/.m.*; }

# count_ok NHOSTS: how many of h1..hNHOSTS have a maintenance file with
# exactly the expected content.
count_ok() {
    local k ok=0 content f
    for ((k = 1; k <= $1; k++)); do
        f=$FLEET/hosts/h$k/maintenance
        [[ -f $f ]] || continue
        content=
        IFS= read -r -d '' content <"$f" || true
        if [[ $content == "$MSG"$'\n' ]]; then ok=$((ok + 1)); fi
    done
    echo "$ok"
}

# Wait (max 5 s) until our sshd has no per-connection children left, so a
# run never starts while the previous one's sessions are still tearing down.
wait_sshd_idle() {
    local i
    for ((i = 0; i < 250; i++)); do
        if [[ -z $(ps -o pid= --ppid "$SSHD_PID" || true) ]]; then return 0; fi
        sleep 0.02
    done
    log "warning: sshd still has children after 5 s"
}

logins() { grep -c 'Accepted publickey' "$TMP/sshd.log" || true; }

# one_run TOOL LABEL: reset, run on all hosts, verify.  Sets ELAPSED_MS and OK.
one_run() {
    local tool=$1 label=$2 before after leftovers
    wait_sshd_idle
    reset_fleet
    before=$(logins)
    run_tool "$tool" "$TMP/ssh_config" "$HOSTS"
    OK=$(count_ok "$HOSTS")
    after=$(logins)
    leftovers=$(find "$FLEET/hosts" -name '.m.*' | wc -l)
    log "$tool $label: ${ELAPSED_MS} ms, ok_hosts $OK/$HOSTS, rc $TOOL_RC, sshd logins $((after - before))"
    if ((OK < HOSTS || TOOL_RC != 0)); then
        log "  $tool reported (last 10 lines other than pssh's [SUCCESS]):"
        grep -v '\[SUCCESS\]' "$TMP/last.log" | tail -n 10 | sed 's/^/    /' >&2 || true
    fi
    ((after - before == HOSTS)) ||
        log "  warning: expected $HOSTS logins on our sshd, saw $((after - before))"
    ((leftovers == 0)) || log "  warning: $leftovers temp files left behind"
}

# Nearest-rank percentile: pct P of the numbers on stdin.
percentile() {
    sort -n | awk -v p="$1" '{ v[NR] = $1 }
        END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}

# --------------------------------------------------------------------------
# Preflight per tool: pointed at the port where nothing listens it must fail
# (proves it uses our ssh_config), pointed at our sshd it must succeed on h1.
# --------------------------------------------------------------------------
TOOLS=(parallel-ssh clush)
declare -A VERSION
VERSION[parallel-ssh]=$("$PSSH" --version 2>&1 | tail -n 1) ||
    die "parallel-ssh is unusable: '$PSSH --version' failed"
VERSION[clush]=$("$CLUSH" --version 2>&1 | awk '{ print $NF }') ||
    die "clush is unusable: '$CLUSH --version' failed"

for tool in "${TOOLS[@]}"; do
    reset_fleet
    run_tool "$tool" "$TMP/ssh_config.bad" 2
    if ((TOOL_RC == 0)) || (($(count_ok 2) != 0)); then
        die "$tool exited 0 or wrote files when pointed at a closed port: it is not going through our ssh_config"
    fi
    reset_fleet
    run_tool "$tool" "$TMP/ssh_config" 1
    if ((TOOL_RC != 0)) || (($(count_ok 1) != 1)); then
        tail -n 10 "$TMP/last.log" >&2 || true
        die "$tool ${VERSION[$tool]} is unusable: it cannot run the mitigation on h1"
    fi
    log "$tool ${VERSION[$tool]}: preflight ok (closed port fails, h1 works)"
done

# --------------------------------------------------------------------------
# Warm-up, then timed runs.  The tools alternate run by run, so slow drift of
# the machine (other load, page cache) hits both alike.
# --------------------------------------------------------------------------
declare -A TIMES MIN_OK
for tool in "${TOOLS[@]}"; do
    one_run "$tool" warm-up
    ((OK > 0)) || die "$tool is unusable: warm-up reached 0 of $HOSTS hosts"
    TIMES[$tool]=
    MIN_OK[$tool]=$HOSTS
done
for ((r = 1; r <= RUNS; r++)); do
    for tool in "${TOOLS[@]}"; do
        one_run "$tool" "run $r/$RUNS"
        TIMES[$tool]+="$ELAPSED_MS "
        if ((OK < MIN_OK[$tool])); then MIN_OK[$tool]=$OK; fi
    done
done

for tool in "${TOOLS[@]}"; do
    if ((MIN_OK[$tool] < HOSTS)); then
        log "warning: $tool reached only ${MIN_OK[$tool]} of $HOSTS hosts in its worst timed run"
    fi
    read -r -a t <<<"${TIMES[$tool]}"
    jq -nc \
        --arg tool "$tool" \
        --arg version "${VERSION[$tool]}" \
        --argjson hosts "$HOSTS" \
        --argjson runs "$RUNS" \
        --argjson median "$(printf '%s\n' "${t[@]}" | percentile 50)" \
        --argjson p99 "$(printf '%s\n' "${t[@]}" | percentile 99)" \
        --argjson min "$(printf '%s\n' "${t[@]}" | percentile 0)" \
        --argjson ok "${MIN_OK[$tool]}" \
        '{tool: $tool, version: $version, hosts: $hosts, runs: $runs,
          median_ms: $median, p99_ms: $p99, min_ms: $min, ok_hosts: $ok}'
done
