#!/usr/bin/env bash
# Health checks as an operator sees them: both agents of a fleet check a
# real nginx on 127.0.0.1 over http (every second, rise = fall = 2), the
# coordinator's agent port over tcp, and a script whose exit status
# alternates 0/1 on every run. `quell health` shows them passing; nginx
# stopped, the http check turns failing on both hosts within seconds (the
# agents send a heartbeat at once, not at their next poll, 15 s away) and
# says why, while tcp stays passing; nginx back, passing again. The
# flapping check never leaves the state it settled in. `quell agents
# --health` and `--json` show the checks too.
. "$(dirname "$0")/lib.sh"

NGINX=/usr/sbin/nginx
[[ -x "$NGINX" ]] || fail "$NGINX is missing (./dev deps installs nginx-light)"
fleet_up 2
HOSTS=(host-001 host-002)

WEB=$(mktemp -d "${TMPDIR:-/tmp}/quell-nginx.XXXXXX")
on_exit rm -rf "$WEB"
mkdir -p "$WEB/tmp" "$WEB/logs"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT/health"
cat >"$WEB/nginx.conf" <<EOF
master_process off;
daemon off;
pid $WEB/nginx.pid;
error_log $WEB/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $WEB/tmp/body;
	proxy_temp_path $WEB/tmp/proxy;
	fastcgi_temp_path $WEB/tmp/fastcgi;
	uwsgi_temp_path $WEB/tmp/uwsgi;
	scgi_temp_path $WEB/tmp/scgi;
	server {
		listen 127.0.0.1:$PORT;
		location = /health { default_type text/plain; return 200 "ok\n"; }
	}
}
EOF
NGINX_PID=
start_nginx() {
	"$NGINX" -p "$WEB/" -e "$WEB/logs/error.log" -c "$WEB/nginx.conf" </dev/null \
		>>"$WEB/logs/stdout" 2>&1 &
	NGINX_PID=$!
	wait_until 10 nginx_up
}
nginx_up() {
	kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited: $(cat "$WEB/logs/error.log")"
	[[ "$(curl -s --max-time 2 "$URL")" == ok ]]
}
nginx_gone() { ! kill -0 "$NGINX_PID" 2>/dev/null; }
stop_nginx() {
	[[ -n "$NGINX_PID" ]] || return 0
	kill -TERM "$NGINX_PID" 2>/dev/null || true
	wait_until 10 nginx_gone
	NGINX_PID=
}
on_exit stop_nginx
"$NGINX" -t -q -p "$WEB/" -e "$WEB/logs/error.log" -c "$WEB/nginx.conf" ||
	fail "nginx rejects the test config: $(cat "$WEB/logs/error.log")"
start_nginx

# Something else that listens on loopback: the coordinator's agent port.
CPORT=$(sed -n 's|^agent_listen = .*://127.0.0.1:||p' "$FLEET/coordinator.conf")
[[ -n "$CPORT" ]] || fail "no agent_listen port in $FLEET/coordinator.conf"

# Runs 1 and 2 pass (it settles passing), then it fails and passes in turn.
FLAP=$FLEET/flap.sh
cat >"$FLAP" <<'EOF'
#!/bin/sh
n=$(cat "$1")
echo $((n + 1)) >"$1"
[ "$n" -lt 2 ] && exit 0
exit $(((n + 1) % 2))
EOF
chmod 755 "$FLAP"

add_checks() {
	local h=$FLEET/hosts/$1
	echo 0 >"$h/flap.count"
	cat >>"$h/agent.conf" <<EOF
[check web]
type = http
url = $URL
interval = 1s
rise = 2
fall = 2
[check coord]
type = tcp
address = 127.0.0.1:$CPORT
interval = 1s
[check flap]
type = exec
argv = $FLAP $h/flap.count
interval = 1s
rise = 2
fall = 2
EOF
}
for h in "${HOSTS[@]}"; do restart_agent "$h" add_checks "$h"; done

