#!/usr/bin/env bash
# The gate's share of a real request, on the surveys example (release build, the
# embedded engine, a SQLite file with 20 surveys of 10 answers each):
#
# 1. Throughput with wrk (one thread, 16 connections, 10 s each, the server pinned to
#    CPU 0 and wrk to CPU 1 when there are two): the list page (`is_enabled` for the
#    Delete buttons, a query, a template), a survey page (`is_enabled` of a rollout by
#    a visitor cookie), and the delete route while its flag is off (the layer answers
#    404 before the handler: the cheapest gated request).
# 2. Instructions per request under callgrind, and the share of them spent in flowgate
#    (the inclusive cost of `Client::is_enabled` and of the layer's `call`).
#
# Installs wrk and valgrind from Debian when missing. Not run by CI. About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
cargo build -q --release -p flowgate-examples --example surveys
BIN=target/release/examples/surveys
WORK=$(mktemp -d)
PORT=${PORT:-48140}
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
# The delete flag off, so that its route is answered by the layer.
awk '/^\[/ { on = ($0 == "[flags.delete_survey_flag]") }
     on && /^enabled = true$/ { print "enabled = false"; next } { print }' \
    examples/flowgate.toml > "$WORK/flowgate.toml"
grep -q 'enabled = false' "$WORK/flowgate.toml"

start() {
    FLOWGATE_CONFIG="$WORK/flowgate.toml" SURVEYS_DB="$WORK/surveys.db" PORT=$PORT \
        "$@" >"$WORK/out" 2>&1 &
    PID=$!
    for _ in $(seq 1 600); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/ready" && return 0
        sleep 0.1
    done
    cat "$WORK/out" >&2
    return 1
}
stop() { kill $PID; wait $PID 2>/dev/null || true; PID=""; }

start "${SERVER_CPU[@]}" "$BIN"
for i in $(seq 1 20); do
    curl -s -o /dev/null -d "title=Survey+$i&question=Question+$i%3F" "http://127.0.0.1:$PORT/surveys"
    for a in yes no maybe yes no yes maybe yes no yes; do
        curl -s -o /dev/null -d "answer=$a" "http://127.0.0.1:$PORT/surveys/$i/answer"
    done
done
PATHS=(/surveys /surveys/7 /surveys/7/delete)
echo "== throughput (requests/s, one run) =="
for path in "${PATHS[@]}"; do
    rps=$("${WRK_CPU[@]}" wrk -t1 -c16 -d10s -H 'cookie: visitor=v42' "http://127.0.0.1:$PORT$path" \
        | awk '/Requests\/sec/ {print $2}')
    echo "$path: $rps"
done
stop

echo "== instructions per request, and flowgate's share (callgrind) =="
for path in "${PATHS[@]}"; do
    start "${SERVER_CPU[@]}" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" "$BIN"
    "${WRK_CPU[@]}" wrk -t1 -c4 -d3s -H 'cookie: visitor=v42' "http://127.0.0.1:$PORT$path" >/dev/null
    callgrind_control -z $PID >/dev/null
    "${WRK_CPU[@]}" wrk -t1 -c4 -d10s -H 'cookie: visitor=v42' "http://127.0.0.1:$PORT$path" >"$WORK/wrk"
    callgrind_control -d $PID >/dev/null
    dump=$(ls "$WORK"/cg.*.1 | head -1)
    requests=$(awk '/requests in/ {print $1}' "$WORK/wrk")
    total=$(awk '/^summary:/ {print $2}' "$dump")
    gate=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null \
        | grep -E 'flowgate::client::Client::is_enabled|flowgate::tower::service::Flowgate<S> as tower_service::Service' \
        | awk '{gsub(",", "", $1); if ($1 > max) max = $1} END {print max + 0}')
    echo "$path: $((total / requests)) instructions per request, flowgate $((gate / requests)) ($(awk "BEGIN {printf \"%.2f\", 100 * $gate / $total}")%), $requests requests"
    stop
    rm -f "$WORK"/cg.*
done
