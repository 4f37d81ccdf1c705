//! The embedded engine: the source that decides with the rules of a `flowgate.toml`,
//! loaded from a text or a file and reloaded when the file changes.
//!
//! A load reads the file through `flowgate_config` (the same checks and messages as the
//! attribute's compile-time check), compiles it into the rule model (`compile.rs`) and
//! swaps it in whole; a load that fails leaves the last good rules in force. The file's
//! fallbacks and limits go to the engine's policy, which a client using the engine
//! applies (the engine itself never limits a flow).

mod compile;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use flowgate_config::{ConfigError, Document, STRING_ORIGIN};

use crate::inspect::SourceDetails;
use crate::labels::Labels;
use crate::policy::Policy;
use crate::rules::{ContextDefaults, RuleStore};
use crate::source::{DecisionSource, Evaluation, Readiness};
use crate::variant::Variant;

/// A decision source that evaluates the rules of a `flowgate.toml` in process.
///
/// Every load compiles the rules once into a snapshot; gates read the current snapshot
/// without taking a lock, and a reload swaps in a new one whole. A load that fails
/// leaves the last good snapshot in force. The file's `fallback`s and limits apply to
/// every client built on the engine ([`Client::new`](crate::Client::new)).
///
/// ```
/// use flowgate::{engine::Engine, labels, Client};
///
/// let engine = Engine::from_toml_str(r#"
///     [flags.NewCheckout]
///     enabled = true
///     rollout = 50
///     constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
/// "#)?;
/// let client = Client::new(engine.clone());
/// assert!(!client.is_enabled("NewCheckout", &labels! { "userId" => 1, "region" => "apac" }));
///
/// engine.replace_from_toml_str("[flags.NewCheckout]\nenabled = false\n")?;
/// assert!(!client.is_enabled("NewCheckout", &labels! { "userId" => 1, "region" => "eu" }));
/// assert_eq!(engine.reload_state().applied, 2);
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<RuleStore>,
    policy: Arc<Policy>,
    reloads: Mutex<ReloadState>,
    reloaded: Condvar,
    #[cfg(feature = "watch")]
    watch: Mutex<Option<crate::watch::FileWatch>>,
}

/// What happened to the loads of an engine so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadState {
    /// Loads attempted, including the first and the failed ones.
    pub attempts: u64,
    /// Loads that replaced the rules.
    pub applied: u64,
    /// The error of the last failed load, if the last load failed.
    pub last_error: Option<String>,
    /// Loads that failed (the rules stayed as they were).
    pub failed: u64,
    /// When a load last replaced the rules.
    pub last_applied: Option<std::time::SystemTime>,
}

impl Engine {
    fn with_store(store: RuleStore) -> Self {
        Engine {
            shared: Arc::new(Shared {
                store: Arc::new(store),
                policy: Arc::default(),
                reloads: Mutex::new(ReloadState::default()),
                reloaded: Condvar::new(),
                #[cfg(feature = "watch")]
                watch: Mutex::new(None),
            }),
        }
    }

    /// An engine with the rules of `document`.
    fn with_document(document: &Document, origin: &str) -> Result<Self, ConfigError> {
        let engine = Self::with_store(RuleStore::new(None, ContextDefaults::default(), false));
        engine.install(document, origin)?;
        engine.record(Ok(()));
        Ok(engine)
    }

    /// An engine with no rules that is not ready: gates wait up to their timeout for a
    /// first [`replace_from_toml_str`](Self::replace_from_toml_str), then fall back.
    pub fn pending() -> Self {
        Self::with_store(RuleStore::new(None, ContextDefaults::default(), false))
    }

