//! The build follows the manifest: editing `flowgate.toml`, or setting or changing
//! `FLOWGATE_MANIFEST`, rebuilds a crate whose gates it declares, with no `cargo
//! clean`. A real crate built by real cargo, twice and more.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo build` of the crate at `dir`, offline (the workspace's lock file pins every
/// dependency), with `manifest` as `FLOWGATE_MANIFEST` when given. Its stderr on failure.
fn build(dir: &Path, manifest: Option<&Path>) -> Result<(), String> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(dir)
        .args(["build", "--offline", "--quiet"])
        // Shared by every run of this test, so that flowgate builds once.
        .env("CARGO_TARGET_DIR", workspace().join("target/rebuild-test"))
        .env_remove("FLOWGATE_MANIFEST")
        .env_remove("RUSTFLAGS");
    if let Some(manifest) = manifest {
        cargo.env("FLOWGATE_MANIFEST", manifest);
    }
    let output = cargo.output().expect("cargo runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn editing_the_manifest_or_pointing_elsewhere_rebuilds() {
    let dir = std::env::temp_dir().join(format!("flowgate-rebuild-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let runtime = workspace().join("runtime").canonicalize().unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"rebuild-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\nflowgate = {{ path = {:?} }}\n[workspace]\n",
            runtime.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "#[flowgate::feature_gate(\"Probe\")]\nfn probe() -> Option<()> { Some(()) }\n\
         fn main() { let _ = probe(); }\n",
    )
    .unwrap();
    let declared = "[flags.Probe]\ndescription = \"declared\"\n";
    let manifest = dir.join("flowgate.toml");
    std::fs::write(&manifest, declared).unwrap();

    build(&dir, None).expect("declared: builds");

    // The flag removed from the file: the next build sees it.
    std::fs::write(&manifest, "[flags.Other]\n").unwrap();
    let error = build(&dir, None).expect_err("undeclared: fails");
    assert!(error.contains("unknown flag `Probe`"), "{error}");

    std::fs::write(&manifest, declared).unwrap();
    build(&dir, None).expect("declared again: builds");

    // Pointed at another file by the environment, without touching any file.
    let elsewhere = dir.join("elsewhere.toml");
    std::fs::write(&elsewhere, "[flags.Other]\n").unwrap();
    let error = build(&dir, Some(&elsewhere)).expect_err("the override has no Probe");
    assert!(error.contains("unknown flag `Probe`"), "{error}");

    // And back: the variable unset.
    build(&dir, None).expect("no override: builds");
    let _ = std::fs::remove_dir_all(&dir);
}
