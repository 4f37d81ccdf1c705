#!/usr/bin/env bash
# The hot path's instruction counts (callgrind) against benches/instructions.baseline:
# fails when a main case counts more than 5% above its line. Installs valgrind from
# Debian when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y --no-install-recommends valgrind >/dev/null
fi
cargo bench -p flowgate-benches --bench instructions -- --check benches/instructions.baseline
