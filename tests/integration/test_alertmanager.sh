#!/usr/bin/env bash
# The coordinator's Alertmanager webhook with the real Alertmanager: a fleet
# whose coordinator has a [webhook] section and a token file, an
# Alertmanager on loopback (its own config and storage) whose receiver posts
# there with the token; `amtool alert add` fires an alert and then resolves
# it, and the coordinator's audit log has both, about host-001; the alert
# rule answers the firing one with maintenance on host-001 (signed by the
# automation key, with its TTL), and nothing else. Then the
# attacker's view with curl: bad JSON, version 3, no token, a wrong token,
# a body past max_body, GET, text/plain and another path are refused with
# their status codes, logged, and leave no alert record; the coordinator
# still works. And the start-up refusals: a token file others can read, a
# webhook port in use.
. "$(dirname "$0")/lib.sh"

AMTOOL=/usr/bin/amtool
[[ -x "$AMTOOL" ]] || fail "$AMTOOL is missing (./dev deps installs prometheus-alertmanager)"
fleet_up 2
db=$FLEET/coordinator/coordinator.db
token_file=$FLEET/webhook.token
WEBHOOK_PORT=$(free_port)
URL=http://127.0.0.1:$WEBHOOK_PORT/api/v1/alerts

# A token only the coordinator's user can read; 32 random bytes as hex.
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$token_file" && echo >>"$token_file")
TOKEN=$(<"$token_file")
# The alert rule's automation key, which the agents' policies allow maintenance only.
q keygen "$FLEET/automation.key" >/dev/null
allow_automation() {
	cat >>"$FLEET/hosts/$1/agent.conf" <<EOF
[signer automation]
key_file = $FLEET/automation.key.pub
allow = maintenance:site
max_ttl = 30m
require_ttl = yes
EOF
}
restart_agent host-001 allow_automation host-001
restart_agent host-002 allow_automation host-002
stop_coordinator
cat >>"$FLEET/coordinator.conf" <<EOF
[webhook]
listen = 127.0.0.1:$WEBHOOK_PORT
token_file = $token_file
max_body = 64k
[automation]
key = $FLEET/automation.key
[rule page]
when = alert
alert = HighErrorRate
labels = severity=page
action = maintenance
handle = site
arg.mode = on
arg.message = Degraded: automatic maintenance
ttl = 10m
EOF

# Refused at start: a token file group or others can read.
chmod 640 "$token_file"
expect_exit 1 "$BIN/quell-coordinator" -c "$FLEET/coordinator.conf"
assert_contains "token_file $token_file is accessible by group or others (chmod 600)"
chmod 600 "$token_file"

start_coordinator
wait_until 10 port_listening "$WEBHOOK_PORT"
assert_file_contains "$FLEET/coordinator.log" "webhook listening on 127.0.0.1:$WEBHOOK_PORT/api/v1/alerts"

# Refused at start: the webhook's port in use (a second coordinator with its
# own sockets and state, the same [webhook]).
other=$FLEET/other
mkdir -p "$other"
sed -e "s|^agent_listen = .*|agent_listen = tcp://127.0.0.1:$(free_port)|" \
	-e "s|^control_listen = .*|control_listen = tcp://127.0.0.1:$(free_port)|" \
	-e "s|^state_dir = .*|state_dir = $other|" "$FLEET/coordinator.conf" >"$other/coordinator.conf"
expect_exit 1 "$BIN/quell-coordinator" -c "$other/coordinator.conf"
assert_contains "cannot listen for the webhook on 127.0.0.1:$WEBHOOK_PORT"
assert_contains "Address already in use"

