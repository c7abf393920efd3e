#!/usr/bin/env bash
# Runs serverpush for real: installs what is missing, builds the release programs into cgi-bin/,
# starts the camera simulator, and starts Apache httpd (or nginx with fcgiwrap) on loopback
# serving the programs and the demo pages in www/.
# Usage: scripts/demo.sh [--tls] [--nginx] | stop
#   --tls    also serve HTTPS with HTTP/2 on TLS_PORT, with a self-signed certificate made here
#   --nginx  nginx with fcgiwrap instead of Apache, from the shipped nginx snippets
# Environment: PORT (default 8080), TLS_PORT (default 8443), SERVERPUSH_DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
port="${PORT:-8080}"
tls_port="${TLS_PORT:-8443}"
run="${SERVERPUSH_DEMO_DIR:-/tmp/serverpush-demo}"
tls=no
server=apache
# fcgiwrap's workers: each open stream holds one (max_streams is 100 in the example config).
fcgiwrap_workers=120

# Signals the process whose pid FILE holds, if it is still the program NAME: a stale pid may
# belong to another process now.
stop_pid() {
  local file="$1" name="$2" signal="${3:-TERM}" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name"* ]]; then kill "-$signal" "$pid" || true; fi
  for _ in $(seq 50); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
  rm -f "$file"
}

stop() {
  stop_pid "$run/camsim.pid" serverpush
  # nginx's QUIT lets the open streams finish; TERM ends them now.
  stop_pid "$run/nginx/nginx.pid" nginx
  # fcgiwrap runs in a process group of its own (setsid): its workers go with it.
  if [[ -f "$run/nginx/fcgiwrap.pid" ]]; then
    pid="$(cat "$run/nginx/fcgiwrap.pid")"
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == fcgiwrap* ]]; then kill -- "-$pid" || true; fi
    rm -f "$run/nginx/fcgiwrap.pid"
  fi
  if [[ -f "$run/apache/httpd.pid" ]]; then
    apache2 -f "$run/apache/httpd.conf" -k stop 2>/dev/null || true
    for _ in $(seq 50); do [[ -f "$run/apache/httpd.pid" ]] || break; sleep 0.1; done
  fi
}

for arg in "$@"; do
  case "$arg" in
    stop)
      stop
      echo "demo stopped"
      exit 0
      ;;
    --tls) tls=yes ;;
    --nginx) server=nginx ;;
    *)
      echo "usage: scripts/demo.sh [--tls] [--nginx] | stop" >&2
      exit 2
      ;;
  esac
done

scripts/install-deps.sh
scripts/install-cgi.sh cgi-bin
stop

# The server's workers run as www-data, which may not be able to enter this checkout (a home
# directory is often private): serve copies from a run directory instead.
rm -rf "$run/cgi-bin" "$run/www" "$run/nginx"
mkdir -p "$run/apache" "$run/nginx" "$run/cgi-bin" "$run/cams" "$run/spool"
cp -r www "$run/www"
# Both names of each program: nph-NAME for HTTP/1.x, NAME for HTTP/2 (serverpush.conf).
cp cgi-bin/nph-* cgi-bin/clock cgi-bin/webcam cgi-bin/longpoll cgi-bin/mercure "$run/cgi-bin/"
# The Mercure hub's token secret, new for each demo, and a publisher's token signed with it
# (HS256: base64url of the header and the claims, and their HMAC-SHA256).
secret="$(openssl rand -hex 32)"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_head="$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)"
jwt_claims="$(printf '{"mercure":{"publish":["*"]}}' | b64url)"
jwt_signature="$(printf '%s.%s' "$jwt_head" "$jwt_claims" \
  | openssl dgst -binary -sha256 -hmac "$secret" | b64url)"
publisher_jwt="$jwt_head.$jwt_claims.$jwt_signature"
# The documented example, with the demo's spool, an open chat channel, the simulated camera,
# and the Mercure hub open to anonymous subscribers.
{
  sed -e "s#^spool_dir = .*#spool_dir = \"$run/spool\"#" \
      -e 's#^open_channels = .*#open_channels = ["chat"]#' \
      -e 's#^presence_events = .*#presence_events = ["chat"]#' \
      -e "s#^mercure_anonymous = .*#mercure_anonymous = true\njwt_secret = \"$secret\"#" \
      apache-conf/serverpush.toml
  printf '\n[cameras]\ndefault = "%s/cams/cam.jpg"\n' "$run"
} > "$run/serverpush.toml"
chmod 0755 "$run" "$run/cams"

# The simulated camera: a moving test picture, 10 frames a second, for the next 4 hours.
nohup cgi-bin/serverpush camsim --out "$run/cams/cam.jpg" --fps 10 --width 640 --height 480 \
  --seconds 14400 >"$run/camsim.log" 2>&1 &
echo $! > "$run/camsim.pid"
# If the server does not come up, do not leave the simulator running.
trap 'stop' ERR

if [[ "$(id -u)" == 0 ]]; then user=www-data; group=www-data; else user="$(id -un)"; group="$(id -gn)"; fi
# The CGI programs store channels as the server's user.
chown "$user:$group" "$run/spool"
# Every viewer and subscriber holds an inotify instance; the default of 128 per user is low.
if [[ "$(id -u)" == 0 ]]; then sysctl -qw fs.inotify.max_user_instances=8192 || true; fi

