#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing, for the global limits' tests and
# benchmarks (tests/src/redis_server.rs starts one per test on 127.0.0.1 and stops it by
# its PID). Installing does not start a server.
set -euo pipefail
if ! command -v redis-server >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    # A package install may start the service; the tests start their own.
    $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
redis-server --version
