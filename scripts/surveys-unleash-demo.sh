#!/usr/bin/env bash
# The Unleash Python tutorial's steps, scripted, for the surveys example: starts (or
# reuses) the local Unleash server of scripts/unleash-up.sh, creates
# `delete_survey_flag` through the Admin API (as the tutorial does in Unleash's UI),
# enabled in `development`, and prints the command that runs the app on it and the
# commands that toggle the flag. Idempotent: an existing flag is kept.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/unleash-up.sh >/dev/null
STATE=${FLOWGATE_UNLEASH_STATE:-$ROOT/target/unleash-live}
# shellcheck disable=SC1091
source "$STATE/env"
FLAG=delete_survey_flag
admin() { curl -sf -H "authorization: $UNLEASH_ADMIN_TOKEN" -H 'content-type: application/json' "$@"; }
if ! admin "$UNLEASH_ADMIN_URL/api/admin/projects/default/features/$FLAG" >/dev/null; then
    admin -X POST "$UNLEASH_ADMIN_URL/api/admin/projects/default/features" \
        -d "{\"name\": \"$FLAG\", \"type\": \"release\", \"description\": \"Deleting surveys\"}" >/dev/null
    admin -X POST "$UNLEASH_ADMIN_URL/api/admin/projects/default/features/$FLAG/environments/development/strategies" \
        -d '{"name": "default", "parameters": {}, "constraints": []}' >/dev/null
fi
admin -X POST "$UNLEASH_ADMIN_URL/api/admin/projects/default/features/$FLAG/environments/development/on" >/dev/null
cat <<TEXT
Unleash is up at $UNLEASH_ADMIN_URL with \`$FLAG\` on in development.

Run the app on it:
  UNLEASH_URL=$UNLEASH_URL UNLEASH_API_TOKEN='$UNLEASH_API_TOKEN' cargo run --example surveys

Turn the flag off (the Delete buttons go, /surveys/{id}/delete answers 404, within a second):
  curl -X POST -H 'authorization: $UNLEASH_ADMIN_TOKEN' $UNLEASH_ADMIN_URL/api/admin/projects/default/features/$FLAG/environments/development/off
and on again with .../on. Stop the server with scripts/unleash-down.sh.
TEXT
