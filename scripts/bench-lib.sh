# Shared by the HTTP benchmarks (bench-layer-http.sh, bench-surveys-http.sh): sourced,
# not run. Installs wrk and valgrind from Debian when missing, and sets SERVER_CPU and
# WRK_CPU (taskset prefixes that put the server on CPU 0 and wrk on CPU 1, when there
# are two) so that the two do not compete for one core.
for tool in wrk valgrind; do
    if ! command -v $tool >/dev/null; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get install -y -qq $tool >/dev/null
    fi
done
SERVER_CPU=() WRK_CPU=()
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU=(taskset -c 0) WRK_CPU=(taskset -c 1); fi
