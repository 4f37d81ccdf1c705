//! The embedded decision engine: flag rules from `flowgate.toml` (or Unleash's feature
//! state), compiled into a snapshot that gates read without locks, and reloaded when
//! the file changes.

mod config;
mod features;
mod hash;
pub(crate) mod model;
mod plain_toml;
mod usage;
mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

pub use config::ConfigError;

use crate::decision::{Fallback, Variant};
use crate::labels::Labels;
use crate::limits::Limits;
use crate::published::Published;
use crate::source::{DecisionSource, Evaluation, FlagSlot, Readiness, Undecided};
use model::{Context, ContextDefaults, Snapshot};

/// A decision source that evaluates flag rules in process.
///
/// Rules come from a `flowgate.toml` (the same file that declares the flags for the
/// attribute) or from an Unleash feature state. Every load compiles the rules once into
/// a snapshot; gates read the current snapshot without taking a lock, and a reload
/// swaps in a new one whole. A load that fails leaves the last good snapshot in force.
///
/// ```
/// use flowgate::{labels, Client, Engine};
///
/// let engine = Engine::from_toml_str(r#"
///     [flags.NewCheckout]
///     enabled = true
///     rollout = 50
///     constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
/// "#)?;
/// let client = Client::new(engine);
/// assert!(!client.is_enabled("NewCheckout", &labels! { "userId" => 1, "region" => "apac" }));
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

struct Shared {
    snapshot: Published<Snapshot>,
    defaults: ContextDefaults,
    readiness: Readiness,
    limits: Limits,
    reloads: Mutex<ReloadState>,
    reloaded: Condvar,
    watch: Mutex<Option<watch::FileWatch>>,
    /// Where an Unleash state's evaluations are counted; set by the first one.
    usage: std::sync::OnceLock<Arc<usage::UsageTable>>,
}

pub(crate) use usage::FlagUsage;

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
}

impl Engine {
    fn with_snapshot(snapshot: Option<Snapshot>, defaults: ContextDefaults) -> Self {
        let ready = snapshot.is_some();
        let snapshot = snapshot.unwrap_or_default();
        let limits = Limits::default();
        limits.apply(&snapshot.limits);
        let engine = Engine {
            shared: Arc::new(Shared {
                snapshot: Published::new(snapshot),
                defaults,
                readiness: Readiness::new(),
                limits,
                reloads: Mutex::new(ReloadState::default()),
                reloaded: Condvar::new(),
                watch: Mutex::new(None),
                usage: std::sync::OnceLock::new(),
            }),
        };
        if ready {
            engine.shared.readiness.mark_ready();
            engine.record(Ok(()));
        }
        engine
    }

    /// An engine with no rules that is not ready: gates wait up to their timeout for a
    /// first [`replace`](Self::replace_from_toml_str), then fall back.
    pub fn pending() -> Self {
        Self::with_snapshot(None, ContextDefaults::default())
    }

