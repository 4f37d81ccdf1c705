#!/usr/bin/env bash
# Stops what scripts/unleash-up.sh started, by PID: unleash-server, then PostgreSQL.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${FLOWGATE_UNLEASH_STATE:-$ROOT/target/unleash-live}

if [ -f "$STATE/unleash.pid" ]; then
  pid=$(cat "$STATE/unleash.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$STATE/unleash.pid"
fi
if [ -f "$STATE/pgdata/postmaster.pid" ]; then
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$STATE/pgdata" -m fast -w stop >/dev/null 2>&1
fi
echo "unleash-down: stopped"
