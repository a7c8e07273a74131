#!/usr/bin/env bash
# The README's first command: install what is missing, build, build the reference images, start
# `skaha serve` on the embedded default (Podman + SQLite) and print the URL and a token.
# Running it again is fast and harmless: it reuses what is there and a server that already runs.
#
#   PORT (default 8555)  DATA_DIR (default /var/lib/skaha)  FIRST_USER (default astronomer)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/lib/ensure.sh"

PORT="${SKAHA_PORT:-${PORT:-8555}}"
DATA_DIR="${SKAHA_DATA_DIR:-${DATA_DIR:-/var/lib/skaha}}"
FIRST_USER="${FIRST_USER:-astronomer}"
URL="http://127.0.0.1:$PORT"

ensure_all

# HTTPS with client certificates next to plain HTTP: the platform CA and a server certificate,
# made once, and a config file naming the HTTPS port (both kept across runs).
TLS_PORT=$((PORT + 1))
CONFIG="$DATA_DIR/config.json"
mkdir -p "$DATA_DIR"
node "$ROOT/bin/skaha.js" admin tls init --data-dir "$DATA_DIR" >/dev/null || die "could not create the TLS certificates"
[ -f "$CONFIG" ] || printf '{\n  "tls": { "port": %s }\n}\n' "$TLS_PORT" > "$CONFIG"

healthy() { curl -fsS -m 2 "$URL/healthz" >/dev/null 2>&1; }

mkdir -p "$DATA_DIR/logs"
if healthy; then
  say "skaha already serves $URL"
else
  say "starting skaha serve on port $PORT (data in $DATA_DIR, log in $DATA_DIR/logs/server.log)"
  cd "$ROOT"
  setsid nohup node "$ROOT/bin/skaha.js" serve --port "$PORT" --data-dir "$DATA_DIR" --config "$CONFIG" >>"$DATA_DIR/logs/server.log" 2>&1 < /dev/null &
  echo $! > "$DATA_DIR/server.pid"
  for _ in $(seq 1 60); do healthy && break; sleep 0.5; done
  healthy || { tail -20 "$DATA_DIR/logs/server.log" >&2; die "the server did not come up; its log is above"; }
fi

# One token for the first user, kept (0600) so a second run prints the same one.
TOKEN_FILE="$DATA_DIR/secrets/$FIRST_USER.token"
TOKEN=""
if [ -s "$TOKEN_FILE" ]; then
  TOKEN="$(cat "$TOKEN_FILE")"
  curl -fsS -m 5 -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL/skaha/v0/context" || TOKEN=""
fi
if [ -z "$TOKEN" ]; then
  TOKEN="$(node "$ROOT/bin/skaha.js" admin token create "$FIRST_USER" --data-dir "$DATA_DIR" --name setup | tail -1)"
  mkdir -p "$(dirname "$TOKEN_FILE")"; (umask 077; printf '%s\n' "$TOKEN" > "$TOKEN_FILE")
fi

cat <<MSG

  skaha is running: $URL   (API under $URL/skaha/v0 and $URL/skaha/v1)
  user: $FIRST_USER      API token: $TOKEN

  export TOKEN=$TOKEN
  curl -H "Authorization: Bearer \$TOKEN" $URL/skaha/v0/image
  curl -H "Authorization: Bearer \$TOKEN" $URL/skaha/v0/session -d name=hello -d type=headless \\
       -d image=images.canfar.net/skaha/headless:1.0 -d cmd=echo -d args=hello
  curl -H "Authorization: Bearer \$TOKEN" $URL/skaha/v0/session

  Portal: $URL/  (log in with a password set by: printf %s 'secret-pw' | npx skaha admin user passwd $FIRST_USER --data-dir $DATA_DIR,
          or with the API token above)

  HTTPS with a proxy certificate, as skaha's users do (CA: $DATA_DIR/tls/ca.pem):
  npx skaha admin cert proxy $FIRST_USER --data-dir $DATA_DIR --out ~/.ssl/cadcproxy.pem
  curl --cacert $DATA_DIR/tls/ca.pem -E ~/.ssl/cadcproxy.pem https://127.0.0.1:$TLS_PORT/skaha/v0/session

  More users: npx skaha admin token create <username> --data-dir $DATA_DIR
  Stop: kill \$(cat $DATA_DIR/server.pid)     Tests: ./scripts/test.sh
MSG
