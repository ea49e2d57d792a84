#!/usr/bin/env bash
# Health-triggered automation and its limits, with real agents running real
# checks (exec checks of files this test creates and removes):
#   - a flapping check (pass/fail/pass/...) never flips: its rule stays quiet;
#   - a local rule allowed 3 hosts per window touches 3 and reports 2 held back;
#   - `automation pause`: nothing fires (and status says why); `resume`: it fires;
#   - a fleet rule (40% of role=web failing) fires once, puts maintenance on for
#     the whole selector with its TTL, signed by the automation key, and does
#     not fire again during its cooldown; its incident's timeline has the rule.
. "$(dirname "$0")/lib.sh"
fleet_up 5
HOSTS=(host-001 host-002 host-003 host-004 host-005)
q keygen "$FLEET/automation.key" >/dev/null

# A check script that alternates pass and fail on every run.
cat >"$FLEET/flappy" <<'SH'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0)
echo $((n + 1)) >"$1"
[ $((n % 2)) -eq 0 ]
SH
chmod +x "$FLEET/flappy"

setup_agent() {
	local h=$1 d=$FLEET/hosts/$1
	touch "$d/web-up" "$d/cap-ok" "$d/p-ok"
	sed -i 's/^labels = role=[a-z]*/labels = role=web/' "$d/agent.conf"
	cat >>"$d/agent.conf" <<CONF
[signer automation]
key_file = $FLEET/automation.key.pub
allow = maintenance:site, flag:flags
max_ttl = 30m
require_ttl = yes
[check web]
type = exec
argv = /bin/test -e $d/web-up
interval = 1s
timeout = 1s
rise = 1
fall = 2
[check cap]
type = exec
argv = /bin/test -e $d/cap-ok
interval = 1s
timeout = 1s
rise = 1
fall = 1
[check p]
type = exec
argv = /bin/test -e $d/p-ok
interval = 1s
timeout = 1s
rise = 1
fall = 1
[check flappy]
type = exec
argv = $FLEET/flappy $d/flappy.count
interval = 1s
timeout = 1s
rise = 2
fall = 2
CONF
}
for h in "${HOSTS[@]}"; do restart_agent "$h" setup_agent "$h"; done

cat >>"$FLEET/coordinator.conf" <<CONF
[automation]
key = $FLEET/automation.key
window = 1h
max_actions = 10
[rule web-down]
when = fleet
check = web
target = role=web
threshold = 40%
for = 1s
action = maintenance
handle = site
arg.mode = on
arg.message = Automatic maintenance
ttl = 10m
cooldown = 10m
[rule flap]
when = local
check = flappy
for = 0
action = flag
handle = flags
arg.name = flappy_feature
arg.value = off
ttl = 10m
[rule cap]
when = local
check = cap
for = 0
action = flag
handle = flags
arg.name = cap_feature
arg.value = off
ttl = 10m
max_hosts = 3
[rule p]
when = local
check = p
for = 0
action = flag
handle = flags
arg.name = p_feature
arg.value = off
ttl = 10m
cooldown = 2s
CONF
stop_coordinator
start_coordinator

