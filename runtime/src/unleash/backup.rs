//! The backup of the last good state, and the state served before the first fetch.

use std::io::Write as _;
use std::path::Path;

use super::config::{Bootstrap, UnleashConfig};
use super::state::FeatureState;

/// The state to serve at start: the backup if it reads, else the bootstrap.
pub(super) fn initial_state(config: &UnleashConfig) -> Option<FeatureState> {
    if let Some(path) = &config.backup_path {
        match std::fs::read_to_string(path) {
            Ok(text) => match FeatureState::parse(&text, &path.display().to_string()) {
                Ok(state) => return Some(state),
                Err(error) => tracing::warn!(
                    target: "flowgate",
                    %error,
                    "the Unleash backup is corrupt and was ignored"
                ),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                target: "flowgate",
                file = %path.display(),
                %error,
                "the Unleash backup cannot be read and was ignored"
            ),
        }
    }
    let (text, origin) = match config.bootstrap.as_ref()? {
        Bootstrap::File(path) => match std::fs::read_to_string(path) {
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
        Ok(state) => Some(state),
        Err(error) => {
            tracing::warn!(target: "flowgate", %error, "the Unleash bootstrap is invalid and was ignored");
            None
        }
    }
}

/// Replaces `path` with `text` so that a reader sees the old file or the new one,
/// never a mix: write a temporary file beside it, flush it to disk, rename it over.
pub(super) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy());
    let temporary = directory.join(format!(".{file_name}.{}.tmp", std::process::id()));
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
    fn a_corrupt_backup_falls_back_to_the_bootstrap() {
        let dir =
            std::env::temp_dir().join(format!("flowgate-backup-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backup.json");
        std::fs::write(&path, "{\"features\": [").unwrap();
        let config = UnleashConfig::new("http://127.0.0.1:1/api", "t", "x")
            .backup_path(&path)
            .bootstrap(Bootstrap::Json(
                r#"{"features": [{"name": "A", "enabled": true, "strategies": []}]}"#.into(),
            ));
        let state = initial_state(&config).unwrap();
        assert_eq!(state.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
