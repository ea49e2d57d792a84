#!/usr/bin/env bash
# The packages as an operator gets them. `./dev package` builds quell-agent,
# quell-coordinator and quell-cli from this tree; lintian finds no errors
# and no warning the README does not explain; `dpkg -i` installs them
# (conffiles, the agent's key, state directories, the quell user, modes);
# installing them again (the upgrade path) keeps the key, the state and an
# edited conffile; the installed units pass systemd-analyze verify; the
# installed binaries, configured through the packaged conffiles with
# certificates from quell-certs, talk over mutual TLS on loopback (ping,
# maintenance on and off), the coordinator as the quell user; purging the
# agent keeps the coordinator's state; purging everything leaves nothing
# behind but the TLS file the operator installed.
#
# Needs root, and a machine without quell on it: it skips (77) rather than
# touch a quell installed by someone else. Whatever happens, it stops what
# it started and purges what it installed.
. "$(dirname "$0")/lib.sh"

PKGS=(quell-agent quell-coordinator quell-cli)
# Lintian warnings the README's "Packages" section explains.
EXPLAINED_WARNINGS=(initial-upload-closes-no-bugs)
unset QUELL_CONFIG QUELL_INCIDENT

((EUID == 0)) || skip "needs root: it installs and purges the packages with dpkg"
for tool in dpkg dpkg-deb dpkg-buildflags lintian cmake cpack setpriv openssl ss; do
	command -v "$tool" >/dev/null || skip "$tool is missing (./dev deps installs what is needed)"
done

# pkg_state P: dpkg's status of P ("" or not-installed when it is not there).
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true; }

# Everything the packages may leave on the system, one line each; empty
# when none of it is there. /etc/quell is listed by the caller.
leftovers() {
	local p s
	for p in "${PKGS[@]}"; do
		s=$(pkg_state "$p")
		[[ -z "$s" || "$s" == not-installed ]] || echo "package $p ($s)"
	done
	getent passwd quell | sed 's/^/user /' || true
	getent group quell | sed 's/^/group /' || true
	dpkg-statoverride --list | grep ' /etc/quell/' | sed 's/^/statoverride /' || true
	[[ ! -e /var/lib/quell ]] || echo /var/lib/quell
	find /lib/systemd/system /usr/lib/systemd/system /etc/systemd/system \
		/var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
		/usr/share/doc /usr/share/man /usr/sbin /usr/bin \
		-name 'quell*' 2>/dev/null || true
}

before=$(leftovers)
[[ -z "$before" && ! -e /etc/quell ]] ||
	skip "quell is on this machine already; not touching it:$NL$before$NL$(ls -d /etc/quell 2>/dev/null)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/quell-package.XXXXXX")
pids=()

