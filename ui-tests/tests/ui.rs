//! Compile tests of `#[feature_gate]`.
//!
//! `pass/` must build; `fail/` must fail with exactly the reviewed `.stderr`.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p flowgate-ui-tests`
//! and review the diff like code.

use std::path::Path;

/// trybuild compiles the cases in a crate under `target/`, outside this directory, so
/// each group of cases says which manifest it is checked against. The groups run one
/// after the other because the manifest is chosen through the environment.
/// The toolchain the reviewed `.stderr` files were written with: rustc's wording moves
/// between releases, so on any other the compile-fail cases are skipped (as tracing
/// gates its ui tests), and say so. Regenerate the files on a new toolchain and move
/// this with them.
const PINNED_TOOLCHAIN: &str = "1.95.";

fn on_pinned_toolchain() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let pinned = version.starts_with(&format!("rustc {PINNED_TOOLCHAIN}"));
    if !pinned {
        eprintln!(
            "ui tests skipped: the reviewed messages are of rustc {PINNED_TOOLCHAIN}x, this is {}",
            version.trim()
        );
    }
    pinned
}

#[test]
fn ui() {
    if !on_pinned_toolchain() {
        return;
    }
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
