//! Watching one file and calling back when it changes: how a rules file is reloaded,
//! by the engine (rules and policy) and by a client that takes only its policy from it.
//!
//! The file's directory is watched rather than the file, so that a file replaced by
//! rename (how most editors save) or deleted and created again is still seen. Events
//! close together are one change, handed on once on a thread of the watch's own, which
//! ends when the watch is dropped.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use flowgate_config::ConfigError;

/// Editors write a file in several steps (truncate, write, rename); events this close
/// together are one change, loaded once.
const SETTLE: Duration = Duration::from_millis(50);

/// Watches one file; dropping it stops the watching (and its thread).
pub(crate) struct FileWatch {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
}

impl FileWatch {
    /// Calls `changed` with the file's (absolute) path after each change, on a thread of
    /// the watch's own, until `changed` returns `false` or the watch is dropped.
    pub(crate) fn start(
        path: &Path,
        mut changed: impl FnMut(&Path) -> bool + Send + 'static,
    ) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let cannot = |error: &dyn std::fmt::Display| {
            ConfigError::new(&origin, format!("cannot watch the file: {error}"))
        };
        let path = std::path::absolute(path).map_err(|e| cannot(&e))?;
        let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let file_name = path.file_name().map(ToOwned::to_owned);

        let (notify_change, events) = mpsc::channel::<()>();
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
            .map_err(|e| cannot(&e))?;
        watcher
            .watch(&directory, RecursiveMode::NonRecursive)
            .map_err(|e| cannot(&e))?;

        let reload_path = path.clone();
        // The thread logs where its creator would: a scoped subscriber included.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::Builder::new()
            .name("flowgate-reload".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    // Ends when the watcher, and with it the sender, is dropped.
                    while events.recv().is_ok() {
                        while events.recv_timeout(SETTLE).is_ok() {}
                        if !changed(&reload_path) {
                            return;
                        }
                    }
                });
            })
            .map_err(|e| cannot(&e))?;

        Ok(Self {
            path,
            _watcher: watcher,
        })
    }

    /// The file watched.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
