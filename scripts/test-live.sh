#!/usr/bin/env bash
# Runs the live Unleash tests: starts a real server (scripts/unleash-up.sh), runs the
# ignored tests of tests/tests/unleash_live.rs, and stops the server, whatever happened.
# Fails if the server cannot be started or reached.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
trap 'bash scripts/unleash-down.sh' EXIT
bash scripts/unleash-up.sh
cargo test -p flowgate-tests --test unleash_live -- --ignored --test-threads=1