    /// Rules from the text of a `flowgate.toml`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the line, column, flag and key of the first mistake.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::with_document(&flowgate_config::parse(text, STRING_ORIGIN)?, STRING_ORIGIN)
    }

    /// Rules from a `flowgate.toml` file, read once (`Engine::watch_file`, with the
    /// `watch` feature, also reloads it).
    ///
    /// # Errors
    /// The file cannot be read, or a [`ConfigError`] naming the file, line, column,
    /// flag and key of the first mistake.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let document = flowgate_config::read_file(path)?;
        Self::with_document(&document, &path.display().to_string())
    }

    /// Rules from a `flowgate.toml` file, reloaded whenever it changes.
    ///
    /// An edit takes effect as soon as the file system reports it (well within a
    /// second). A reload that fails (a syntax error, a half-written file, the file
    /// deleted) is logged and the last good rules stay in force; when the file is
    /// fixed or comes back, it is loaded again. Watching stops when the last clone of
    /// the engine (or of a client holding it) is dropped.
    ///
    /// # Errors
    /// As [`Engine::from_file`] for the first load, or when the file cannot be watched.
    #[cfg(feature = "watch")]
    pub fn watch_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let seen = crate::watch::Seen::now(path.as_ref());
        let engine = Self::from_file(&path)?;
        engine.watch(path.as_ref(), seen)?;
        Ok(engine)
    }

    /// Starts reloading the engine from `path` when it changes from what was `seen`
    /// before the engine read it.
    #[cfg(feature = "watch")]
    fn watch(&self, path: &Path, seen: crate::watch::Seen) -> Result<(), ConfigError> {
        let engine = Arc::downgrade(&self.shared);
        let watch = crate::watch::FileWatch::start(path, seen, move |path| {
            let Some(shared) = engine.upgrade() else {
                return false;
            };
            Engine { shared }.reload_file(path);
            true
        })?;
        *self
            .shared
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(watch);
        Ok(())
    }

    /// Like [`watch_file`](Self::watch_file) (or [`from_file`](Self::from_file) without
    /// the `watch` feature), but a first load that fails gives an engine with no rules
    /// (every flag takes its fallback at once) that still watches the file, with the
    /// error.
    pub(crate) fn load_file_or_empty(path: &Path) -> (Self, Option<ConfigError>) {
        #[cfg(feature = "watch")]
        let seen = crate::watch::Seen::now(path);
        let (engine, error) = match Self::from_file(path) {
            Ok(engine) => (engine, None),
            Err(error) => {
                let engine = Self::with_document(&Document::default(), STRING_ORIGIN)
                    .expect("an empty document compiles");
                engine.record(Err(error.to_string()));
                (engine, Some(error))
            }
        };
        #[cfg(feature = "watch")]
        if let Err(watch_error) = engine.watch(path, seen) {
            return (engine, error.or(Some(watch_error)));
        }
        (engine, error)
    }

    /// Replaces the rules with those of `text`, or keeps the current ones and returns
    /// the error.
    ///
    /// # Errors
    /// As [`Engine::from_toml_str`]; the rules in force do not change.
    pub fn replace_from_toml_str(&self, text: &str) -> Result<(), ConfigError> {
        let result = flowgate_config::parse(text, STRING_ORIGIN)
            .and_then(|document| self.install(&document, STRING_ORIGIN));
        self.record(result.clone().map_err(|e| e.to_string()));
        result
    }

    #[cfg_attr(not(feature = "watch"), allow(dead_code))]
    fn reload_file(&self, path: &Path) {
        let origin = path.display().to_string();
        let result =
            flowgate_config::read_file(path).and_then(|document| self.install(&document, &origin));
        match &result {
            Ok(()) => {
                tracing::info!(target: "flowgate", file = %path.display(), "rules reloaded");
            }
            Err(error) => tracing::warn!(
                target: "flowgate",
                %error,
                "the rules were not reloaded; the last good rules stay in force"
            ),
        }
        self.record(result.map_err(|e| e.to_string()));
    }

    fn install(&self, document: &Document, origin: &str) -> Result<(), ConfigError> {
        let snapshot = compile::snapshot(document, origin)?;
        self.shared.policy.apply(document, origin)?;
        self.shared.store.install(snapshot);
        Ok(())
    }

    fn record(&self, result: Result<(), String>) {
        let mut state = self
            .shared
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.attempts += 1;
        match result {
            Ok(()) => {
                state.applied += 1;
                state.last_error = None;
                state.last_applied = Some(std::time::SystemTime::now());
            }
            Err(error) => {
                state.failed += 1;
                state.last_error = Some(error);
            }
        }
        drop(state);
        self.shared.reloaded.notify_all();
    }

    /// What the loads so far did.
    pub fn reload_state(&self) -> ReloadState {
        self.shared
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until more than `attempts` loads have been attempted, or `timeout` passes;
    /// returns the state then. For tests and health checks: it lets a caller observe a
    /// reload instead of sleeping.
    pub fn wait_for_reload(&self, attempts: u64, timeout: Duration) -> ReloadState {
        let state = self
            .shared
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (state, _) = self
            .shared
            .reloaded
            .wait_timeout_while(state, timeout, |s| s.attempts <= attempts)
            .unwrap_or_else(PoisonError::into_inner);
        state.clone()
    }

    /// The file this engine watches, if it watches one.
    pub fn watched_file(&self) -> Option<PathBuf> {
        #[cfg(feature = "watch")]
        {
            self.shared
                .watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|w| w.path().to_path_buf())
        }
        #[cfg(not(feature = "watch"))]
        None
    }

    /// The names of the flags in force, sorted.
    pub fn flags(&self) -> Vec<String> {
        self.shared.store.flags()
    }

    /// The policy (fallbacks and limits) of the engine's file.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.shared.policy)
    }

    /// The rules, for gates to evaluate at their call site.
    pub(crate) fn store(&self) -> Arc<RuleStore> {
        Arc::clone(&self.shared.store)
    }
}

impl DecisionSource for Engine {
    fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        self.shared.store.evaluate(flag, labels)
    }

    fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        self.shared.store.variant(flag, labels)
    }

    fn explain(&self, flag: &str, labels: &Labels<'_>) -> Option<crate::explain::Explanation> {
        self.shared.store.explain(flag, labels)
    }

    fn readiness(&self) -> Option<&Readiness> {
        Some(self.shared.store.readiness())
    }

    fn name(&self) -> &'static str {
        "flowgate.engine"
    }

    fn inspect(&self) -> Option<SourceDetails> {
        let reloads = self.reload_state();
        let mut details = SourceDetails::default();
        details.updates.attempts = reloads.attempts;
        details.updates.applied = reloads.applied;
        details.updates.failed = reloads.failed;
        details.updates.last_success = reloads.last_applied;
        details.updates.last_error = reloads.last_error;
        details.flags = self.shared.store.describe();
        Some(details)
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("flags", &self.shared.store.len())
            .field("ready", &self.shared.store.readiness().is_ready())
            .field("watching", &self.watched_file())
            .finish()
    }
}
