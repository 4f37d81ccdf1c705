//! The build follows the manifest: editing `flowgate.toml`, or setting or changing
//! `FLOWGATE_MANIFEST`, rebuilds a crate whose gates it declares, with no `cargo
//! clean`. A real crate built by real cargo, twice and more.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The target directory trybuild builds the ui cases in, under this build's own.
fn trybuild_target() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    target.join("tests/trybuild")
}

/// `cargo build` of the crate at `dir`, offline (the workspace's lock file pins every
/// dependency), with `manifest` as `FLOWGATE_MANIFEST` when given. Its stderr on failure.
fn build(dir: &Path, manifest: Option<&Path>) -> Result<(), String> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(dir)
        .args(["build", "--offline", "--quiet"])
        // trybuild's (the ui test runs first): flowgate and its dependencies are built
        // there already.
        .env("CARGO_TARGET_DIR", trybuild_target())
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

/// A crate at a new temporary directory depending on flowgate as `dependency` (a
/// name: `flowgate`, or another for a renamed dependency), with `main` as its
/// `src/main.rs`.
fn probe_crate(name: &str, dependency: &str, main: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let runtime = workspace().join("runtime").canonicalize().unwrap();
    let package = if dependency == "flowgate" {
        String::new()
    } else {
        "package = \"flowgate\", ".to_owned()
    };
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\n{dependency} = {{ {package}path = {:?} }}\n[workspace]\n",
            runtime.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    dir
}

/// `gates = { package = "flowgate", .. }`: the attribute and `flags!` find the crate
/// under its new name, with no `crate = gates`.
#[test]
fn a_renamed_dependency_needs_no_crate_argument() {
    let dir = probe_crate(
        "renamed-probe",
        "gates",
        "gates::flags!();\n\
         #[gates::feature_gate(\"Probe\", labels(user = 1))]\nfn probe() -> Option<()> { Some(()) }\n\
         fn main() { let _ = probe(); let _ = flags::Probe::NAME; }\n",
    );
    std::fs::write(dir.join("flowgate.toml"), "[flags.Probe]\n").unwrap();
    build(&dir, None).expect("a renamed dependency builds");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn editing_the_manifest_or_pointing_elsewhere_rebuilds() {
    let dir = probe_crate(
        "rebuild-probe",
        "flowgate",
        "#[flowgate::feature_gate(\"Probe\")]\nfn probe() -> Option<()> { Some(()) }\n\
         fn main() { let _ = probe(); }\n",
    );
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
