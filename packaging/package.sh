# shellcheck shell=bash
# packaging/package.sh: `./dev package [DIR]`, sourced by ./dev (it uses
# dev's ROOT, say, die and cmd_deps). A release build for /usr with Debian's
# hardening flags, then cpack: the .deb files (and .rpm where rpmbuild is
# installed) in DIR (default build/packages).

package_main() {
	local out=${1:-$ROOT/build/packages} dir=$ROOT/build/package
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	cmd_deps
	cd "$ROOT" || die "cannot enter $ROOT"
	local cflags ldflags
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
	ldflags=$(dpkg-buildflags --get LDFLAGS)
	# Never -Werror here: the asan build is where warnings fail CI; with
	# _FORTIFY_SOURCE and -O3, GCC adds guesses (-Wformat-truncation) of its own.
	cmake --preset release -B "$dir" -DQUELL_WERROR=OFF -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
		-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
	# Only what the packages hold (not the tests, the simulator, ...).
	cmake --build "$dir" -j"$(nproc)" --target quell quell-agent quell-coordinator quell-package-files
	rm -rf "$dir/cpack"
	if ! (cd "$dir" && cpack -B "$dir/cpack") >"$dir/cpack.log" 2>&1; then
		tail -n 20 "$dir/cpack.log" >&2
		die "cpack failed (all of it in $dir/cpack.log)"
	fi
	local f made=()
	for f in "$out"/quell-{agent,coordinator,cli}[_-]*.{deb,rpm}; do
		[[ -e "$f" ]] && rm -f "$f"
	done
	for f in "$dir"/cpack/*.{deb,rpm}; do
		[[ -e "$f" ]] || continue
		cp "$f" "$out"/
		made+=("$out/${f##*/}")
	done
	say "packages in $out:"
	printf '%s\n' "${made[@]}"
}
