//! Integration tests of flowgate: see `tests/tests/*.rs`.
