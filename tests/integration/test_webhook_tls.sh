#!/usr/bin/env bash
# The Alertmanager webhook over HTTPS ([webhook] tls_cert/tls_key, the
# fleet's coordinator certificate from quell-certs): the real Alertmanager,
# trusting the fleet CA, posts an alert that lands in the audit log; curl
# with the CA gets 200, curl without it fails verification, plain HTTP to
# the port gets no answer. Start-up refusals: a key others can read, a
# certificate without its key. And a plain-HTTP webhook off loopback is
# warned about.
. "$(dirname "$0")/lib.sh"
fleet_up 2
db=$FLEET/coordinator/coordinator.db
token_file=$FLEET/webhook.token
PORT=$(free_port)
NAME=$(sed -n 's|^tls_server_name = ||p' "$QUELL_CONFIG") # the coordinator certificate's
URL=https://$NAME:$PORT/api/v1/alerts
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$token_file" && echo >>"$token_file")
TOKEN=$(<"$token_file")
stop_coordinator
cp "$FLEET/coordinator.conf" "$FLEET/coordinator.plain"
cat >>"$FLEET/coordinator.conf" <<EOF
[webhook]
listen = 127.0.0.1:$PORT
token_file = $token_file
tls_cert = $FLEET/tls/$NAME.crt
tls_key = $FLEET/tls/$NAME.key
EOF

# Refused at start: a key others can read; a certificate without its key.
chmod 644 "$FLEET/tls/$NAME.key"
expect_exit 1 "$BIN/quell-coordinator" -c "$FLEET/coordinator.conf"
assert_contains "readable by its owner only"
chmod 600 "$FLEET/tls/$NAME.key"
{
	cat "$FLEET/coordinator.plain"
	printf '[webhook]\nlisten = 127.0.0.1:%s\ntoken_file = %s\ntls_cert = %s\n' \
		"$PORT" "$token_file" "$FLEET/tls/$NAME.crt"
} >"$FLEET/nokey.conf"
expect_exit 1 "$BIN/quell-coordinator" -c "$FLEET/nokey.conf"
assert_contains "tls_cert and tls_key go together"

start_coordinator
wait_until 10 port_listening "$PORT"
assert_file_contains "$FLEET/coordinator.log" "webhook listening on https://127.0.0.1:$PORT"

# curl: the fleet CA and the certificate's name: accepted. A real
# Alertmanager 0.25 payload from the fuzz corpus.
PAYLOAD=$ROOT/tests/fuzz/corpus/alerts/alertmanager-0.25-firing
RESOLVE=(--resolve "$NAME:$PORT:127.0.0.1")
code=$(curl -s -o /dev/null -w '%{http_code}' "${RESOLVE[@]}" --cacert "$FLEET/tls/ca.crt" \
	-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data-binary @"$PAYLOAD" "$URL") || fail "curl over HTTPS failed ($?)"
[[ "$code" == 200 ]] || fail "HTTPS post answered $code"
# Without the CA: the certificate does not verify (curl exit 60).
expect_exit 60 curl -s "${RESOLVE[@]}" -H "Authorization: Bearer $TOKEN" "$URL"
# Plain HTTP to the HTTPS port: no HTTP answer at all.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$PORT/api/v1/alerts") && fail "plain HTTP was answered ($code)"

# The real Alertmanager, trusting the fleet CA.
alertmanager_up "      - url: https://127.0.0.1:$PORT/api/v1/alerts
        http_config:
          authorization:
            type: Bearer
            credentials_file: $token_file
          tls_config:
            ca_file: $FLEET/tls/ca.crt
            server_name: $NAME"
expect_exit 0 /usr/bin/amtool alert add TlsCheck instance=host-001:9100 \
	--alertmanager.url="$AM_URL"
_alert_in() {
	[[ "$(sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE kind = 'alert' AND text LIKE 'firing TlsCheck%'")" -ge 1 ]]
}
wait_until 20 _alert_in ||
	fail "Alertmanager's HTTPS post did not arrive: $(tail -n 5 "$AMDIR/alertmanager.log")"

# Plain HTTP off loopback: warned about at start (0.0.0.0, on a free port).
stop_coordinator
cp "$FLEET/coordinator.plain" "$FLEET/coordinator.conf"
cat >>"$FLEET/coordinator.conf" <<EOF
[webhook]
listen = 0.0.0.0:$(free_port)
token_file = $token_file
EOF
start_coordinator
assert_file_contains "$FLEET/coordinator.log" "plain HTTP off loopback"
pass
