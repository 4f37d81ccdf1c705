//! Runnable examples of flowgate live next to this crate: see `examples/*.rs`.