db=$FLEET/coordinator/coordinator.db
fired() { sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE kind = 'rule' AND text LIKE 'rule $1 fired%'"; }
flag_off_on() { # FLAG: the hosts where it is off
	local h
	for h in "${HOSTS[@]}"; do
		jq -e --arg f "$1" '.[$f] == false' "$FLEET/hosts/$h/flags.json" >/dev/null && echo "$h"
	done
	return 0
}
count_off() { [[ "$(flag_off_on "$1" | wc -l)" == "$2" ]]; }
status() { q automation status --json; }
rule_field() { status | jq -r --arg r "$1" --arg f "$2" '.rules[] | select(.name == $r) | .[$f]'; }
now() { date +%s; }
passed() { (($(now) >= $1)); }

# Every check reported, every one passing (flappy: never settles; see below).
all_reporting() {
	q agents --json | jq -e '[.agents[] | .checks | length] | all(. == 4)' >/dev/null
}
wait_until 20 all_reporting

# 1. The flapping check never fails for long enough to flip (rise = fall = 2):
#    after 8 runs its rule has not fired anywhere.
until_=$(($(now) + 8))
wait_until 15 passed "$until_"
[[ "$(fired flap)" == 0 ]] || fail "the flapping check made its rule fire"
count_off flappy_feature 0 || fail "a flapping check changed a flag"
q health --json | jq -e '[.. | objects | select(.name? == "flappy") | .state] | all(. != "failing")' \
	>/dev/null || fail "the flapping check flipped to failing"

# 2. The cap: 5 hosts fail, the rule may touch 3 per window; 2 are held back.
for h in "${HOSTS[@]}"; do rm "$FLEET/hosts/$h/cap-ok"; done
wait_until 20 count_off cap_feature 3 # the first to fail go first (by name when at once)
held_back() { rule_field cap last_held | grep -q "2 hosts held back"; }
wait_until 10 held_back
[[ "$(rule_field cap hosts_in_window)" == 3 ]] || fail "status does not count 3 hosts for cap"
count_off cap_feature 3 || fail "the cap let more hosts through"
# (one job, or more when the hosts' checks failed in different seconds)
expect_exit 0 q mitigations --json
jq -e '[.mitigations[] | select(.operator == "automation" and .args.name == "cap_feature")] |
	length >= 1 and (map(.hosts.active) | add) == 3 and all(.[]; .ttl_seconds == 600 and
	.incident == "cap" and (.reason | startswith("rule cap:")))' <<<"$OUT" >/dev/null ||
	fail "the automated mitigations lack their TTL, incident or reason:$NL$OUT"
for id in $(jq -r '.mitigations[] | select(.args.name == "cap_feature") | .id' <<<"$OUT"); do
	expect_exit 0 q undo "$id" # so its hosts are not covered for what follows
done

# 3. Paused: nothing fires, and status says so; resumed: it fires.
expect_exit 0 q automation pause --reason "planned failover"
assert_contains "PAUSED by oncall"
rm "$FLEET/hosts/host-005/p-ok"
paused_held() { rule_field p last_held | grep -q "automation is paused (by oncall: planned failover)"; }
wait_until 10 paused_held
count_off p_feature 0 || fail "a rule fired while automation was paused"
# The switch survives a coordinator restart.
stop_coordinator
start_coordinator
[[ "$(status | jq -r .paused)" == true ]] || fail "the pause did not survive a restart"
count_off p_feature 0 || fail "a rule fired after the restart while paused"
expect_exit 0 q automation resume
wait_until 10 count_off p_feature 1
[[ "$(flag_off_on p_feature)" == host-005 ]] || fail "the p rule acted on the wrong host"
expect_exit 0 q mitigations --json
p_id=$(jq -r '.mitigations[] | select(.operator == "automation" and .args.name == "p_feature") | .id' <<<"$OUT")
expect_exit 0 q undo "$p_id"
count_off p_feature 0 || fail "undo left p_feature off"
# The check still fails and the rule's cooldown (2s) runs out, but an
# operator took the rule's action back: the rule does not put it right back
# (for its window).
undone_held() { rule_field p last_held | grep -q "an operator undid this rule there"; }
wait_until 10 undone_held
count_off p_feature 0 || fail "the rule re-applied what an operator undid"

# 4. The fleet rule: 2 of 5 role=web hosts (40%) fail; maintenance on everywhere, once.
page() { echo "$FLEET/hosts/$1/www/maintenance.html"; }
all_pages() {
	local h
	for h in "${HOSTS[@]}"; do [[ -e "$(page "$h")" ]] || return 1; done
}
rm "$FLEET/hosts/host-001/web-up" "$FLEET/hosts/host-002/web-up"
wait_until 20 all_pages
assert_file_contains "$(page host-004)" "Automatic maintenance"
[[ "$(fired web-down)" == 1 ]] || fail "web-down fired $(fired web-down) times"
expect_exit 0 q mitigations --json
jq -e '[.mitigations[] | select(.operator == "automation" and .action == "maintenance")] |
	length == 1 and .[0].ttl_seconds == 600 and .[0].hosts.active == 5 and
	.[0].target == "role=web"' <<<"$OUT" >/dev/null ||
	fail "expected one automated maintenance on the 5 hosts with a 10m TTL:$NL$OUT"
# More failures during the cooldown: no second firing.
rm "$FLEET/hosts/host-003/web-up"
until_=$(($(now) + 4))
wait_until 10 passed "$until_"
[[ "$(fired web-down)" == 1 ]] || fail "web-down fired again during its cooldown"
[[ "$(rule_field web-down cooldown_until)" != null ]] || fail "status shows no cooldown"
# The incident's timeline has the rule's firing and its job.
expect_exit 0 q timeline web-down --json
jq -e '[.events[] | select(.kind == "rule")] | length >= 1' <<<"$OUT" >/dev/null ||
	fail "no rule record in the web-down timeline:$NL$OUT"
jq -e '[.events[] | select(.kind == "submit" and .actor == "automation")] | length == 1' \
	<<<"$OUT" >/dev/null || fail "no automated submit in the timeline:$NL$OUT"
pass