# state HOST CHECK: that check's state in `quell health --json`.
state() {
	q health --json -t "host=$1" | jq -r --arg c "$2" '.checks[] | select(.check == $c) | .state'
}
all_are() { # all_are CHECK STATE
	local h
	for h in "${HOSTS[@]}"; do [[ "$(state "$h" "$1")" == "$2" ]] || return 1; done
}
wait_until 15 all_are web passing
wait_until 15 all_are coord passing
wait_until 15 all_are flap passing
expect_exit 0 q health
assert_contains "host-001  web    passing"
assert_contains "host-002  coord  passing"
assert_contains "HTTP 200 from $URL"
assert_contains "6 checks on 2 hosts: 0 failing, 6 passing, 0 unknown"
declare -A flap_since
for h in "${HOSTS[@]}"; do
	flap_since[$h]=$(q health --json -t "host=$h" | jq -r '.checks[] | select(.check == "flap") | .since')
done

# nginx goes away: failing within seconds (fall = 2 at 1 s; a heartbeat at
# once), saying why; the tcp check to the coordinator stays passing.
stop_nginx
start=$SECONDS
wait_until 8 all_are web failing
echo "http failing on both hosts $((SECONDS - start)) s after nginx stopped"
all_are coord passing || fail "the tcp check stopped passing when nginx did:$NL$(q health)"
expect_exit 0 q health
assert_contains "connect to $URL: Connection refused"
assert_contains "6 checks on 2 hosts: 2 failing, 4 passing, 0 unknown"
expect_exit 0 q health --failing
assert_contains "host-001  web    failing"
assert_contains "host-002  web    failing"
assert_not_contains "coord"
assert_contains "2 failing, 4 passing"
expect_exit 0 q health --failing -t host=host-002
assert_not_contains "host-001"
assert_contains "3 checks on 1 host: 1 failing, 2 passing, 0 unknown"

expect_exit 0 q agents --health
assert_contains "HEALTH"
assert_contains "web:failing("
assert_contains "coord:passing"
expect_exit 0 q agents
assert_not_contains "web:failing"
n=$(q agents --json | jq '[.agents[] | select(.checks | length == 3)] | length')
[[ "$n" == 2 ]] || fail "agents --json: expected 3 checks on each of 2 agents: $(q agents --json)"
q agents --json | jq -e '.agents[] | select(.host == "host-001") | .checks[]
	| select(.name == "web" and .state == "failing" and (.detail | test("Connection refused")))' \
	>/dev/null || fail "agents --json does not show host-001's web check failing: $(q agents --json)"

# nginx back: passing again.
start_nginx
wait_until 8 all_are web passing
expect_exit 0 q health
assert_contains "6 checks on 2 hosts: 0 failing, 6 passing, 0 unknown"

# The flapping check: at least 10 runs of alternating results after it
# settled, and it is still passing since it first was (its one state change).
flapped() {
	local h
	for h in "${HOSTS[@]}"; do (($(cat "$FLEET/hosts/$h/flap.count") >= 12)) || return 1; done
}
wait_until 30 flapped
for h in "${HOSTS[@]}"; do
	q health --json -t "host=$h" | jq -e --arg s "${flap_since[$h]}" '.checks[]
		| select(.check == "flap" and .state == "passing" and (.since | tostring) == $s)' \
		>/dev/null || fail "the flapping check on $h changed state: $(q health -t "host=$h")"
	changes=$(grep -c "check flap (exec) is" "$FLEET/hosts/$h/agent.log" || true)
	[[ "$changes" == 1 ]] || fail "$h logged $changes state changes of the flapping check:$NL$(grep 'check flap' "$FLEET/hosts/$h/agent.log")"
done

# Exit statuses: a bad selector is a usage error; no coordinator, 3.
expect_exit 2 q health -t 'role=web,'
sed "s|^coordinator = .*|coordinator = tcp://127.0.0.1:$(free_port)|" "$QUELL_CONFIG" >"$FLEET/nowhere.conf"
expect_exit 3 q health --config "$FLEET/nowhere.conf"
pass