alerts() { sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE kind = 'alert'"; }
alerts_with() { [[ "$(sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE kind = 'alert' AND text LIKE '$1%'")" -ge 1 ]]; }
[[ "$(alerts)" == 0 ]] || fail "alert records before any alert"

# ------------------------------------------------------------ Alertmanager
alertmanager_up "      - url: $URL
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: $token_file"

expect_exit 0 "$AMTOOL" alert add HighErrorRate instance=host-001:9100 severity=page \
	--annotation=summary="5xx above 5%" --alertmanager.url="$AM_URL"
wait_until 20 alerts_with "firing HighErrorRate"
row=$(sqlite3 -separator $'\t' "$db" \
	"SELECT host, actor, ifnull(incident, '-'), text, data FROM audit_log WHERE kind = 'alert'")
IFS=$'\t' read -r host actor incident text data <<<"$row"
[[ "$host" == host-001 && "$actor" == alertmanager && "$incident" == - ]] ||
	fail "unexpected alert record: $row"
[[ "$text" == "firing HighErrorRate instance=host-001:9100 severity=page" ]] ||
	fail "unexpected alert text: $text"
jq -e '.status == "firing" and .labels == {"alertname": "HighErrorRate",
	"instance": "host-001:9100", "severity": "page"}
	and (.startsAt | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))
	and (.fingerprint | test("^[0-9a-f]{16}$"))' <<<"$data" >/dev/null ||
	fail "unexpected alert data: $data"
assert_file_contains "$FLEET/coordinator.log" 'webhook: 1 alert(s), firing, receiver "quell", from 127.0.0.1:'
# The alert rule: maintenance on the host the alert names, nowhere else.
page=$FLEET/hosts/host-001/www/maintenance.html
wait_until 20 test -e "$page"
assert_file_contains "$page" "Degraded: automatic maintenance"
[[ ! -e "$FLEET/hosts/host-002/www/maintenance.html" ]] || fail "the alert rule touched host-002"
fired() { sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE kind = 'rule' AND text LIKE 'rule page fired%'"; }
[[ "$(fired)" == 1 ]] || fail "the alert rule fired $(fired) times"
expect_exit 0 q mitigations --json
jq -e '.mitigations | length == 1 and .[0].operator == "automation" and .[0].ttl_seconds == 600
	and .[0].incident == "page" and .[0].hosts.active == 1' <<<"$OUT" >/dev/null ||
	fail "expected one automated maintenance with a 10m TTL on host-001:$NL$OUT"

# Resolved: the same alert with an end in the past.
expect_exit 0 "$AMTOOL" alert add HighErrorRate instance=host-001:9100 severity=page \
	--annotation=summary="5xx above 5%" --end="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--alertmanager.url="$AM_URL"
wait_until 20 alerts_with "resolved HighErrorRate instance=host-001:9100"
[[ "$(fired)" == 1 ]] || fail "a resolved alert made the rule fire"
alertmanager_stop
expect_exit 0 q audit verify
assert_contains "intact"
n=$(alerts)

# ------------------------------------------------------ the attacker's view
# post CODE CURL-ARGS...: curl's status must be CODE; body in $OUT, headers in $HEADERS.
post() {
	local want=$1 code
	shift
	code=$(curl -s -o "$FLEET/body" -D "$FLEET/headers" -w '%{http_code}' "$@" "$URL") ||
		fail "curl $* failed ($?)"
	OUT=$(<"$FLEET/body")
	HEADERS=$(tr -d '\r' <"$FLEET/headers")
	[[ "$code" == "$want" ]] || fail "curl $* answered $code, expected $want: $OUT"
}
auth=(-H "Authorization: Bearer $TOKEN")
json=(-H "Content-Type: application/json")
payload='{"version":"4","status":"firing","receiver":"curl","alerts":[{"status":"firing",
 "labels":{"alertname":"Forged","instance":"host-002:9100"}}]}'

post 400 "${auth[@]}" "${json[@]}" --data-binary '{"version":"4","status":'
assert_contains '"error":"not valid JSON'
post 400 "${auth[@]}" "${json[@]}" --data-binary "${payload/\"4\"/\"3\"}"
assert_contains 'unsupported version'
post 400 "${auth[@]}" "${json[@]}" --data-binary \
	'{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":1}}]}'
assert_contains 'alerts[0].labels.a is not a string'
post 401 "${json[@]}" --data-binary "$payload"
[[ "$HEADERS" == *$'\nWWW-Authenticate: Bearer'* ]] || fail "no WWW-Authenticate: Bearer in:$NL$HEADERS"
post 401 -H "Authorization: Bearer ${TOKEN%?}x" "${json[@]}" --data-binary "$payload"
post 401 -H "Authorization: Basic $(printf 'x:%s' "$TOKEN" | base64 -w0)" "${json[@]}" \
	--data-binary "$payload"
head -c 100000 /dev/zero | tr '\0' ' ' >"$FLEET/big.json"
post 413 "${auth[@]}" "${json[@]}" --data-binary @"$FLEET/big.json"
assert_contains 'larger than max_body (65536 bytes)'
post 405 "${auth[@]}"
[[ "$HEADERS" == *$'\nAllow: POST'* ]] || fail "no Allow: POST in:$NL$HEADERS"
post 405 "${auth[@]}" "${json[@]}" -X PUT --data-binary "$payload"
post 415 "${auth[@]}" -H "Content-Type: text/plain" --data-binary "$payload"
post 415 "${auth[@]}" --data-urlencode "x=$payload"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "${json[@]}" --data-binary "$payload" \
	"$URL/../../v2/alerts") || fail "curl failed"
[[ "$code" == 404 ]] || fail "another path answered $code, expected 404"
# A chunked body past max_body: the connection is closed, nothing buffered.
rc=0
curl -s -o /dev/null "${auth[@]}" "${json[@]}" -H "Transfer-Encoding: chunked" \
	--data-binary @"$FLEET/big.json" "$URL" || rc=$?
((rc != 0)) || fail "a chunked body past max_body was answered"

[[ "$(alerts)" == "$n" ]] || fail "refused requests left alert records ($(alerts), expected $n)"
for why in "400 not valid JSON" "400 unsupported version" "401 missing or wrong bearer token" \
	"413 the body is larger than max_body" "405 only POST is allowed" \
	"415 Content-Type must be application/json" "404 no such path" "past max_body"; do
	assert_file_contains "$FLEET/coordinator.log" "$why"
done
grep -q "webhook: refused POST /api/v1/alerts from 127.0.0.1:[0-9]*: 401" "$FLEET/coordinator.log" ||
	fail "a refusal is not logged with the client's address"

# The coordinator still works, and still takes a good payload.
expect_exit 0 q ping
post 200 "${auth[@]}" "${json[@]}" --data-binary "$payload"
[[ "$OUT" == '{"status":"ok","alerts":1}' ]] || fail "unexpected answer: $OUT"
[[ "$(alerts)" == $((n + 1)) ]] || fail "the accepted payload left no record"
[[ "$(sqlite3 "$db" "SELECT host FROM audit_log WHERE kind = 'alert' ORDER BY seq DESC LIMIT 1")" == host-002 ]] ||
	fail "the accepted payload's record is not about host-002"
expect_exit 0 q audit verify
[[ "$(fired)" == 1 ]] || fail "refused requests made the alert rule fire"
pass
