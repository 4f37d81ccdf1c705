//! Unleash as a decision source: a server-side SDK whose decisions are evaluated
//! locally, by the same rule model as the embedded engine.
//!
//! A thread of the source's own fetches the features (`poll.rs`), registers and sends
//! usage metrics; each state read from JSON (`state.rs`) is backed up (`backup.rs`) and
//! then served from a rule store that counts every evaluation for those metrics. The
//! server's address and token are in [`UnleashConfig`].

mod backup;
mod config;
mod control;
mod http;
mod location;
mod outage;
mod poll;
mod report;
mod state;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowgate_config::ConfigError;

pub use config::{BackupLocation, Bootstrap, UnleashConfig};

use crate::inspect::SourceDetails;
use crate::labels::Labels;
use crate::rules::{ContextDefaults, RuleStore};
use crate::source::{DecisionSource, Evaluation, Readiness, Serving};
use crate::variant::Variant;

/// The version of the Unleash client specification this SDK implements.
pub(crate) const SPEC_VERSION: &str = "5.2.0";
/// How this SDK names itself to the server.
pub(crate) const SDK_NAME: &str = concat!("flowgate-rust:", env!("CARGO_PKG_VERSION"));

/// A decision source fed by an Unleash server.
///
/// A background thread fetches the features (with `If-None-Match`, backing off on 429
/// and 5xx, stopping on 401/403/404), registers the client and sends usage metrics.
/// Decisions are made locally on the last good state; a bad or partial reply never
/// replaces it. Every new state is written to the backup file, atomically, before it
/// is served.
///
/// ```
/// use flowgate::unleash::Unleash;
/// use flowgate::{labels, Client};
///
/// // A features document, as `GET /client/features` answers, evaluated offline.
/// let unleash = Unleash::from_json(r#"{"version": 2, "features": [
///     {"name": "Checkout", "enabled": true, "strategies": [{"name": "flexibleRollout",
///      "parameters": {"rollout": "100", "stickiness": "default", "groupId": "Checkout"}}]}
/// ]}"#)?;
/// let client = Client::new(unleash);
/// assert!(client.is_enabled("Checkout", &labels! { "userId" => 7 }));
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
///
/// The background work stops when the last clone of the source (or of a client holding
/// it) is dropped, or at [`UnleashHandle::shutdown`], which also waits for it.
#[derive(Clone)]
pub struct Unleash {
    store: Arc<RuleStore>,
    handle: UnleashHandle,
    /// The backup file, if there is one.
    backup: Option<Arc<Path>>,
    /// Stops the background work when the last clone goes.
    _alive: Arc<control::Alive>,
}

/// Stops an [`Unleash`] source's background work, and tells what it did.
#[derive(Clone, Debug)]
pub struct UnleashHandle {
    control: Arc<control::Control>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl UnleashHandle {
    fn without_thread() -> Self {
        Self {
            control: Arc::default(),
            thread: Arc::default(),
        }
    }

    /// Stops polling, sends the metrics counted so far, and waits for the background
    /// thread to finish: at once if a request hangs, within 2 s for the last metrics.
    /// Idempotent.
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
    /// When the server last sent or confirmed (`304`) a state.
    pub last_success: Option<std::time::SystemTime>,
    /// What went wrong with the last fetch, while the last fetch failed.
    pub last_error: Option<String>,
}

impl UnleashStats {
    fn succeeded(&mut self) {
        self.last_success = Some(std::time::SystemTime::now());
        self.last_error = None;
    }
}

impl Unleash {
    /// Starts the source and fetches from the server in the background. Until the
    /// first fetch it serves, in this order: the backup (by default one per server,
    /// app and environment; see [`UnleashConfig::backup_path`]), if it reads and is no
    /// older than [`UnleashConfig::max_backup_age`]; else the
    /// [bootstrap](UnleashConfig::bootstrap); else nothing, and gates wait for the first
    /// fetch up to their timeout, then take their fallback. [`Client::serving`] says
    /// which, and so does the log, once.
    ///
    /// [`Client::serving`]: crate::Client::serving
    ///
    /// # Errors
    /// When the HTTP client cannot be built (a bad custom header, say).
    pub fn start(mut config: UnleashConfig) -> Result<Self, ConfigError> {
        let http = poll::http_client(&config)?;
        let defaults = ContextDefaults {
            app_name: Some(config.app_name.as_str().into()),
            environment: Some(config.environment.as_deref().unwrap_or("default").into()),
        };
        let store = Arc::new(RuleStore::new(None, defaults, true));
        // Resolved once: the thread writes where this start read.
        let backup = location::backup_file(&config);
        config.backup = backup
            .clone()
            .map_or(config::BackupSetting::Off, config::BackupSetting::At);
        if backup.is_none() {
            tracing::info!(target: "flowgate", "no Unleash backup (turned off)");
        }
        let serving = match backup::initial_state(&config, backup.as_deref()) {
            Some((state, serving)) => {
                store.install(state.compile());
                serving
            }
            None => Serving::Fallback,
        };
        let control = Arc::new(control::Control::serving(serving));
        let thread = poll::spawn(config, http, Arc::clone(&store), Arc::clone(&control))?;
        Ok(Self {
            store,
            backup: backup.map(Arc::from),
            _alive: Arc::new(control::Alive(Arc::clone(&control))),
            handle: UnleashHandle {
                control,
                thread: Arc::new(Mutex::new(Some(thread))),
            },
        })
    }