    /// Rules from the text of a `flowgate.toml`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the line, column, flag and key of the first mistake.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let snapshot = config::parse(text, config::STRING_ORIGIN)?;
        Ok(Self::with_snapshot(
            Some(snapshot),
            ContextDefaults::default(),
        ))
    }

    /// Rules from a `flowgate.toml` file, read once (see [`Engine::watch_file`]).
    ///
    /// # Errors
    /// The file cannot be read, or a [`ConfigError`] naming the file, line, column,
    /// flag and key of the first mistake.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let snapshot = config::load(path.as_ref())?;
        Ok(Self::with_snapshot(
            Some(snapshot),
            ContextDefaults::default(),
        ))
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
    pub fn watch_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let engine = Self::from_file(&path)?;
        let watch = watch::FileWatch::start(&path, Arc::downgrade(&engine.shared))?;
        *engine
            .shared
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(watch);
        Ok(engine)
    }

    /// An engine that is not ready, filling missing `appName`/`environment` context
    /// fields from `defaults` (the Unleash client's configuration).
    pub(crate) fn pending_with_defaults(defaults: ContextDefaults) -> Self {
        Self::with_snapshot(None, defaults)
    }

    /// Compiles and installs an Unleash state, keeping the usage counters of flags
    /// that stay (so no count is lost to a refresh).
    pub(crate) fn install_unleash(&self, state: &crate::unleash::features::FeatureState) {
        let table = self
            .shared
            .usage
            .get_or_init(|| Arc::new(usage::UsageTable::new()));
        let mut snapshot = state.compile();
        let previous = self.shared.snapshot.load();
        for feature in snapshot.features.iter_mut() {
            let old = previous
                .features
                .get(&feature.name)
                .and_then(|f| f.usage.as_ref());
            let fresh = usage::Usage::for_feature(feature, table, None);
            feature.usage = Some(match old {
                Some(old) if old.has_variants_of(&fresh) => Arc::clone(old),
                Some(old) => Arc::new(usage::Usage::for_feature(feature, table, Some(old))),
                None => Arc::new(fresh),
            });
        }
        drop(previous);
        self.install(snapshot);
        self.record(Ok(()));
    }

    /// The usage counted since the last call, per flag: (name, yes, no, variants).
    pub(crate) fn take_usage(&self) -> Vec<FlagUsage> {
        let Some(table) = self.shared.usage.get() else {
            return Vec::new();
        };
        let snapshot = self.shared.snapshot.load();
        usage::take(table, snapshot.features.iter())
    }

    /// Like [`watch_file`](Self::watch_file), but a first load that fails gives an
    /// engine with no rules (every flag takes its fallback at once) that still watches
    /// the file, with the error.
    pub(crate) fn watch_file_or_empty(path: &Path) -> (Self, Option<ConfigError>) {
        let (engine, error) = match Self::from_file(path) {
            Ok(engine) => (engine, None),
            Err(error) => {
                let engine =
                    Self::with_snapshot(Some(Snapshot::default()), ContextDefaults::default());
                engine.record(Err(error.to_string()));
                (engine, Some(error))
            }
        };
        match watch::FileWatch::start(path, Arc::downgrade(&engine.shared)) {
            Ok(watch) => {
                *engine
                    .shared
                    .watch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(watch);
                (engine, error)
            }
            Err(watch_error) => (engine, error.or(Some(watch_error))),
        }
    }

    /// Rules from an Unleash feature state: the JSON body of `GET /client/features`,
    /// or a delta document with `events`.
    ///
    /// # Errors
    /// A [`ConfigError`] with the line and column of malformed JSON. Rules Unleash
    /// may send but this engine cannot read (an unknown strategy, a bad regex) are not
    /// errors: they evaluate to off, as in every Unleash SDK.
    pub fn from_unleash_json(json: &str) -> Result<Self, ConfigError> {
        let state = crate::unleash::features::FeatureState::parse(json, "Unleash features")?;
        Ok(Self::with_snapshot(
            Some(state.compile()),
            ContextDefaults::default(),
        ))
    }

    /// Replaces the rules with those of `text`, or keeps the current ones and returns
    /// the error.
    ///
    /// # Errors
    /// As [`Engine::from_toml_str`]; the rules in force do not change.
    pub fn replace_from_toml_str(&self, text: &str) -> Result<(), ConfigError> {
        let result = config::parse(text, config::STRING_ORIGIN).map(|s| self.install(s));
        self.record(result.clone().map_err(|e| e.to_string()));
        result
    }

    pub(crate) fn reload_file(&self, path: &Path) {
        let result = config::load(path).map(|snapshot| self.install(snapshot));
        match &result {
            Ok(()) => {
                tracing::info!(target: "flowgate", file = %path.display(), "flowgate: rules reloaded");
            }
            Err(error) => tracing::warn!(
                target: "flowgate",
                %error,
                "flowgate: the rules were not reloaded; the last good rules stay in force"
            ),
        }
        self.record(result.map_err(|e| e.to_string()));
    }

    fn install(&self, snapshot: Snapshot) {
        self.shared.limits.apply(&snapshot.limits);
        self.shared.snapshot.store(snapshot);
        self.shared.readiness.mark_ready();
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
            }
            Err(error) => state.last_error = Some(error),
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
        self.shared
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|w| w.path().to_path_buf())
    }

    /// The names of the flags in force, sorted.
    pub fn flags(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .snapshot
            .load()
            .features
            .iter()
            .map(|feature| feature.name.to_string())
            .collect();
        names.sort_unstable();
        names
    }
}

