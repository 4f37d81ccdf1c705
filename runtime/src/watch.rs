//! Watching one file and handing on each settled version of it: how a rules file is
//! reloaded, by the engine (rules and policy) and by a client that takes only its policy
//! from it.
//!
//! Files are saved in many ways: written in place in several writes, truncated and
//! written later, replaced by rename, deleted and created again, behind a symlink whose
//! target is edited or swapped, in a directory that is removed and made again, or as a
//! Kubernetes `ConfigMap` (a `..data` symlink swapped to a new directory). So the watch does
//! not trust any one event:
//!
//! - **What changed** is decided by the file's *fingerprint*: where its path resolves to
//!   (symlinks followed), which file that is (device and inode), its length and its
//!   modification and change times. An event anywhere in the watched directories (the
//!   file's, and its symlink target's) makes the watch look; so does a poll every
//!   [`POLL`], which alone would find every save within a second: it covers what events
//!   miss (a directory removed and made again, a target edited in another directory).
//! - **When it is done** is when the fingerprint stays the same for [`SETTLE`] with no
//!   event in between: a file being written in several steps is read once, at the end.
//!
//! Whoever receives the change reads the file and keeps its last good version when that
//! read fails (the engine: a file with a mistake, a 0-byte or half-written file with no
//! `[flags]` table, a file gone). The watch's thread ends when the watch is dropped.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};

use flowgate_config::ConfigError;

/// How long a file must stay the same, with no event, to count as saved.
const SETTLE: Duration = Duration::from_millis(100);

/// How often the file is looked at when nothing is heard.
const POLL: Duration = Duration::from_millis(250);

/// Watches one file; dropping it stops the watching (and its thread).
pub(crate) struct FileWatch {
    path: PathBuf,
    _watcher: Option<notify::RecommendedWatcher>,
    /// Keeps the thread's channel open while the watch lives, events or not.
    _alive: mpsc::Sender<()>,
}

/// The file as it was before its caller read it: a change made between that read and
/// the start of the watch is then still seen.
#[derive(Debug)]
pub(crate) struct Seen(Option<Fingerprint>);

impl Seen {
    pub(crate) fn now(path: &Path) -> Self {
        Seen(fingerprint(path))
    }
}

/// What a file is right now, as far as a change is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    resolved: Option<PathBuf>,
    identity: (u64, u64),
    len: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (identity, changed) = {
        use std::os::unix::fs::MetadataExt as _;
        (
            (metadata.dev(), metadata.ino()),
            (metadata.ctime(), metadata.ctime_nsec()),
        )
    };
    #[cfg(not(unix))]
    let (identity, changed) = ((0, 0), (0, 0));
    Some(Fingerprint {
        resolved: std::fs::canonicalize(path).ok(),
        identity,
        len: metadata.len(),
        modified: metadata.modified().ok(),
        changed,
    })
}

impl FileWatch {
    /// Calls `changed` with the file's (absolute) path after each settled change, on a
    /// thread of the watch's own, until `changed` returns `false` or the watch is dropped.
    pub(crate) fn start(
        path: &Path,
        seen: Seen,
        mut changed: impl FnMut(&Path) -> bool + Send + 'static,
    ) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let cannot = |error: &dyn std::fmt::Display| {
            ConfigError::new(&origin, format!("cannot watch the file: {error}"))
        };
        let path = std::path::absolute(path).map_err(|e| cannot(&e))?;
        let (heard, events) = mpsc::channel::<()>();
        // The watcher and the watch hold the senders: when both are dropped, the thread's
        // channel closes and it ends.
        let watcher = watch_directories(&path, heard.clone()).map_err(|e| cannot(&e))?;

        let reload_path = path.clone();
        // The thread logs where its creator would: a scoped subscriber included.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::Builder::new()
            .name("flowgate-reload".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut last = seen.0;
                    // The first look is at once: the file may have changed since it was
                    // read.
                    let mut wait = Duration::ZERO;
                    loop {
                        let heard_of = events.recv_timeout(wait);
                        wait = POLL;
                        match heard_of {
                            Ok(()) => {}
                            Err(RecvTimeoutError::Timeout) => {
                                if fingerprint(&reload_path) == last {
                                    continue;
                                }
                            }
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                        let Settled::As(settled) = settle(&events, &reload_path) else {
                            return;
                        };
                        if settled == last {
                            continue;
                        }
                        last = settled;
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
            _alive: heard,
        })
    }

    /// The file watched.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// What a wait for a file to settle came to.
enum Settled {
    /// The file stayed the same for [`SETTLE`] with no event: as it is now (`None`: it
    /// is not there).
    As(Option<Fingerprint>),
    /// The watch is gone.
    Gone,
}

/// Waits until the file has stayed the same for [`SETTLE`] with no event.
fn settle(events: &mpsc::Receiver<()>, path: &Path) -> Settled {
    let mut seen = fingerprint(path);
    loop {
        match events.recv_timeout(SETTLE) {
            Ok(()) => {}
            Err(RecvTimeoutError::Disconnected) => return Settled::Gone,
            Err(RecvTimeoutError::Timeout) => {
                let now = fingerprint(path);
                if now == seen {
                    return Settled::As(now);
                }
                seen = now;
            }
        }
    }
}

/// Watches the file's directory and, when the file is a symlink, its target's. A
/// directory that cannot be watched (it is gone) is left to the poll.
fn watch_directories(
    path: &Path,
    heard: mpsc::Sender<()>,
) -> notify::Result<Option<notify::RecommendedWatcher>> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if !matches!(event.kind, EventKind::Access(_)) {
                let _ = heard.send(());
            }
        }
    })?;
    let mut directories: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(target) = std::fs::canonicalize(path)
        .ok()
        .and_then(|t| t.parent().map(Path::to_path_buf))
    {
        if !directories.contains(&target) {
            directories.push(target);
        }
    }
    let mut watching = false;
    for directory in &directories {
        watching |= watcher
            .watch(directory, RecursiveMode::NonRecursive)
            .is_ok();
    }
    Ok(watching.then_some(watcher))
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
