//! `#[feature_gate]` compile tests: `pass/` must build, `fail/` must fail with the reviewed `.stderr`.
