#!/usr/bin/env bash
# Maintenance mode as a user sees it: a real nginx (its own config, prefix,
# pid and logs in a temporary directory, on 127.0.0.1:PORT) serves a page
# while host-001's maintenance file is absent and 503 with the file's text
# while it exists. `quell maintenance on/off` flips what curl gets; a dry run
# flips nothing.
. "$(dirname "$0")/lib.sh"

NGINX=/usr/sbin/nginx
[[ -x "$NGINX" ]] || fail "$NGINX is missing (./dev deps installs nginx-light)"
fleet_up 2
WWW=$FLEET/hosts/host-001/www
MAINT=$WWW/maintenance.html

WEB=$(mktemp -d "${TMPDIR:-/tmp}/quell-nginx.XXXXXX")
on_exit rm -rf "$WEB"
mkdir -p "$WEB/html" "$WEB/tmp" "$WEB/logs"
echo "normal page from host-001" >"$WEB/html/index.html"
PORT=$(free_port)
# master_process off: one process, so no worker has to switch to a user that
# could not read the (0700) temporary directories.
cat >"$WEB/nginx.conf" <<EOF
master_process off;
daemon off;
pid $WEB/nginx.pid;
error_log $WEB/logs/error.log;
events { worker_connections 64; }
http {
	access_log $WEB/logs/access.log;
	client_body_temp_path $WEB/tmp/body;
	proxy_temp_path $WEB/tmp/proxy;
	fastcgi_temp_path $WEB/tmp/fastcgi;
	uwsgi_temp_path $WEB/tmp/uwsgi;
	scgi_temp_path $WEB/tmp/scgi;
	server {
		listen 127.0.0.1:$PORT;
		root $WEB/html;
		error_page 503 /maintenance.html;
		location = /maintenance.html { root $WWW; internal; default_type text/plain; }
		# In a location, not at server level: a server-level "if" runs again
		# for the internal redirect to the error page and nginx then serves
		# its own 503 page instead of the message.
		location / {
			if (-f $MAINT) { return 503; }
		}
	}
}
EOF
"$NGINX" -t -q -p "$WEB/" -e "$WEB/logs/error.log" -c "$WEB/nginx.conf" ||
	fail "nginx rejects the test config: $(cat "$WEB/logs/error.log")"
"$NGINX" -p "$WEB/" -e "$WEB/logs/error.log" -c "$WEB/nginx.conf" </dev/null >"$WEB/logs/stdout" 2>&1 &
NGINX_PID=$!
stop_nginx() {
	kill -TERM "$NGINX_PID" 2>/dev/null || return 0
	wait_until 10 nginx_gone
}
nginx_gone() { ! kill -0 "$NGINX_PID" 2>/dev/null; }
on_exit stop_nginx

# fetch: the status code in $CODE, the body in $BODY.
fetch() {
	local out
	out=$(curl -s --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$PORT/") || return 1
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
nginx_up() { kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited: $(cat "$WEB/logs/error.log")"; fetch; }
wait_until 10 nginx_up

fetch
[[ "$CODE" == 200 && "$BODY" == *"normal page from host-001"* ]] ||
	fail "before maintenance: expected 200 and the page, got $CODE: $BODY"

# A dry run says what it would do and changes nothing.
expect_exit 0 q maintenance on -n --message "Not really" -t host=host-001
assert_contains "would write $MAINT"
assert_contains "(dry run)"
assert_no_file "$MAINT"
fetch
[[ "$CODE" == 200 ]] || fail "a dry run put the site in maintenance ($CODE)"

expect_exit 0 q maintenance on --message "Checkout is down; back in 10 minutes (INC-7)" -t host=host-001
assert_contains "1 ok"
fetch
[[ "$CODE" == 503 ]] || fail "maintenance on: expected 503, got $CODE: $BODY"
[[ "$BODY" == *"Checkout is down; back in 10 minutes (INC-7)"* ]] ||
	fail "maintenance on: the 503 page does not carry the message: $BODY"
# host-002 was not targeted.
assert_no_file "$FLEET/hosts/host-002/www/maintenance.html"

expect_exit 0 q maintenance off -t host=host-001
fetch
[[ "$CODE" == 200 && "$BODY" == *"normal page from host-001"* ]] ||
	fail "after maintenance off: expected 200 and the page, got $CODE: $BODY"
pass
