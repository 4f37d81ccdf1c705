//! Unleash as a decision source: a server-side SDK whose decisions are evaluated
//! locally, by the embedded engine's rule model.

mod backup;
pub(crate) mod features;
mod poll;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::decision::{Fallback, Variant};
use crate::engine::model::ContextDefaults;
use crate::engine::{ConfigError, Engine};
use crate::labels::Labels;
use crate::limits::Limits;
use crate::source::{DecisionSource, Evaluation, FlagSlot, Readiness};

/// The version of the Unleash client specification this SDK implements.
pub(crate) const SPEC_VERSION: &str = "5.2.0";
/// How this SDK names itself to the server.
pub(crate) const SDK_NAME: &str = concat!("flowgate-rust:", env!("CARGO_PKG_VERSION"));

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

/// How to reach an Unleash server, and how to behave as its client.
///
/// ```
/// use std::time::Duration;
/// use flowgate::UnleashConfig;
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
    pub(crate) backup_path: Option<PathBuf>,
    pub(crate) bootstrap: Option<Bootstrap>,
    pub(crate) limits_file: Option<PathBuf>,
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
            backup_path: None,
            bootstrap: None,
            limits_file: None,
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

    /// Where every new state is saved (atomically), and read from at start so that
    /// decisions are served at once, before the first fetch.
    ///
    /// A state is saved before it is served, so a process restarted during an outage
    /// never serves an older state than the one it was serving. A body that does not
    /// read is never saved; a file that cannot be written is logged (with its path),
    /// and the new state is served all the same.
    #[must_use]
    pub fn backup_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.backup_path = Some(path.into());
        self
    }

    /// A `flowgate.toml` whose `rate_limit` and `concurrency` rules apply to the flags
    /// Unleash decides (its other keys are ignored here). The file is watched, and a
    /// change applies as it does for the embedded engine.
    #[must_use]
    pub fn limits_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.limits_file = Some(path.into());
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
            .field("backup_path", &self.backup_path)
            .field("bootstrap", &self.bootstrap)
            .field("limits_file", &self.limits_file)
            .finish()
    }
}

/// A decision source fed by an Unleash server.
///
/// A background thread fetches the features (with `If-None-Match`, backing off on 429
/// and 5xx, stopping on 401/403/404), registers the client and sends usage metrics.
/// Decisions are made locally on the last good state; a bad or partial reply never
/// replaces it. Every new state is written to the backup file, atomically.
#[derive(Clone)]
pub struct Unleash {
    engine: Engine,
    /// Watches the rules file whose limits apply, when one is configured.
    limits: Option<Engine>,
    handle: UnleashHandle,
}

/// Stops an [`Unleash`] source's background work.
#[derive(Clone, Debug)]
pub struct UnleashHandle {
    control: Arc<poll::Control>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl UnleashHandle {
    /// Stops polling, sends the metrics counted so far, and waits for the background
    /// thread to finish (at most about the request timeout). Idempotent.
    pub fn shutdown(&self) {
        self.control.shutdown();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Features fetched, 304s, failures and metrics sent so far.
    pub fn stats(&self) -> UnleashStats {
        self.control.stats()
    }

    /// Waits until more than `fetches` fetches were attempted, or `timeout` passes;
    /// returns the stats then. Lets a caller observe polling instead of sleeping.
    pub fn wait_for_fetch(&self, fetches: u64, timeout: Duration) -> UnleashStats {
        self.control.wait_for_fetch(fetches, timeout)
    }
}

/// What the background work of an [`Unleash`] source has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnleashStats {
    /// Fetches answered with new features.
    pub updates: u64,
    /// Fetches answered `304 Not Modified`.
    pub not_modified: u64,
    /// Fetches that failed (network, status, bad body).
    pub failures: u64,
    /// Metrics reports the server accepted.
    pub metrics_sent: u64,
    /// Whether the client registered.
    pub registered: bool,
    /// Whether polling stopped for good (401, 403, 404).
    pub stopped: bool,
    /// Fetches attempted, whatever came of them.
    pub fetches: u64,
    /// How far polling has backed off: the next fetch waits `backoff + 1` refresh
    /// intervals (0 to 10; back to 0 after a success).
    pub backoff: u32,
}

impl Unleash {
    /// Starts the source: serves the backup (or bootstrap) at once if there is one,
    /// and fetches from the server in the background.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (a bad custom header, say).
    pub fn start(config: UnleashConfig) -> Result<Self, ConfigError> {
        let defaults = ContextDefaults {
            app_name: Some(config.app_name.as_str().into()),
            environment: Some(config.environment.as_deref().unwrap_or("default").into()),
        };
        let engine = Engine::pending_with_defaults(defaults);
        let initial = backup::initial_state(&config);
        if let Some(state) = initial {
            engine.install_unleash(&state);
        }
        let limits = config
            .limits_file
            .as_ref()
            .map(Engine::watch_file)
            .transpose()?;
        let control = Arc::new(poll::Control::default());
        let thread = poll::spawn(config, engine.clone(), Arc::clone(&control))?;
        Ok(Self {
            engine,
            limits,
            handle: UnleashHandle {
                control,
                thread: Arc::new(Mutex::new(Some(thread))),
            },
        })
    }

    /// The handle that stops the background work.
    pub fn handle(&self) -> UnleashHandle {
        self.handle.clone()
    }

    /// The engine evaluating the fetched features.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl fmt::Debug for Unleash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unleash")
            .field("engine", &self.engine)
            .field("limits", &self.limits)
            .field("stats", &self.handle.stats())
            .finish()
    }
}

impl DecisionSource for Unleash {
    fn evaluate(&self, flag: &str, labels: &Labels) -> Evaluation {
        self.engine.evaluate(flag, labels)
    }

    #[inline]
    fn evaluate_at(&self, flag: &str, slot: &FlagSlot, labels: &Labels) -> Evaluation {
        self.engine.evaluate_at(flag, slot, labels)
    }

    fn variant(&self, flag: &str, labels: &Labels) -> Option<Variant> {
        self.engine.variant(flag, labels)
    }

    fn readiness(&self) -> Option<&Readiness> {
        self.engine.readiness()
    }

    fn fallback(&self, flag: &str) -> Option<Fallback> {
        self.engine.fallback(flag)
    }

    fn limits(&self) -> Option<&Limits> {
        self.limits.as_ref().unwrap_or(&self.engine).limits()
    }

    fn shutdown(&self) {
        self.handle.shutdown();
    }
}