    /// A source that serves one Unleash features document (the body of
    /// `GET /client/features`, or a delta document with `events`) and talks to no
    /// server: for tests, and to evaluate a saved state. It counts nothing.
    ///
    /// # Errors
    /// A [`ConfigError`] with the line and column of malformed JSON. Rules Unleash may
    /// send but no SDK can read (an unknown strategy, a bad regex) are not errors: they
    /// evaluate to off, as in every Unleash SDK.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let state = state::FeatureState::parse(json, "Unleash features")?;
        let store = RuleStore::new(Some(state.compile()), ContextDefaults::default(), false);
        let handle = UnleashHandle::without_thread();
        handle.control.serve_live();
        Ok(Self {
            store: Arc::new(store),
            backup: None,
            _alive: Arc::new(control::Alive(Arc::clone(&handle.control))),
            handle,
        })
    }

    /// The handle that stops the background work.
    pub fn handle(&self) -> UnleashHandle {
        self.handle.clone()
    }

    /// The backup file (written at every new state, read at start), or `None` when
    /// there is none. By default, one per server, app and environment in the state
    /// directory: see [`UnleashConfig::backup_path`].
    pub fn backup_path(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// Which state is served: the backup or bootstrap until the first fetch, then
    /// [`Serving::Live`]; [`Serving::Fallback`] while there is none.
    pub fn serving(&self) -> Serving {
        self.handle.control.now_serving()
    }

    /// The names of the flags in the state served, sorted.
    pub fn flags(&self) -> Vec<String> {
        self.store.flags()
    }

    /// The rules, for gates to evaluate at their call site.
    pub(crate) fn store(&self) -> Arc<RuleStore> {
        Arc::clone(&self.store)
    }
}

impl fmt::Debug for Unleash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unleash")
            .field("flags", &self.store.len())
            .field("ready", &self.store.readiness().is_ready())
            .field("serving", &self.serving().kind())
            .field("backup", &self.backup)
            .field("stats", &self.handle.stats())
            .finish_non_exhaustive()
    }
}

impl DecisionSource for Unleash {
    fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        self.store.evaluate(flag, labels)
    }

    fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        self.store.variant(flag, labels)
    }

    fn explain(&self, flag: &str, labels: &Labels<'_>) -> Option<crate::explain::Explanation> {
        self.store.explain(flag, labels)
    }

    fn readiness(&self) -> Option<&Readiness> {
        Some(self.store.readiness())
    }

    fn name(&self) -> &'static str {
        "unleash"
    }

    fn serving(&self) -> Serving {
        Unleash::serving(self)
    }

    fn inspect(&self) -> Option<SourceDetails> {
        let stats = self.handle.stats();
        let mut details = SourceDetails::default();
        details.updates.attempts = stats.fetches;
        details.updates.applied = stats.updates;
        details.updates.failed = stats.failures;
        details.updates.last_success = stats.last_success;
        details.updates.last_error = stats.last_error;
        details.flags = self.store.describe();
        Some(details)
    }
}