root="$run/$server"
render() {
  sed -e "s#@ROOT@#$root#g" -e "s#@PORT@#$port#g" -e "s#@USER@#$user#g" \
      -e "s#@GROUP@#$group#g" -e "s#@MODULES@#/usr/lib/apache2/modules#g" \
      -e "s#@WWW@#$run/www#g" -e "s#@CGI_BIN@#$run/cgi-bin#g" \
      -e "s#@CONFIG@#$run/serverpush.toml#g" -e "s#@TLS_PORT@#$tls_port#g" \
      -e "s#@CERT@#$run/tls/cert.pem#g" -e "s#@KEY@#$run/tls/key.pem#g" \
      -e "s#@FCGIWRAP@#$run/nginx/fcgiwrap/fcgiwrap.sock#g" -e "s#@SNIPPETS@#$run/nginx#g" "$1"
}
if [[ "$server" == apache ]]; then
  render apache-conf/serverpush.conf.in > "$run/apache/serverpush.conf"
  render apache-conf/httpd.conf.in > "$run/apache/httpd.conf"
else
  render apache-conf/serverpush-nginx.conf.in > "$run/nginx/serverpush-nginx.conf"
  render apache-conf/serverpush-fastcgi.conf.in > "$run/nginx/serverpush-fastcgi.conf"
  render apache-conf/nginx.conf.in > "$run/nginx/nginx.conf"
fi
if [[ "$tls" == yes ]]; then
  # A self-signed certificate for 127.0.0.1 and localhost, made once: browsers ask to accept it
  # (or run Chromium with --ignore-certificate-errors); curl needs -k.
  if [[ ! -f "$run/tls/cert.pem" ]]; then
    mkdir -p "$run/tls"
    openssl req -x509 -nodes -days 365 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -keyout "$run/tls/key.pem" -out "$run/tls/cert.pem" 2>/dev/null
  fi
  if [[ "$server" == apache ]]; then
    render apache-conf/httpd-tls.conf.in > "$run/apache/tls.conf"
    echo "Include \"$run/apache/tls.conf\"" >> "$run/apache/httpd.conf"
  else
    # nginx.conf includes tls*.conf from its directory.
    render apache-conf/nginx-tls.conf.in > "$run/nginx/tls.conf"
  fi
fi
if [[ "$server" == apache ]]; then
  apache2 -f "$run/apache/httpd.conf" -k start
  name="Apache httpd"
  log="$run/apache/error.log"
else
  # fcgiwrap runs the programs as the server's user, as Debian's service does (-f: their stderr
  # into its log); nginx connects to its socket.
  mkdir -p "$run/nginx/fcgiwrap"
  chown "$user:$group" "$run/nginx/fcgiwrap"
  as_user=()
  if [[ "$(id -u)" == 0 ]]; then as_user=(setpriv "--reuid=$user" "--regid=$group" --init-groups); fi
  setsid "${as_user[@]}" /usr/sbin/fcgiwrap -f -c "$fcgiwrap_workers" \
    -s "unix:$run/nginx/fcgiwrap/fcgiwrap.sock" </dev/null >/dev/null 2>"$run/nginx/fcgiwrap.log" &
  echo $! > "$run/nginx/fcgiwrap.pid"
  for _ in $(seq 100); do [[ -S "$run/nginx/fcgiwrap/fcgiwrap.sock" ]] && break; sleep 0.1; done
  # -e: nginx opens its error log before it reads the configuration.
  nginx -e "$run/nginx/error.log" -c "$run/nginx/nginx.conf"
  name="nginx with fcgiwrap"
  log="$run/nginx/error.log"
fi

for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/" || {
  stop
  echo "$name did not come up; its log:" >&2
  cat "$log" >&2
  exit 1
}

if [[ "$tls" == yes ]]; then
  curl -kfsS -o /dev/null "https://127.0.0.1:$tls_port/" || {
    stop
    echo "HTTPS on port $tls_port does not answer; the server's log:" >&2
    cat "$log" >&2
    exit 1
  }
fi

cat <<TXT
serverpush is running under $name on 127.0.0.1:$port (logs in $root/).
  http://127.0.0.1:$port/                  the demo index
  http://127.0.0.1:$port/clock.html        the clock over every transport
  http://127.0.0.1:$port/webcam.html       the simulated camera as a live MJPEG stream
  http://127.0.0.1:$port/chat.html         a chat on the open channel "chat" (open it in two windows)
  http://127.0.0.1:$port/mercure.html      a Mercure subscriber; publish to it with:
    curl -d topic=https://example.com/demo -d data=hello \\
      -H 'Authorization: Bearer $publisher_jwt' http://127.0.0.1:$port/.well-known/mercure
  curl -N http://127.0.0.1:$port/cgi-bin/nph-clock
TXT
if [[ "$tls" == yes ]]; then
  cat <<TXT
HTTPS with HTTP/2 on 127.0.0.1:$tls_port (self-signed certificate in $run/tls/):
  https://127.0.0.1:$tls_port/clock.html       every pane over one HTTP/2 connection
  curl -kN --http2 'https://127.0.0.1:$tls_port/cgi-bin/nph-clock?transport=sse'
TXT
fi
echo "Stop it with: scripts/demo.sh stop"
