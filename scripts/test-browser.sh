#!/usr/bin/env bash
# Runs the browser tests (tests/tests/surveys_browser.rs, status_browser.rs): installs Debian's chromium
# and chromium-driver when missing, then runs the ignored tests, which start
# chromedriver themselves (on 127.0.0.1) and stop it by its PID. Screenshots land in
# target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromedriver >/dev/null || [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
cargo test -p flowgate-tests --test surveys_browser --test status_browser -- --ignored --test-threads=1
