#!/usr/bin/env bash
# `quell scale` and `quell restart` on the fleet's cache handle, with real
# memcached: scale to 3 and three ports answer the memcached protocol, scale
# to 1 and only the first does, restart and the instance has a new pid and
# answers again. The agent's tracking file (state/instances/cache) always
# lists exactly what runs.
. "$(dirname "$0")/lib.sh"

[[ -x /usr/bin/memcached ]] || fail "/usr/bin/memcached is missing (./dev deps installs memcached)"
fleet_up 1
H=$FLEET/hosts/host-001
TRACK=$H/state/instances/cache
base=$QUELL_CACHE_BASE

# memcached PORT: something on 127.0.0.1:PORT answers "version" like memcached.
memcached() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "version\r\n" >&3 && read -r line <&3 && [[ "$line" == VERSION* ]]' "$1" \
		2>/dev/null
}
silent() { ! port_listening "$1"; }
kill_quietly() { kill "$1" 2>/dev/null || true; }
tracked_pid() { awk -v i="$1" '$1 == i { print $3 }' "$TRACK"; }
tracked_count() { [[ -f "$TRACK" ]] && wc -l <"$TRACK" || echo 0; }

expect_exit 0 q scale cache 3 -n
assert_contains "would go 0 -> 3"
silent "$base" || fail "a dry run started an instance"

expect_exit 0 q scale cache 3
assert_contains "cache: 0 -> 3 instances (ports $base $((base + 1)) $((base + 2)))"
# The agent confirmed the ports before answering: they answer now.
for p in "$base" $((base + 1)) $((base + 2)); do
	memcached "$p" || fail "no memcached on port $p after scale 3"
done
(($(tracked_count) == 3)) || fail "expected 3 lines in $TRACK:$NL$(cat "$TRACK")"
p1=$(tracked_pid 1)
grep -q memcached "/proc/$p1/cmdline" || fail "pid $p1 for instance 1 is not memcached"

expect_exit 0 q scale cache 1
assert_contains "cache: 3 -> 1 instance (port $base)"
memcached "$base" || fail "instance 0 stopped answering after scale 1"
silent $((base + 1)) || fail "port $((base + 1)) still listens after scale 1"
silent $((base + 2)) || fail "port $((base + 2)) still listens after scale 1"
no_proc() { [[ ! -e "/proc/$1" ]]; }
wait_until 3 no_proc "$p1" # not even a zombie
(($(tracked_count) == 1)) || fail "expected 1 line in $TRACK:$NL$(cat "$TRACK")"

old=$(tracked_pid 0)
expect_exit 0 q restart cache
assert_contains "cache: restarted 1 instance ($base: $old -> "
new=$(tracked_pid 0)
[[ -n "$new" && "$new" != "$old" ]] || fail "restart kept pid $old"
memcached "$base" || fail "instance 0 does not answer after restart"
wait_until 3 no_proc "$old"

# Instances outlive the agent (own session), and a new agent picks them up
# from the tracking file instead of starting them twice.
restart_agent host-001
pings() { q ping >/dev/null 2>&1; }
wait_until 20 pings
memcached "$base" || fail "instance 0 died with the agent"
expect_exit 0 q scale cache 1
assert_contains "cache: 1 -> 1 instance (port $base)"
[[ "$(tracked_pid 0)" == "$new" ]] || fail "instance 0 was replaced: $(cat "$TRACK")"

# Beyond the handle's max (4): refused before anything happens.
expect_exit 1 q scale cache 5
assert_contains "bad-argument"
assert_contains "from 0 to 4"

# A port taken by someone else is reported, not silently "confirmed".
as_user=()
((EUID != 0)) || as_user=(-u nobody) # memcached refuses to run as root otherwise
/usr/bin/memcached -l 127.0.0.1 -p $((base + 1)) -U 0 -m 8 "${as_user[@]}" </dev/null >/dev/null 2>&1 &
squatter=$!
disown "$squatter"
on_exit kill_quietly "$squatter"
wait_until 10 port_listening $((base + 1))
expect_exit 1 q scale cache 2
assert_contains "already in use"
kill "$squatter"
gone() { [[ ! -e "/proc/$squatter" ]]; }
wait_until 10 gone

expect_exit 0 q scale cache 0
assert_contains "cache: 1 -> 0 instances"
silent "$base" || fail "port $base still listens after scale 0"
(($(tracked_count) == 0)) || fail "expected no line in $TRACK:$NL$(cat "$TRACK")"
pass
