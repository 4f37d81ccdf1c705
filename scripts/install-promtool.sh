#!/usr/bin/env bash
# Makes Prometheus's `promtool` available for the metrics test
# (tests/tests/prometheus.rs) and prints its path. Uses one on PATH if there is one;
# else downloads Debian's `prometheus` package and unpacks only `promtool` into
# target/tools/ (no service is installed or started).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v promtool >/dev/null; then
    command -v promtool
    exit 0
fi
tools="$PWD/target/tools"
if [ ! -x "$tools/promtool" ]; then
    mkdir -p "$tools/deb"
    (
        cd "$tools/deb"
        apt-get download prometheus >/dev/null 2>&1 || {
            SUDO=""
            [ "$(id -u)" -ne 0 ] && SUDO="sudo"
            $SUDO apt-get update -qq >/dev/null
            apt-get download prometheus >/dev/null
        }
        dpkg-deb -x prometheus_*.deb unpacked
    )
    cp "$tools/deb/unpacked/usr/bin/promtool" "$tools/promtool"
    rm -rf "$tools/deb"
fi
echo "$tools/promtool"
