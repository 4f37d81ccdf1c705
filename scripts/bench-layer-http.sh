#!/usr/bin/env bash
# The tower layer's cost over real HTTP: wrk against benches/src/bin/hello-server.rs
# (release build, one worker thread), one server per router of
# benches/src/layer.rs: `/hello` ungated, behind a no-op tower layer (axum's own cost
# of any layer), and behind FlowgateLayer (a 50% rollout by the `x-user-id` header, an
# always-on flag, a flag that is off).
#
# 1. Throughput: alternating 10 s rounds (3 per server), one wrk thread, 32
#    connections, a fresh `x-user-id` per request (scripts/wrk-fresh-user.lua); the
#    server pinned to CPU 0 and wrk to CPU 1 when there are two. Prints requests/s per
#    round and the medians.
# 2. Instructions per request, server side (user space): each server under callgrind,
#    warmed for 5 s of requests, then counted over 15 s (some thousands of requests).
#    Repeatable where throughput on a shared machine is not.
#
# Installs wrk and valgrind from Debian when missing. Not run by CI: it measures, it
# does not test. About 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
cargo build -q --release -p flowgate-benches --bin hello-server
KINDS=(ungated noop-layer gated-rollout gated-constant gated-off)
BASE=${PORT:-48120}
LUA=scripts/wrk-fresh-user.lua
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

wait_for() {
    for _ in $(seq 1 600); do
        curl -s -o /dev/null "http://127.0.0.1:$1/hello" && return 0
        sleep 0.1
    done
    echo "no server on port $1" >&2
    return 1
}

echo "== throughput (requests/s) =="
i=0
for kind in "${KINDS[@]}"; do
    "${SERVER_CPU[@]}" target/release/hello-server "$kind" $((BASE + i)) >/dev/null &
    PIDS+=($!)
    i=$((i + 1))
done
for i in "${!KINDS[@]}"; do wait_for $((BASE + i)); done
declare -A RESULTS
for round in 1 2 3; do
    for i in "${!KINDS[@]}"; do
        kind=${KINDS[$i]}
        rps=$("${WRK_CPU[@]}" wrk -t1 -c32 -d10s -s "$LUA" "http://127.0.0.1:$((BASE + i))/hello" \
            | awk '/Requests\/sec/ {print $2}')
        echo "round $round $kind: $rps"
        RESULTS[$kind]+="$rps "
    done
done
for kind in "${KINDS[@]}"; do
    median=$(tr ' ' '\n' <<<"${RESULTS[$kind]}" | grep . | sort -n | sed -n 2p)
    echo "median $kind: $median"
done
kill "${PIDS[@]}" 2>/dev/null || true
PIDS=()

echo "== instructions per request, server side (callgrind) =="
OUT=$(mktemp -d)
for i in "${!KINDS[@]}"; do
    kind=${KINDS[$i]}
    port=$((BASE + 10 + i))
    "${SERVER_CPU[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT/$kind.%p" \
        target/release/hello-server "$kind" $port >/dev/null 2>"$OUT/$kind.log" &
    pid=$!
    PIDS+=($pid)
    wait_for $port
    "${WRK_CPU[@]}" wrk -t1 -c4 -d5s -s "$LUA" "http://127.0.0.1:$port/hello" >/dev/null
    callgrind_control -z $pid >/dev/null
    "${WRK_CPU[@]}" wrk -t1 -c4 -d15s -s "$LUA" "http://127.0.0.1:$port/hello" >"$OUT/$kind.wrk"
    callgrind_control -d $pid >/dev/null
    kill $pid
    wait $pid 2>/dev/null || true
    requests=$(awk '/requests in/ {print $1}' "$OUT/$kind.wrk")
    # The dump callgrind_control made (`.1`): the counted requests only.
    total=$(awk '/^summary:/ {print $2}' "$OUT/$kind".*.1)
    echo "$kind: $((total / requests)) instructions per request ($requests requests)"
done
rm -rf "$OUT"
