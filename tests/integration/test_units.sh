#!/usr/bin/env bash
# The systemd units in packaging/systemd pass `systemd-analyze verify`
# (unknown keys, bad values, a binary that is not there), with ExecStart
# pointed at this build's binaries, and keep their sandboxing: the offline
# exposure score (`systemd-analyze security`) stays at what the README
# says. test_package verifies the installed units too.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null ||
	skip "systemd-analyze is missing (apt-get install systemd)"
dir=$(mktemp -d "${TMPDIR:-/tmp}/quell-units.XXXXXX")
on_exit rm -rf "$dir"

# unit NAME: packaging/systemd/NAME.service.in as CMake fills it in, but
# running this build's binary.
unit() {
	sed -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$BIN|" -e "s|@QUELL_CONFDIR@|/etc/quell|" \
		-e "s|@QUELL_STATEDIR@|/var/lib/quell|" \
		"$ROOT/packaging/systemd/$1.service.in" >"$dir/$1.service"
	! grep -n '@[A-Z_]*@' "$dir/$1.service" ||
		fail "$1.service.in has a placeholder this test does not fill in"
}

# The highest exposure (0-100, shown as 0.0-10.0) each unit may reach.
declare -A max_exposure=([quell-agent]=35 [quell-coordinator]=15)
for name in quell-agent quell-coordinator; do
	unit "$name"
	expect_exit 0 systemd-analyze verify --man=no "$dir/$name.service"
	[[ -z "$OUT" ]] || fail "systemd-analyze verify has something to say about $name.service:$NL$OUT"
	if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
		expect_exit 0 systemd-analyze security --offline=true --no-pager \
			--threshold="${max_exposure[$name]}" "$dir/$name.service"
		assert_contains "Overall exposure level for $name.service"
	fi
done
pass
