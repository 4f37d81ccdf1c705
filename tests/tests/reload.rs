//! Hot reload against real files and the real file watcher: edits take effect, bad
//! edits and deletions keep the last good rules, and the engine's reload signal is
//! what the tests wait on (no sleeps).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flowgate::engine::{Engine, ReloadState};
use flowgate::{Client, Labels};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("flowgate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("flowgate.toml")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits on the engine's reload signal until `done` holds for its state.
fn wait_until(engine: &Engine, what: &str, done: impl Fn(&ReloadState) -> bool) -> ReloadState {
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut state = engine.reload_state();
    while !done(&state) {
        assert!(
            Instant::now() < give_up,
            "never saw: {what} (last: {state:?})"
        );
        state = engine.wait_for_reload(state.attempts, Duration::from_secs(1));
    }
    state
}

fn rules(enabled: bool) -> String {
    format!("[flags.Checkout]\nenabled = {enabled}\n")
}

/// Writes the way editors save: to a temporary file, then renamed over the original.
fn save_by_rename(path: &Path, text: &str) {
    let temporary = path.with_extension("toml.swp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[test]
fn an_edit_takes_effect_without_restart() {
    let dir = TempDir::new("reload-edit");
    std::fs::write(dir.file(), rules(true)).unwrap();
    let engine = Engine::watch_file(dir.file()).unwrap();
    let client = Client::new(engine.clone());
    assert!(client.is_enabled("Checkout", &Labels::new()));
    assert_eq!(
        engine.watched_file().unwrap().file_name().unwrap(),
        "flowgate.toml"
    );

    std::fs::write(dir.file(), rules(false)).unwrap();
    wait_until(&engine, "the edit applied", |s| {
        s.applied >= 2 && s.last_error.is_none()
    });
    assert!(!client.is_enabled("Checkout", &Labels::new()));

    save_by_rename(&dir.file(), &rules(true));
    wait_until(&engine, "the rename applied", |s| {
        s.applied >= 3 && s.last_error.is_none()
    });
    assert!(client.is_enabled("Checkout", &Labels::new()));
}

#[test]
fn a_bad_edit_keeps_the_last_good_rules_until_fixed() {
    let dir = TempDir::new("reload-bad");
    std::fs::write(dir.file(), rules(true)).unwrap();
    let engine = Engine::watch_file(dir.file()).unwrap();
    let client = Client::new(engine.clone());

    // Half-written by an editor: a table that never closes.
    std::fs::write(dir.file(), "[flags.Checkout\nenabled = fals").unwrap();
    let state = wait_until(&engine, "the bad edit rejected", |s| s.last_error.is_some());
    assert!(state.last_error.unwrap().contains("flowgate.toml:1:"));
    assert!(
        client.is_enabled("Checkout", &Labels::new()),
        "last good rules stay"
    );

    // Valid TOML, invalid rule: also kept out.
    let before = engine.reload_state().attempts;
    std::fs::write(dir.file(), "[flags.Checkout]\nrollout = 140\n").unwrap();
    let state = wait_until(&engine, "the bad rule rejected", |s| {
        s.attempts > before
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("rollout"))
    });
    assert_eq!(state.applied, 1);
    assert!(client.is_enabled("Checkout", &Labels::new()));

    std::fs::write(dir.file(), rules(false)).unwrap();
    wait_until(&engine, "the fix applied", |s| {
        s.applied == 2 && s.last_error.is_none()
    });
    assert!(!client.is_enabled("Checkout", &Labels::new()));
}

#[test]
fn a_deleted_file_keeps_the_rules_and_its_return_is_loaded() {
    let dir = TempDir::new("reload-delete");
    std::fs::write(dir.file(), rules(true)).unwrap();
    let engine = Engine::watch_file(dir.file()).unwrap();
    let client = Client::new(engine.clone());

    std::fs::remove_file(dir.file()).unwrap();
    let state = wait_until(&engine, "the deletion noticed", |s| s.last_error.is_some());
    assert!(state.last_error.unwrap().contains("cannot read"));
    assert!(client.is_enabled("Checkout", &Labels::new()));

    std::fs::write(dir.file(), rules(false)).unwrap();
    wait_until(&engine, "the new file loaded", |s| {
        s.applied == 2 && s.last_error.is_none()
    });
    assert!(!client.is_enabled("Checkout", &Labels::new()));
}

#[test]
fn a_bad_file_at_start_is_an_error_naming_the_file() {
    let dir = TempDir::new("reload-start");
    std::fs::write(
        dir.file(),
        "[flags.Checkout]\nenabled = true\nrollout = 101\n",
    )
    .unwrap();
    let error = Client::from_file(dir.file()).unwrap_err();
    assert!(error.origin().ends_with("flowgate.toml"), "{error}");
    assert_eq!(
        (error.line(), error.flag(), error.key()),
        (3, Some("Checkout"), Some("rollout"))
    );
    let missing = Client::from_file(dir.0.join("missing.toml")).unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}
