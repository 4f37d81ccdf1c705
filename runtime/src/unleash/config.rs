//! How to reach an Unleash server and behave as its client, and where a state comes
//! from before the first fetch.
//!
//! The API token is kept here and only here: it is never printed (`Debug` shows
//! `<redacted>`) and goes out in a header marked sensitive.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a state comes from before the first fetch.
#[derive(Clone)]
pub enum Bootstrap {
    /// A file with a features document (`/client/features` body).
    File(PathBuf),
    /// A features document.
    Json(String),
    /// A features document, already parsed.
    Value(serde_json::Value),
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bootstrap::File(path) => f.debug_tuple("File").field(path).finish(),
            Bootstrap::Json(_) => f.write_str("Json(..)"),
            Bootstrap::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// Where a source keeps its backup: the default place, a path the code chose, or
/// nowhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum BackupSetting {
    /// Per server, app and environment, in the state directory (see
    /// [`UnleashConfig::backup_path`]).
    #[default]
    Default,
    At(PathBuf),
    Off,
}

/// What [`UnleashConfig::backup_path`] takes: a path (`&str`, `String`, `&Path`,
/// `PathBuf`, `OsString`, ...), or `None` for no backup at all.
///
/// Sealed: implemented for those types only, so that `backup_path(None)` needs no
/// type annotation.
pub trait BackupLocation: sealed::Sealed {
    #[doc(hidden)]
    fn into_location(self) -> Option<PathBuf>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! backup_location {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl BackupLocation for $ty {
            fn into_location(self) -> Option<PathBuf> {
                Some(PathBuf::from(self))
            }
        }
    )*};
}

backup_location!(
    &str,
    String,
    &String,
    PathBuf,
    &PathBuf,
    &Path,
    Box<Path>,
    std::ffi::OsString,
    &std::ffi::OsStr
);

impl sealed::Sealed for Option<PathBuf> {}
impl BackupLocation for Option<PathBuf> {
    fn into_location(self) -> Option<PathBuf> {
        self
    }
}

/// How to reach an Unleash server, and how to behave as its client.
///
/// Every state fetched is backed up by default, so that a process started while the
/// server is down serves the flags it last knew: see
/// [`backup_path`](Self::backup_path).
///
/// ```
/// use std::time::Duration;
/// use flowgate::unleash::UnleashConfig;
///
/// let config = UnleashConfig::new("http://127.0.0.1:4242/api", "checkout-service", "default:development.secret")
///     .environment("production")
///     .refresh_interval(Duration::from_secs(5))
///     .backup_path("/var/lib/checkout/unleash-backup.json");
/// // The token never shows:
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct UnleashConfig {
    pub(crate) url: String,
    pub(crate) app_name: String,
    pub(crate) instance_id: String,
    /// One per client start, in the header and in the bodies alike.
    pub(crate) connection_id: String,
    pub(crate) api_token: String,
    pub(crate) environment: Option<String>,
    pub(crate) refresh_interval: Duration,
    pub(crate) metrics_interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) custom_headers: Vec<(String, String)>,
    pub(crate) backup: BackupSetting,
    pub(crate) max_backup_age: Option<Duration>,
    pub(crate) bootstrap: Option<Bootstrap>,
}

impl UnleashConfig {
    /// A client of the Unleash API at `url` (ending in `/api`), as `app_name`, with a
    /// backend (server-side SDK) token.
    pub fn new(
        url: impl Into<String>,
        app_name: impl Into<String>,
        api_token: impl Into<String>,
    ) -> Self {
        let app_name = app_name.into();
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            instance_id: format!(
                "{app_name}-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ),
            connection_id: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            app_name,
            api_token: api_token.into(),
            environment: None,
            refresh_interval: Duration::from_secs(15),
            metrics_interval: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            custom_headers: Vec::new(),
            backup: BackupSetting::Default,
            max_backup_age: None,
            bootstrap: None,
        }
    }

