#!/usr/bin/env bash
# Runs the live Unleash tests: starts a real server (scripts/unleash-up.sh), runs the
# ignored tests of tests/tests/unleash_live.rs (some stop and restart it, and run the
# surveys example as a process), and stops the server, whatever happened.
# Fails if the server cannot be started or reached.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
trap 'bash scripts/unleash-down.sh' EXIT
bash scripts/unleash-up.sh
# The surveys app, run as a process by one of the tests.
cargo build -p flowgate-examples --example surveys
cargo test -p flowgate-tests --test unleash_live -- --ignored --test-threads=1
# The command line's diff, push, pull and explain against the same server.
cargo test -p flowgate-cli --test live -- --ignored --test-threads=1
