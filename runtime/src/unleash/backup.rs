//! The backup of the last good state, and the state served before the first fetch.
//!
//! A backup is written whole or not at all (a temporary file beside it, flushed to disk,
//! renamed over it), so a reader sees the old file or the new one, never a mix, even if
//! the process dies mid-write. A temporary file such a death leaves behind is removed at
//! the next start.
//!
//! A backup's modification time is when the server last confirmed its state: it is
//! written on every new state and touched on every `304 Not Modified`, so its age
//! (shown in [`Serving::Backup`], bounded by `max_backup_age`) means what an operator
//! needs, not when the flags last changed.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::SystemTime;

use super::config::{Bootstrap, UnleashConfig};
use super::http::MAX_BODY_BYTES;
use super::state::FeatureState;
use crate::source::Serving;

/// The text of the file at `path`, read up to [`MAX_BODY_BYTES`].
fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_BODY_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not UTF-8 text"))
}

/// The state to serve at start, and what it is: the backup at `backup` if it reads
/// (and is no older than the configuration allows), else the bootstrap. Says which, once.
pub(super) fn initial_state(
    config: &UnleashConfig,
    backup: Option<&Path>,
) -> Option<(FeatureState, Serving)> {
    if let Some(path) = backup {
        prepare_directory(path);
        remove_leftovers(path);
        if let Some(served) = read_backup(config, path) {
            return Some(served);
        }
    }
    let (text, origin) = match config.bootstrap.as_ref()? {
        Bootstrap::File(path) => match read_capped(path) {
            Ok(text) => (text, path.display().to_string()),
            Err(error) => {
                tracing::warn!(target: "flowgate", file = %path.display(), %error, "the Unleash bootstrap file cannot be read");
                return None;
            }
        },
        Bootstrap::Json(text) => (text.clone(), "bootstrap".to_owned()),
        Bootstrap::Value(value) => (value.to_string(), "bootstrap".to_owned()),
    };
    match FeatureState::parse(&text, &origin) {
        Ok(state) => {
            tracing::info!(
                target: "flowgate",
                flags = state.len(),
                "serving the Unleash bootstrap until the first fetch"
            );
            Some((state, Serving::Bootstrap))
        }
        Err(error) => {
            tracing::warn!(target: "flowgate", %error, "the Unleash bootstrap is invalid and was ignored");
            None
        }
    }
}

/// The backup at `path`, if it reads and is young enough; says what it found.
fn read_backup(config: &UnleashConfig, path: &Path) -> Option<(FeatureState, Serving)> {
    let text = match read_capped(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                target: "flowgate",
                file = %path.display(),
                "no Unleash backup yet: it is written at the first fetch"
            );
            return None;
        }
        Err(error) => {
            tracing::warn!(
                target: "flowgate",
                file = %path.display(),
                %error,
                "the Unleash backup cannot be read and was ignored"
            );
            return None;
        }
    };
    let state = match FeatureState::parse(&text, &path.display().to_string()) {
        Ok(state) => state,
        Err(error) => {
            tracing::warn!(target: "flowgate", %error, "the Unleash backup is corrupt and was ignored");
            return None;
        }
    };
    let confirmed = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let age = confirmed.elapsed().unwrap_or_default();
    if let Some(max) = config.max_backup_age.filter(|max| age > *max) {
        tracing::warn!(
            target: "flowgate",
            file = %path.display(),
            age_seconds = age.as_secs(),
            max_seconds = max.as_secs(),
            "the Unleash backup is older than `max_backup_age` and was ignored"
        );
        return None;
    }
    tracing::info!(
        target: "flowgate",
        file = %path.display(),
        age_seconds = age.as_secs(),
        flags = state.len(),
        "serving the Unleash backup until the first fetch"
    );
    let serving = Serving::Backup {
        path: path.to_path_buf(),
        confirmed,
    };
    Some((state, serving))
}

/// Creates the backup's directory if it is missing (readable by its owner only, on
/// Unix: a backup holds the flags' rules, constraint values included). A directory that
/// cannot be made is logged; the writes that follow will say so too.
fn prepare_directory(path: &Path) {
    let (directory, _) = temporary_prefix(path);
    if directory.is_dir() {
        return;
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if let Err(error) = builder.create(directory) {
        tracing::warn!(
            target: "flowgate",
            directory = %directory.display(),
            %error,
            "cannot create the Unleash backup's directory: there will be no backup"
        );
    }
}

/// Marks the backup at `path` as just confirmed by the server (a `304 Not Modified`):
/// its modification time is its age.
pub(super) fn mark_confirmed(path: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

/// The directory of `path`, and the prefix of its temporary files (`.{name}.`).
fn temporary_prefix(path: &Path) -> (&Path, String) {
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy());
    (directory, format!(".{file_name}."))
}

/// Removes the temporary files of `path` that a process which died mid-write left (its
/// process id is in the name; on Linux a process still running keeps its file).
fn remove_leftovers(path: &Path) {
    let (directory, prefix) = temporary_prefix(path);
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix)?.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running = pid == std::process::id()
            || (cfg!(target_os = "linux") && Path::new(&format!("/proc/{pid}")).exists());
        if !running {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Replaces `path` with `text` so that a reader sees the old file or the new one,
/// never a mix: write a temporary file beside it, flush it to disk, rename it over.
pub(super) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let (directory, prefix) = temporary_prefix(path);
    let temporary = directory.join(format!("{prefix}{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is.
        if let Ok(dir) = std::fs::File::open(directory) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("flowgate-backup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backup.json");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn leftovers_of_dead_writers_are_removed_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("flowgate-backup-left-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backup.json");
        // No process has this id (ids stop well below 2^32 - 2).
        let dead = dir.join(".backup.json.4294967294.tmp");
        let ours = dir.join(format!(".backup.json.{}.tmp", std::process::id()));
        let unrelated = dir.join(".other.json.4294967294.tmp");
        for file in [&dead, &ours, &unrelated] {
            std::fs::write(file, "{").unwrap();
        }
        remove_leftovers(&path);
        assert!(!dead.exists(), "a dead writer's leftover is removed");
        assert!(ours.exists() && unrelated.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_backup_falls_back_to_the_bootstrap() {
        let dir =
            std::env::temp_dir().join(format!("flowgate-backup-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backup.json");
        std::fs::write(&path, "{\"features\": [").unwrap();
        let config =
            UnleashConfig::new("http://127.0.0.1:1/api", "t", "x").bootstrap(Bootstrap::Json(
                r#"{"features": [{"name": "A", "enabled": true, "strategies": []}]}"#.into(),
            ));
        let (state, serving) = initial_state(&config, Some(&path)).unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(serving, Serving::Bootstrap);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