    /// From `UNLEASH_URL`, `UNLEASH_API_TOKEN` and `UNLEASH_APP_NAME` (default
    /// `flowgate`); `None` without a URL.
    pub fn from_env() -> Option<Self> {
        let url = std::env::var("UNLEASH_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let token = std::env::var("UNLEASH_API_TOKEN").unwrap_or_default();
        let app = std::env::var("UNLEASH_APP_NAME")
            .ok()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "flowgate".to_owned());
        Some(Self::new(url, app, token))
    }

    /// This instance's id (default: app name, process id and a random part).
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// The `environment` context field when a call's labels have none.
    #[must_use]
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// How often the features are fetched (default 15 s).
    #[must_use]
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// How often usage metrics are sent (default 60 s).
    #[must_use]
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval;
        self
    }

    /// The longest a request to the server may take (default 10 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// A header sent with every request.
    #[must_use]
    pub fn custom_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_headers.push((name.into(), value.into()));
        self
    }

    /// Where every new state is saved, or `None` for no backup.
    ///
    /// A backup is read at start, so that decisions are served at once, before the
    /// first fetch, and through an outage that began before the process did (see
    /// [`Serving::Backup`](crate::source::Serving::Backup)). A state is saved
    /// (atomically) before it is served, so a process restarted during an outage never
    /// serves an older state than the one it was serving. A body that does not read is
    /// never saved; a file that cannot be written is logged (with its path), and the new
    /// state is served all the same.
    ///
    /// **By default** the backup is kept in a file per server, app and environment
    /// (`unleash-{app}-{environment}-{hash}.json`) in `$FLOWGATE_STATE_DIR`, else the
    /// OS state directory (`$XDG_STATE_HOME/flowgate`, `~/.local/state/flowgate` on
    /// Linux), else its cache directory (`~/Library/Caches/flowgate` on macOS,
    /// `%LOCALAPPDATA%\flowgate` on Windows), else the temporary directory. Its path is
    /// logged at start and given by [`Unleash::backup_path`](super::Unleash::backup_path).
    /// `FLOWGATE_UNLEASH_BACKUP=off` turns the default off, and a path there replaces it;
    /// a path set here wins over both.
    ///
    /// ```
    /// use flowgate::unleash::UnleashConfig;
    ///
    /// let url = "http://127.0.0.1:4242/api";
    /// let token = "default:production.secret";
    /// // A path of your own (a volume that outlives the container, say):
    /// let kept = UnleashConfig::new(url, "checkout", token).backup_path("/var/lib/checkout/unleash.json");
    /// // No backup at all (a process that must never serve a state it did not fetch):
    /// let none = UnleashConfig::new(url, "checkout", token).backup_path(None);
    /// ```
    #[must_use]
    pub fn backup_path(mut self, path: impl BackupLocation) -> Self {
        self.backup = match path.into_location() {
            Some(path) => BackupSetting::At(path),
            None => BackupSetting::Off,
        };
        self
    }

    /// The oldest backup served at start (default: any age, as the Unleash SDKs do).
    ///
    /// A backup's age is the time since the server last confirmed its state (a poll
    /// answered with a new state or `304 Not Modified`), not since it was written. An
    /// older backup is logged and ignored: the bootstrap, if any, is served instead,
    /// else every flag takes its fallback until the first fetch.
    #[must_use]
    pub fn max_backup_age(mut self, age: Duration) -> Self {
        self.max_backup_age = Some(age);
        self
    }

    /// A state to serve before the first fetch when there is no backup.
    #[must_use]
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }
}

impl fmt::Debug for UnleashConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnleashConfig")
            .field("url", &self.url)
            .field("app_name", &self.app_name)
            .field("instance_id", &self.instance_id)
            .field("connection_id", &self.connection_id)
            .field("api_token", &"<redacted>")
            .field("environment", &self.environment)
            .field("refresh_interval", &self.refresh_interval)
            .field("metrics_interval", &self.metrics_interval)
            .field("request_timeout", &self.request_timeout)
            .field(
                "custom_headers",
                &self
                    .custom_headers
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .field("backup", &self.backup)
            .field("max_backup_age", &self.max_backup_age)
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}
