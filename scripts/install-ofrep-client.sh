#!/usr/bin/env bash
# Installs a real third-party OFREP client for tests/tests/ofrep.rs: OpenFeature's
# Python SDK and its OFREP provider, from PyPI, pinned, in a virtual environment under
# target/tools/ofrep-venv. Prints the environment's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/target/tools/ofrep-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openfeature.contrib.provider.ofrep" 2>/dev/null; then
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq >/dev/null
        $SUDO apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv" >/dev/null
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "openfeature-sdk==0.10.0" "openfeature-provider-ofrep==0.3.0" >/dev/null
fi
echo "$venv/bin/python"
