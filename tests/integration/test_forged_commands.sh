#!/usr/bin/env bash
# The attacker's view: a compromised coordinator (quell-forge serve) sends a
# real agent forged, tampered, replayed, expired, future-dated, mistargeted
# and unauthorised commands. Each is rejected with its own reason and
# nothing runs; a redelivered command runs once.
. "$(dirname "$0")/lib.sh"
forge_agent web-1 "ping, maintenance:site, maintenance:nosuch, format-disk" role=web,dc=east
"$BIN/quell" keygen "$dir/stranger.key" >/dev/null
mkdir -p "$dir/www"
cat >> "$dir/agent.conf" <<CONF
[handle site]
type = maintenance
file = $dir/www/maintenance.html
[handle other]
type = maintenance
file = $dir/www/other.html
CONF

F="$BIN/quell-forge"
on=(--action maintenance --handle site --arg mode=on --arg message=forged-run)
"$F" sign --key "$dir/op.key" --out "$dir/good" "${on[@]}" >/dev/null
"$F" flip "$dir/good" "$dir/flipped"
"$F" sign --key "$dir/stranger.key" --out "$dir/stranger" "${on[@]}" >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/expired" --issued-offset -600 --lifetime 60 "${on[@]}" >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/future" --issued-offset 600 "${on[@]}" >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/elsewhere" --target 'role=db' "${on[@]}" >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/denied" --action maintenance --handle other --arg mode=on >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/nohandle" --action maintenance --handle nosuch --arg mode=on >/dev/null
id=$("$F" sign --key "$dir/op.key" --out "$dir/ping1" --action ping)
"$F" sign --key "$dir/op.key" --out "$dir/ping2" --action ping --target host=web-1 --job-id "$id" >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/noaction" --action format-disk --handle site >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/badarg" --action maintenance --handle site --arg mode=sideways >/dev/null
"$F" sign --key "$dir/op.key" --out "$dir/extraarg" --action maintenance --handle site --arg mode=on --arg path=/etc/passwd >/dev/null
head -c 300 /dev/urandom > "$dir/garbage"

# The forged coordinator listens first; the agent dials it.
"$F" serve --listen "$url" "$dir/flipped" "$dir/stranger" "$dir/expired" "$dir/future" \
	"$dir/elsewhere" "$dir/denied" "$dir/nohandle" "$dir/garbage" "$dir/good" "$dir/good" \
	"$dir/ping1" "$dir/ping2" "$dir/noaction" "$dir/badarg" "$dir/extraarg" \
	> "$dir/answers" 2>"$dir/serve.err" &
serve_pid=$!
wait_until 10 port_listening "$port"
"$BIN/quell-agent" -c "$dir/agent.conf" 2> "$dir/agent.log" &
agent_pid=$!
# Between the two deliveries of "good" the page is removed: it must not come back.
wait_until 20 test -f "$dir/www/maintenance.html"
rm -f "$dir/www/maintenance.html"
wait "$serve_pid" || { cat "$dir/serve.err"; fail "forged coordinator failed"; }

OUT=$(cat "$dir/answers")
line() { sed -n "${1}p" "$dir/answers"; }
expect_line() { # N STATUS REASON [DUP]
	local l; l=$(line "$1")
	[[ "$l" == "$2 $3 ${4:-first}"* ]] || fail "answer $1: expected '$2 $3 ${4:-first}', got '$l'"
}
expect_line 1 rejected bad-signature
expect_line 2 rejected unknown-signer
expect_line 3 rejected expired
expect_line 4 rejected not-yet-valid
expect_line 5 rejected not-targeted
expect_line 6 rejected denied
expect_line 7 rejected unknown-handle
expect_line 8 rejected malformed
expect_line 9 ok -
expect_line 10 ok - duplicate        # redelivery: recorded answer, not run again
expect_line 11 ok -
expect_line 12 rejected replayed     # same job id, different command
expect_line 13 rejected unknown-action # allowed by policy, but no such action here
expect_line 14 rejected bad-argument
expect_line 15 rejected bad-argument # an argument the action does not take
assert_no_file "$dir/www/maintenance.html"
assert_no_file "$dir/www/other.html"
for r in bad-signature unknown-signer expired not-yet-valid not-targeted denied malformed replayed unknown-action \
	bad-argument; do
	assert_file_contains "$dir/agent.log" "$r"
done
# The audit log has every command, accepted or not (duplicates are logged, not audited).
n=$(sqlite3 "$dir/state/agent.db" 'SELECT count(*) FROM audit')
[ "$n" -eq 14 ] || fail "expected 14 audit rows, got $n"
pass
