//! Benchmarks of flowgate: see `benches/*.rs` and `BENCHMARKS.md`.
