#!/usr/bin/env bash
# Under systemd's ProtectSystem=strict, a handle's directory outside the
# unit's ReadWritePaths is read-only for the agent. The agent says so at
# start (and with --check), naming the directory and the fix, rather than
# failing its first action in an incident. A read-only bind mount in a
# private mount namespace plays the sandbox.
. "$(dirname "$0")/lib.sh"
((EUID == 0)) || skip "needs root (a bind mount in a private mount namespace)"
command -v unshare >/dev/null || skip "unshare is missing"
forge_agent web-1 "*"
mkdir -p "$dir/www" "$dir/rw"
cat >>"$dir/agent.conf" <<CONF
[handle site]
type = maintenance
file = $dir/www/maintenance.html
[handle flags]
type = flags
format = json
file = $dir/rw/flags.json
CONF
echo '{}' >"$dir/rw/flags.json"
unshare -m true 2>/dev/null || skip "no mount namespaces here"
ro_check() {
	# shellcheck disable=SC2016 # $1.. belong to the inner sh
	unshare -m sh -c 'mount --bind -o ro "$1" "$1" && exec "$2" --check -c "$3"' sh \
		"$dir/www" "$BIN/quell-agent" "$dir/agent.conf"
}
expect_exit 0 ro_check
assert_contains "handle site: $dir/www is read-only for this agent"
assert_contains "ReadWritePaths=$dir/www"
assert_not_contains "handle flags"
# Writable: not a word.
expect_exit 0 "$BIN/quell-agent" --check -c "$dir/agent.conf"
assert_not_contains "read-only"
pass
