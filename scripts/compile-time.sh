#!/usr/bin/env bash
# Compile time of 500 functions under #[feature_gate] against the same 500 functions
# under #[tracing::instrument]: two generated crates, dependencies built first, then
# each crate alone timed from clean (debug), three times; prints the medians.
# MANIFEST_FLAGS=10000 gives both crates a flowgate.toml of that many more flags (the
# gated crate reads it; the instrumented one does not), to show what a large manifest
# costs the build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${COMPILE_TIME_DIR:-$ROOT/target/compile-time}
FUNCTIONS=${FUNCTIONS:-500}
MANIFEST_FLAGS=${MANIFEST_FLAGS:-0}
rm -rf "$WORK"
mkdir -p "$WORK"

generate() { # name, attribute, extra dependency
  local name=$1 attribute=$2
  mkdir -p "$WORK/$name/src"
  cat > "$WORK/$name/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
flowgate = { path = "$ROOT/runtime" }
tracing = "0.1"

[workspace]
TOML
  {
    echo "[flags.Bench]"
    echo 'description = "the benchmark flag"'
    for i in $(seq 1 "$MANIFEST_FLAGS"); do
      printf '[flags.Flag%s]\ndescription = "flag %s"\nrollout = 50\nconstraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]\n' "$i" "$i"
    done
  } > "$WORK/$name/flowgate.toml"
  {
    echo "#![allow(dead_code, unused_variables)]"
    for i in $(seq 1 "$FUNCTIONS"); do
      echo "$attribute"
      echo "pub fn f$i(x: u64, name: &str) -> Option<u64> { Some(x + $i + name.len() as u64) }"
    done
  } > "$WORK/$name/src/lib.rs"
}

generate gated '#[flowgate::feature_gate("Bench", labels(x = x))]'
generate instrumented '#[tracing::instrument]'

median() { sort -n | sed -n 2p; }

for name in gated instrumented; do
  (cd "$WORK/$name" && CARGO_TARGET_DIR="$WORK/target" cargo build -q 2>/dev/null)
  times=()
  for _ in 1 2 3; do
    (cd "$WORK/$name" && CARGO_TARGET_DIR="$WORK/target" cargo clean -q -p "$name")
    start=$(date +%s.%N)
    (cd "$WORK/$name" && CARGO_TARGET_DIR="$WORK/target" cargo build -q)
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | median > "$WORK/$name.median"
  echo "$name: $(cat "$WORK/$name.median") s (runs: ${times[*]})"
done
echo "ratio gated/instrumented: $(echo "scale=2; $(cat "$WORK/gated.median") / $(cat "$WORK/instrumented.median")" | bc)"
