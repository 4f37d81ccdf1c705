//! Compile tests of `#[feature_gate]`.
//!
//! `pass/` must build; `fail/` must fail with exactly the reviewed `.stderr`.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p flowgate-ui-tests`
//! and review the diff like code.

use std::path::Path;

/// trybuild compiles the cases in a crate under `target/`, outside this directory, so
/// the cases are pointed at this crate's manifest explicitly.
#[test]
fn ui() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("flowgate.toml");
    std::env::set_var("FLOWGATE_MANIFEST", &manifest);
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
}
