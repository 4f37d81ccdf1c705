#!/usr/bin/env bash
# Every cargo feature of the `flowgate` crate on its own, none at all, and all of them:
# clippy and rustdoc with warnings denied, and the crate's unit tests; its doc tests with
# none and with all (an example outside a feature's module that needs the feature fails
# without features; one inside is compiled only with it: doc tests of each feature alone
# found nothing more, and took a third of CI's time). Then the promise of
# `default-features = false`: the embedded engine alone, with no HTTP stack, no file
# watcher, no regex engine and no TSC clock in the dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    echo "== flowgate $*"
    # The library alone first: with its tests, dev-dependencies turn on tokio features
    # the library itself must not rely on (a user's crate has none of them).
    cargo check -q -p flowgate --lib "$@"
    cargo clippy -q -p flowgate --all-targets "$@" -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc -q -p flowgate --no-deps "$@"
    cargo test -q -p flowgate --lib "$@" 2>&1 | tail -n 4
}

run --no-default-features
cargo test -q -p flowgate --doc --no-default-features 2>&1 | tail -n 4
for feature in watch regex quanta unleash axum tower tonic testing prometheus openfeature aperture redis; do
    run --no-default-features --features "$feature"
done
run --all-features
cargo test -q -p flowgate --doc --all-features 2>&1 | tail -n 4

tree=$(cargo tree -q -p flowgate --no-default-features -e normal --prefix none)
for heavy in reqwest hyper rustls ring notify regex quanta serde_json redis; do
    if grep -q "^$heavy v" <<<"$tree"; then
        echo "flowgate without default features depends on $heavy:" >&2
        cargo tree -q -p flowgate --no-default-features -e normal -i "$heavy" >&2
        exit 1
    fi
done
echo "== default-features = false: no HTTP stack, watcher, regex engine or TSC clock"
