#!/usr/bin/env bash
# --dry-run goes all the way to the agents: every verb, on every host, runs
# every check (signature, policy, handle) and reports the change it would
# make, and nothing changes: files, links, processes, instances, and no
# mitigation appears. A dry run the policy would refuse is refused like the
# real thing; undo and extend have dry runs too.
. "$(dirname "$0")/lib.sh"
fleet_up 2
HOSTS=(host-001 host-002)

remember_state exact "${HOSTS[@]}"
unchanged() { same_state "a dry run ($*)" exact "${HOSTS[@]}"; }
# dry VERB ARGS...: exit 0, the summary says dry run, every host says what it
# would do ($SAYS, default "would").
dry() {
	expect_exit 0 q "$@" -n --json
	jq -e --arg says "${SAYS:-would}" '.dry_run == true and .counts.ok == 2 and
		all(.hosts[]; .status == "ok" and (.detail | test($says)))' <<<"$OUT" >/dev/null ||
		fail "quell $* -n did not report a would-be change on every host:$NL$OUT"
	unchanged "$@"
}

dry maintenance on --message "Back soon" --ttl 10m
dry flag checkout_v2 off --ttl 10m
dry rollback app --ttl 10m
dry pause worker
dry resume worker
dry kill runaway
dry scale cache 2
SAYS="nothing to restart" dry restart cache # no instance runs
expect_exit 0 q maintenance on -n
assert_contains "(dry run)"
assert_contains "would write"
expect_exit 0 q mitigations --all --json
[[ "$(jq '.mitigations | length' <<<"$OUT")" == 0 ]] || fail "a dry run made a mitigation:$NL$OUT"

# The policy is checked for real: a host that does not allow flags refuses the dry run.
deny_flags() { sed -i 's/^allow = \*$/allow = ping, maintenance/' "$FLEET/hosts/host-002/agent.conf"; }
restart_agent host-002 deny_flags
expect_exit 1 q flag checkout_v2 off -n
assert_contains "denied"
unchanged flag with a denying policy

# undo and extend of a real mitigation, dry: it stays exactly as it is.
expect_exit 0 q maintenance on --ttl 1h -t host=host-001 --message "Real one"
remember_state exact host-001
expect_exit 0 q mitigations --json
id=$(jq -r '.mitigations[0].id' <<<"$OUT")
exp=$(jq -r '.mitigations[0].expires' <<<"$OUT")
expect_exit 0 q undo "$id" -n
assert_contains "would"
unchanged undo
expect_exit 0 q extend "$id" --ttl 5h -n
assert_contains "would revert at"
expect_exit 0 q mitigations --json
[[ "$(jq -r '.mitigations[0].expires' <<<"$OUT")" == "$exp" ]] || fail "a dry-run extend moved the expiry"
[[ "$(jq -r '.mitigations[0].hosts.active' <<<"$OUT")" == 1 ]] || fail "a dry-run undo ended it"
pass
