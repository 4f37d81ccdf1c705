//! Reloading a rules file when it changes.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Weak;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::{ConfigError, Engine, Shared};

/// Editors write a file in several steps (truncate, write, rename); events this close
/// together are one change, loaded once.
const SETTLE: Duration = Duration::from_millis(50);

/// Watches one file; dropping it stops the watching.
pub(crate) struct FileWatch {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
}

impl FileWatch {
    /// Watches the file's directory rather than the file, so that a file replaced by
    /// rename (how most editors save) or deleted and created again is still seen.
    pub(crate) fn start(path: &Path, engine: Weak<Shared>) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let path = std::path::absolute(path)
            .map_err(|e| ConfigError::at(&origin, 0, 0, format!("cannot watch the file: {e}")))?;
        let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let file_name = path.file_name().map(ToOwned::to_owned);

        let (notify_change, changes) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                if event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == file_name.as_deref())
                {
                    let _ = notify_change.send(());
                }
            })
            .map_err(|e| ConfigError::at(&origin, 0, 0, format!("cannot watch the file: {e}")))?;
        watcher
            .watch(&directory, RecursiveMode::NonRecursive)
            .map_err(|e| ConfigError::at(&origin, 0, 0, format!("cannot watch the file: {e}")))?;

        let reload_path = path.clone();
        // The thread logs where its creator would: a scoped subscriber included.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::Builder::new()
            .name("flowgate-reload".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    // Ends when the watcher, and with it the sender, is dropped.
                    while changes.recv().is_ok() {
                        while changes.recv_timeout(SETTLE).is_ok() {}
                        let Some(shared) = engine.upgrade() else {
                            return;
                        };
                        Engine { shared }.reload_file(&reload_path);
                    }
                });
            })
            .map_err(|e| ConfigError::at(&origin, 0, 0, format!("cannot watch the file: {e}")))?;

        Ok(Self {
            path,
            _watcher: watcher,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
