#!/usr/bin/env bash
# Installs (if needed) and starts a real Unleash server for the live tests, on
# 127.0.0.1 only: PostgreSQL 15 from Debian's packages in a private cluster, and
# unleash-server 8.2.0 from npm. Idempotent: a running server is reused.
# Prints the URL and the tokens, and writes them to $STATE/env for the tests.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${FLOWGATE_UNLEASH_STATE:-$ROOT/target/unleash-live}
PG_PORT=${FLOWGATE_UNLEASH_PG_PORT:-54329}
HTTP_PORT=${FLOWGATE_UNLEASH_PORT:-4242}
ADMIN_TOKEN='*:*.flowgate-live-admin-token'
BACKEND_TOKEN='default:development.flowgate-live-backend-token'
URL="http://127.0.0.1:$HTTP_PORT"
PG_BIN=/usr/lib/postgresql/15/bin

mkdir -p "$STATE"
log() { echo "unleash-up: $*" >&2; }

healthy() { curl -sf "$URL/health" >/dev/null 2>&1; }

write_env() {
  cat > "$STATE/env" <<ENV
UNLEASH_URL=$URL/api
UNLEASH_ADMIN_URL=$URL
UNLEASH_ADMIN_TOKEN=$ADMIN_TOKEN
UNLEASH_API_TOKEN=$BACKEND_TOKEN
ENV
  echo "Unleash: $URL (API: $URL/api)"
  echo "  admin token:   $ADMIN_TOKEN"
  echo "  backend token: $BACKEND_TOKEN"
  echo "  stop with:     scripts/unleash-down.sh"
}

if [ -f "$STATE/unleash.pid" ] && kill -0 "$(cat "$STATE/unleash.pid")" 2>/dev/null && healthy; then
  log "already running (pid $(cat "$STATE/unleash.pid"))"
  write_env
  exit 0
fi

# PostgreSQL 15 and curl, from Debian's packages.
if [ ! -x "$PG_BIN/initdb" ] || ! command -v curl >/dev/null; then
  log "installing PostgreSQL 15"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 curl >/dev/null
fi

# A private cluster, owned by the postgres user, listening on 127.0.0.1 only.
PGDATA="$STATE/pgdata"
PGSOCK="$STATE/pgsock"
mkdir -p "$PGSOCK"
chown postgres "$STATE" "$PGSOCK"
as_postgres() { runuser -u postgres -- "$@"; }
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  log "creating a PostgreSQL cluster in $PGDATA"
  as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
fi
if ! as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$STATE/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $PGSOCK -c listen_addresses=127.0.0.1" start >/dev/null
fi
if ! as_postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'unleash'" | grep -q 1; then
  as_postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE unleash" >/dev/null
fi

# unleash-server, from npm (its install scripts are not needed and not run).
if [ ! -f "$STATE/server/node_modules/unleash-server/dist/server.js" ]; then
  log "installing unleash-server 8.2.0 from npm"
  mkdir -p "$STATE/server"
  (cd "$STATE/server" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
    unleash-server@8.2.0 >/dev/null 2>"$STATE/npm.log") || { cat "$STATE/npm.log" >&2; exit 1; }
fi

log "starting unleash-server on $URL"
(
  cd "$STATE/server"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/unleash"
  export DATABASE_SSL=false
  export HTTP_HOST=127.0.0.1
  export HTTP_PORT
  export INIT_ADMIN_API_TOKENS="$ADMIN_TOKEN"
  export INIT_BACKEND_API_TOKENS="$BACKEND_TOKEN"
  export CHECK_VERSION=false
  export SEND_TELEMETRY=false
  export LOG_LEVEL=warn
  unset UNLEASH_URL UNLEASH_API_TOKEN
  # Unleash 8.2 declares Node 22 and runs on the machine's Node 20 (engine warnings only).
  nohup node node_modules/unleash-server/dist/server.js >"$STATE/unleash.log" 2>&1 &
  echo $! > "$STATE/unleash.pid"
)

for _ in $(seq 1 240); do
  if healthy; then
    write_env
    exit 0
  fi
  if ! kill -0 "$(cat "$STATE/unleash.pid")" 2>/dev/null; then
    log "unleash-server exited; its log:"
    tail -40 "$STATE/unleash.log" >&2
    exit 1
  fi
  sleep 0.5
done
log "unleash-server did not answer within 120 s; its log:"
tail -40 "$STATE/unleash.log" >&2
exit 1
