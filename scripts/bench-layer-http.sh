#!/usr/bin/env bash
# The tower layer's cost over real HTTP: wrk against benches/src/bin/hello-server.rs
# (release build, one worker thread), `/hello` ungated and `/gated` behind
# FlowgateLayer, in alternating 10 s rounds (3 each), one wrk thread, 32 connections.
# Installs wrk from Debian when it is missing. Not run by CI: it measures, it does not
# test. Prints requests/s per round and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    apt-get install -y -qq wrk >/dev/null
fi
cargo build -q --release -p flowgate-benches --bin hello-server
PORT=${PORT:-48123}
target/release/hello-server "$PORT" >/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/hello" >/dev/null && break
    sleep 0.1
done
declare -A RESULTS
for round in 1 2 3; do
    for path in hello gated; do
        rps=$(wrk -t1 -c32 -d10s -H 'x-user-id: user-42' "http://127.0.0.1:$PORT/$path" \
            | awk '/Requests\/sec/ {print $2}')
        echo "round $round /$path: $rps requests/s"
        RESULTS[$path]+="$rps "
    done
done
for path in hello gated; do
    median=$(tr ' ' '\n' <<<"${RESULTS[$path]}" | grep . | sort -n | sed -n 2p)
    echo "median /$path: $median requests/s"
done
