#!/usr/bin/env bash
# Every cargo feature of the `flowgate` crate on its own, none at all, and all of them:
# clippy and rustdoc with warnings denied, and the crate's unit and doc tests. Then the promise of
# `default-features = false`: the embedded engine alone, with no HTTP stack, no file
# watcher, no regex engine and no TSC clock in the dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    echo "== flowgate $*"
    cargo clippy -q -p flowgate --all-targets "$@" -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc -q -p flowgate --no-deps "$@"
    cargo test -q -p flowgate "$@" 2>&1 | tail -n 4
}

run --no-default-features
for feature in watch regex quanta unleash axum tower tonic testing prometheus openfeature; do
    run --no-default-features --features "$feature"
done
run --all-features

tree=$(cargo tree -q -p flowgate --no-default-features -e normal --prefix none)
for heavy in reqwest hyper rustls ring notify regex quanta serde_json; do
    if grep -q "^$heavy v" <<<"$tree"; then
        echo "flowgate without default features depends on $heavy:" >&2
        cargo tree -q -p flowgate --no-default-features -e normal -i "$heavy" >&2
        exit 1
    fi
done
echo "== default-features = false: no HTTP stack, watcher, regex engine or TSC clock"
