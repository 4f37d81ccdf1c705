//! Compile tests of `#[feature_gate]`.
//!
//! `pass/` must build; `fail/` must fail with exactly the reviewed `.stderr`.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p flowgate-ui-tests`
//! and review the diff like code.

use std::path::Path;

/// trybuild compiles the cases in a crate under `target/`, outside this directory, so
/// each group of cases says which manifest it is checked against. The groups run one
/// after the other because the manifest is chosen through the environment.
#[test]
fn ui() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));

    std::env::set_var("FLOWGATE_MANIFEST", here.join("flowgate.toml"));
    {
        let cases = trybuild::TestCases::new();
        cases.pass("pass/*.rs");
        cases.compile_fail("fail/*.rs");
    }

    std::env::set_var("FLOWGATE_MANIFEST", here.join("bad-manifest/flowgate.toml"));
    trybuild::TestCases::new().compile_fail("bad-manifest/*.rs");

    // No override: the attribute walks up from trybuild's crate under `target/`, where
    // no `flowgate.toml` is.
    std::env::remove_var("FLOWGATE_MANIFEST");
    trybuild::TestCases::new().compile_fail("no-manifest/*.rs");
}