# On any exit: stop what this test started, purge what it installed, and
# remove whatever is left of quell (there was none before it ran).
_machine_back() {
	local pid p installed=() line
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	for p in "${PKGS[@]}"; do
		[[ -z "$(pkg_state "$p")" || "$(pkg_state "$p")" == not-installed ]] || installed+=("$p")
	done
	((${#installed[@]} == 0)) || dpkg --purge "${installed[@]}" >/dev/null 2>&1 || true
	while read -r line; do
		dpkg-statoverride --remove "${line##* }" >/dev/null 2>&1 || true
	done < <(dpkg-statoverride --list | grep ' /etc/quell/' || true)
	getent passwd quell >/dev/null && userdel quell
	getent group quell >/dev/null && groupdel quell
	find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
		/var/lib/systemd/deb-systemd-helper-masked -name 'quell-*' -delete 2>/dev/null
	rm -rf /etc/quell /var/lib/quell "$dir"
	[[ -z "$(leftovers)" ]] || echo "FAIL $TEST_NAME: could not clean up:$NL$(leftovers)" >&2
}
on_exit _machine_back

# ---------------------------------------------------------------- build, lint

debs=$dir/debs
"$ROOT/dev" package "$debs" >"$dir/package.log" 2>&1 ||
	fail "./dev package failed:$NL$(tail -n 30 "$dir/package.log")"
for p in "${PKGS[@]}"; do
	compgen -G "$debs/${p}_*.deb" >/dev/null || fail "./dev package made no $p .deb"
done

lint=$(lintian --tag-display-limit 0 "$debs"/*.deb 2>&1) || true
errors=$(grep '^E: ' <<<"$lint") || true
[[ -z "$errors" ]] || fail "lintian reports errors:$NL$errors"
warnings=$(grep '^W: ' <<<"$lint") || true
for w in "${EXPLAINED_WARNINGS[@]}"; do
	warnings=$(grep -v "^W: [^ ]*: $w\( \|$\)" <<<"$warnings") || true
done
[[ -z "$warnings" ]] ||
	fail "lintian warnings that the README's Packages section does not explain:$NL$warnings"

# ---------------------------------------------------------------- install

expect_exit 0 dpkg -i "$debs"/*.deb </dev/null
assert_contains "quell-agent: the agent's public key is "
assert_contains "quell-agent: not started ("
assert_contains "quell-coordinator: not started ("
install_log=$OUT

[[ -x /usr/sbin/quell-agent && -x /usr/sbin/quell-coordinator && -x /usr/bin/quell &&
	-x /usr/bin/quell-certs ]] || fail "a binary is missing after dpkg -i"
for p in agent coordinator cli; do
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	expect_exit 0 dpkg-query -W -f='${Conffiles}' "quell-$p"
	assert_contains "/etc/quell/$p.conf "
done
getent passwd quell >/dev/null || fail "no quell user"
# mode_is PATH 'OWNER:GROUP MODE'
mode_is() {
	local got
	got=$(stat -c '%U:%G %a' "$1") || fail "$1 is missing"
	[[ "$got" == "$2" ]] || fail "$1 is $got, expected $2"
}
mode_is /etc/quell/agent.conf 'root:root 640'
mode_is /etc/quell/coordinator.conf 'root:quell 640'
mode_is /etc/quell/cli.conf 'root:root 644'
mode_is /etc/quell/agent.key 'root:root 600'
mode_is /var/lib/quell/agent 'root:root 750'
mode_is /var/lib/quell/coordinator 'quell:quell 750'
pub=$(sed -n "s/^quell-agent: the agent's public key is //p" <<<"$install_log")
[[ "$(cat /etc/quell/agent.key.pub)" == *"$pub"* ]] ||
	fail "the postinst printed $pub, /etc/quell/agent.key.pub holds $(cat /etc/quell/agent.key.pub)"

if command -v systemd-analyze >/dev/null; then
	man=no
	command -v man >/dev/null && man=yes
	expect_exit 0 systemd-analyze verify --man="$man" \
		/lib/systemd/system/quell-agent.service /lib/systemd/system/quell-coordinator.service
	[[ -z "$OUT" ]] || fail "systemd-analyze verify on the installed units:$NL$OUT"
fi

# Installed again (what an upgrade runs: prerm upgrade, postinst configure
# with the old version): the agent key, both states and an edited conffile
# stay as they were.
key_sum=$(sha256sum /etc/quell/agent.key)
echo kept >/var/lib/quell/agent/marker
echo kept >/var/lib/quell/coordinator/marker
echo "; edited by the operator" >>/etc/quell/agent.conf
expect_exit 0 dpkg -i "$debs"/*.deb </dev/null
[[ "$(sha256sum /etc/quell/agent.key)" == "$key_sum" ]] || fail "the upgrade replaced the agent key"
assert_file_contains /var/lib/quell/agent/marker kept
assert_file_contains /var/lib/quell/coordinator/marker kept
assert_file_contains /etc/quell/agent.conf "; edited by the operator"
mode_is /etc/quell/coordinator.conf 'root:quell 640'

# ---------------------------------------------------------------- configure, run

# What the operator does after the install (README "Install from
# packages"): certificates, an operator key, the conffiles edited.
ca=$dir/ca
expect_exit 0 /usr/bin/quell-certs ca "$ca"
expect_exit 0 /usr/bin/quell-certs issue "$ca" coordinator coord-1
expect_exit 0 /usr/bin/quell-certs issue "$ca" agent pkg-agent
install -m 0644 "$ca/ca.crt" /etc/quell/tls/ca.crt
install -m 0644 "$ca/coord-1.crt" /etc/quell/tls/coordinator.crt
install -m 0600 -o quell -g quell "$ca/coord-1.key" /etc/quell/tls/coordinator.key
install -m 0644 "$ca/pkg-agent.crt" /etc/quell/tls/agent.crt
install -m 0600 "$ca/pkg-agent.key" /etc/quell/tls/agent.key
expect_exit 0 /usr/bin/quell keygen "$dir/op.key"
install -m 0644 "$dir/op.key.pub" /etc/quell/oncall.pub

agent_port=$(free_port)
control_port=$(free_port)
while ((control_port == agent_port)); do control_port=$(free_port); done
mkdir -p "$dir/www"

# edit FILE SED-ARGS...: in place, keeping the file's inode, owner and mode.
edit() {
	local f=$1 text
	shift
	text=$(sed "$@" "$f") || fail "could not edit $f"
	printf '%s\n' "$text" >"$f"
}
edit /etc/quell/coordinator.conf \
	-e "s|^agent_listen = .*|agent_listen = tls+tcp://127.0.0.1:$agent_port|" \
	-e "s|^control_listen = .*|control_listen = tls+tcp://127.0.0.1:$control_port|"
printf '[operator oncall]\nkey_file = /etc/quell/oncall.pub\n' >>/etc/quell/coordinator.conf
edit /etc/quell/agent.conf \
	-e "s|^; hostname = .*|hostname = pkg-agent|" \
	-e "s|^coordinator = .*|coordinator = tls+tcp://127.0.0.1:$agent_port|" \
	-e "s|^; tls_server_name = .*|tls_server_name = coord-1|"
printf '[signer oncall]\nkey_file = /etc/quell/oncall.pub\nallow = ping, maintenance:site\n[handle site]\ntype = maintenance\nfile = %s\n' \
	"$dir/www/maintenance.html" >>/etc/quell/agent.conf
edit /etc/quell/cli.conf \
	-e "s|^coordinator = .*|coordinator = tls+tcp://127.0.0.1:$control_port|" \
	-e "s|^; tls_server_name = .*|tls_server_name = coord-1|" \
	-e "s|^; key = .*|key = $dir/op.key|"

expect_exit 0 /usr/sbin/quell-agent --check -c /etc/quell/agent.conf

# The installed binaries, as their units run them: the coordinator as quell.
setpriv --reuid=quell --regid=quell --init-groups \
	/usr/sbin/quell-coordinator -c /etc/quell/coordinator.conf </dev/null >"$dir/coordinator.log" 2>&1 &
pids+=($!)
coordinator_up() {
	kill -0 "${pids[0]}" 2>/dev/null ||
		fail "the coordinator exited:$NL$(cat "$dir/coordinator.log")"
	port_listening "$agent_port" && port_listening "$control_port"
}
wait_until 10 coordinator_up
/usr/sbin/quell-agent -c /etc/quell/agent.conf </dev/null >"$dir/agent.log" 2>&1 &
pids+=($!)
connected() {
	kill -0 "${pids[1]}" 2>/dev/null || fail "the agent exited:$NL$(cat "$dir/agent.log")"
	/usr/bin/quell agents 2>/dev/null | grep -q '^1 agents\?, 1 connected'
}
wait_until 20 connected

expect_exit 0 /usr/bin/quell ping
assert_contains "pkg-agent"
assert_contains "1 ok"
expect_exit 0 /usr/bin/quell maintenance on --message "Back soon (package test)"
assert_file_contains "$dir/www/maintenance.html" "Back soon (package test)"
expect_exit 0 /usr/bin/quell maintenance off
assert_no_file "$dir/www/maintenance.html"

# Mutual TLS for real: a CLI that trusts another CA does not get through.
expect_exit 0 /usr/bin/quell-certs ca "$dir/other"
sed "s|^tls_ca = .*|tls_ca = $dir/other/ca.crt|" /etc/quell/cli.conf >"$dir/other.conf"
expect_exit 3 /usr/bin/quell ping --config "$dir/other.conf"

for pid in "${pids[@]}"; do
	kill -TERM "$pid"
	wait "$pid" || fail "pid $pid exited $? on TERM"
done
pids=()
[[ "$(stat -c %U:%G /var/lib/quell/coordinator/coordinator.db)" == quell:quell ]] ||
	fail "coordinator.db is not owned by quell"


# ---------------------------------------------------------------- purge

# The agent goes: its state, key and conffile with it; the coordinator's
# state, the quell user and the TLS files stay.
expect_exit 0 dpkg --purge quell-agent </dev/null
assert_no_file /var/lib/quell/agent
assert_no_file /etc/quell/agent.key
assert_no_file /etc/quell/agent.key.pub
assert_no_file /etc/quell/agent.conf
[[ -f /var/lib/quell/coordinator/coordinator.db ]] ||
	fail "purging the agent removed the coordinator's state"
getent passwd quell >/dev/null || fail "purging the agent removed the quell user"
[[ -f /etc/quell/tls/agent.key ]] || fail "purging the agent removed a TLS file the operator installed"

# The operator takes back what they installed, except the CA certificate,
# which the purge must leave alone.
rm -f /etc/quell/tls/{agent,coordinator}.{crt,key} /etc/quell/oncall.pub
expect_exit 0 dpkg --purge quell-coordinator quell-cli </dev/null
left=$(leftovers)
[[ -z "$left" ]] || fail "the purge left behind:$NL$left"
[[ "$(find /etc/quell | sort)" == "/etc/quell$NL/etc/quell/tls$NL/etc/quell/tls/ca.crt" ]] ||
	fail "/etc/quell after the purge holds:$NL$(find /etc/quell)"
rm -r /etc/quell
pass
