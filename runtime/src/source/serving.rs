//! Which state a source is deciding from right now: its own, a backup, a bootstrap, or
//! none (every flag on its fallback). What a readiness endpoint reports.
//!
//! Asked rarely (a health check, a log line), never on a gate's path, so a source may
//! take a lock to answer it.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Which state a source is deciding from: what a readiness endpoint shows.
///
/// ```
/// use flowgate::{source::Serving, testing::InMemorySource};
///
/// let client = InMemorySource::new().enable("A").into_client();
/// assert_eq!(client.serving(), Serving::Live);
/// assert_eq!(client.serving().to_string(), "live");
/// let pending = InMemorySource::pending().into_client();
/// assert_eq!(pending.serving(), Serving::Fallback);
/// ```
///
/// With the `unleash` feature, a process started while the server is down serves
/// [`Serving::Backup`] (the state an earlier process saved) until its first fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Serving {
    /// The source's own current state: rules read from their file, the last state this
    /// process fetched from a server, flags set in code.
    Live,
    /// A backup that an earlier process saved, served until the source fetches a state
    /// of its own.
    Backup {
        /// The backup file.
        path: PathBuf,
        /// When the server last confirmed that state (a fetch or a `304 Not Modified`).
        confirmed: SystemTime,
    },
    /// The bootstrap state given in code, served until the source fetches a state of
    /// its own.
    Bootstrap,
    /// No state: every flag takes its fallback (the source is not ready, or there is
    /// none).
    Fallback,
}

impl Serving {
    /// How old the state is, for a backup: the time since the server last confirmed
    /// it. `None` for the others.
    pub fn age(&self) -> Option<Duration> {
        match self {
            Serving::Backup { confirmed, .. } => {
                Some(confirmed.elapsed().unwrap_or(Duration::ZERO))
            }
            _ => None,
        }
    }

    /// A short name: `live`, `backup`, `bootstrap` or `fallback`.
    pub fn kind(&self) -> &'static str {
        match self {
            Serving::Live => "live",
            Serving::Backup { .. } => "backup",
            Serving::Bootstrap => "bootstrap",
            Serving::Fallback => "fallback",
        }
    }
}

/// `live`, `bootstrap`, `fallback`, or `backup {path} (confirmed {n}s ago)`.
impl fmt::Display for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Serving::Backup { path, .. } => write!(
                f,
                "backup {} (confirmed {}s ago)",
                path.display(),
                self.age().unwrap_or_default().as_secs()
            ),
            other => f.write_str(other.kind()),
        }
    }
}

/// `{"serving": "backup", "path": "...", "age_seconds": 42}`; the others have `serving`
/// only.
impl serde::Serialize for Serving {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("serving", self.kind())?;
        if let Serving::Backup { path, .. } = self {
            map.serialize_entry("path", &path.display().to_string())?;
            map.serialize_entry("age_seconds", &self.age().unwrap_or_default().as_secs())?;
        }
        map.end()
    }
}