impl Engine {
    /// Runs `evaluate` on the current snapshot.
    #[inline]
    fn on_snapshot<R>(&self, evaluate: impl FnOnce(&Snapshot) -> R) -> R {
        self.shared.snapshot.read(|snapshot, _| evaluate(snapshot))
    }
}

impl Engine {
    /// Counts an answer a call site remembered for an Unleash state of this engine,
    /// and gives it. Out of line: the rules file's flags, which count nothing, keep a
    /// fast path without it.
    #[inline(never)]
    fn count_remembered(&self, remembered: u64) -> Evaluation {
        let (answer, index) = FlagSlot::counted_answer(remembered);
        // Only this engine's Unleash states remember counted answers, under stamps no
        // other source has: the table is there.
        if let Some(table) = self.shared.usage.get() {
            table.count(index, answer);
        }
        Evaluation::from(answer)
    }

    /// [`evaluate_at`](DecisionSource::evaluate_at) when the slot has no answer.
    fn evaluate_at_snapshot(&self, flag: &str, slot: &FlagSlot, labels: &Labels) -> Evaluation {
        if !self.shared.readiness.is_ready() {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        let context = Context::new(labels, &self.shared.defaults);
        let enabled = self
            .shared
            .snapshot
            .read(|snapshot, stamp| snapshot.is_enabled_at(slot, stamp, flag, &context));
        match enabled {
            Some(enabled) => Evaluation::from(enabled),
            None => Evaluation::Undecided(Undecided::UnknownFlag),
        }
    }
}

impl DecisionSource for Engine {
    fn evaluate(&self, flag: &str, labels: &Labels) -> Evaluation {
        if !self.shared.readiness.is_ready() {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        let context = Context::new(labels, &self.shared.defaults);
        match self.on_snapshot(|snapshot| snapshot.is_enabled(flag, &context)) {
            Some(enabled) => Evaluation::from(enabled),
            None => Evaluation::Undecided(Undecided::UnknownFlag),
        }
    }

    #[inline]
    fn evaluate_at(&self, flag: &str, slot: &FlagSlot, labels: &Labels) -> Evaluation {
        // A flag whose answer does not depend on the call (always on, off) is answered
        // from the call site while the snapshot stays the same. Only a snapshot with
        // the flag has an answer to remember: a pending engine has none.
        match slot.remembered(self.shared.snapshot.generation()) {
            0 => self.evaluate_at_snapshot(flag, slot, labels),
            answer @ 1..=3 => Evaluation::from(answer == 2),
            counted => self.count_remembered(counted),
        }
    }

    fn variant(&self, flag: &str, labels: &Labels) -> Option<Variant> {
        if !self.shared.readiness.is_ready() {
            return None;
        }
        let context = Context::new(labels, &self.shared.defaults);
        self.on_snapshot(|snapshot| snapshot.variant(flag, &context))
    }

    fn readiness(&self) -> Option<&Readiness> {
        Some(&self.shared.readiness)
    }

    fn limits(&self) -> Option<&Limits> {
        Some(&self.shared.limits)
    }

    fn fallback(&self, flag: &str) -> Option<Fallback> {
        self.shared.snapshot.load().fallback(flag)
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("flags", &self.shared.snapshot.load().features.len())
            .field("ready", &self.shared.readiness.is_ready())
            .field("watching", &self.watched_file())
            .finish()
    }
}
