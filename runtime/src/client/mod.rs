//! The client: a decision source, the policy (fallbacks and limits) it applies over
//! that source, and the counters of its flows.
//!
//! Split by what each part is for: the client's own face here; how it is built
//! ([`builder`]) and the global one ([`global`]); how a flow starts ([`start`]); what a
//! gated function's call site keeps ([`site`]); and how the built-in sources keep their
//! fast path ([`dispatch`]).

mod builder;
mod dispatch;
mod flag;
mod global;
mod inspect;
mod per_flow;
#[cfg(feature = "redis")]
mod refill;
mod site;
mod start;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flowgate_config::ConfigError;
use rustc_hash::FxHashMap;

pub use builder::ClientBuilder;
pub use flag::AsFlag;
pub use global::{global, set_global, SetGlobalError};
pub use site::CallSite;

use crate::engine::Engine;
use crate::labels::Labels;
use crate::metrics::{Metrics, Registry};
use crate::policy::Policy;
use crate::reject::Fallback;
use crate::source::{DecisionSource, Evaluation, Readiness, Serving, Undecided};
use crate::telemetry::{Telemetry, Told};
use crate::variant::Variant;
use dispatch::Source;

/// Starts flows against a decision source, applies the rules file's fallbacks and
/// limits, and counts flows per flag.
///
/// Cheap to clone: clones share the source, the limits and the counters.
///
/// | to decide with | build it with |
/// |---|---|
/// | the rules of a `flowgate.toml`, reloaded on change (the usual) | [`Client::from_file`] |
/// | rules in a string (tests, examples) | [`Client::from_toml_str`] |
/// | an Unleash server (`unleash` feature) | `Client::unleash(config)` |
/// | any source: your own, [`InMemorySource`](crate::testing::InMemorySource), an [`Engine`] | [`Client::new`] |
/// | what the environment says (what [`global()`] does) | [`Client::from_env`] |
/// | any of these with options (no watching, a limits file, fallbacks in code) | [`Client::builder`] |
///
/// ```
/// use std::time::Duration;
/// use flowgate::{labels, Client, testing::InMemorySource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client: Client = InMemorySource::new().enable("AwesomeFeature").into_client();
/// let flow = client
///     .start_flow("AwesomeFeature", &labels! { "userId" => 7 }, Duration::from_millis(200))
///     .await;
/// assert!(flow.should_run());
/// flow.end();
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells clients apart in call-site caches (an address could be reused).
    id: u64,
    source: Source,
    policy: Arc<Policy>,
    /// Fallbacks set in code ([`ClientBuilder::fallback`]): they win over the file's.
    fallbacks: FxHashMap<Box<str>, Fallback>,
    registry: Registry,
    /// What its spans and events say about its source.
    telemetry: Telemetry,
    /// Reloads the limits file, when the policy comes from one.
    #[cfg(feature = "watch")]
    limits_watch: Option<crate::watch::FileWatch>,
}

impl Client {
    /// A client deciding with `source`. An [`Engine`] brings its file's fallbacks and
    /// limits along.
    pub fn new(source: impl DecisionSource) -> Self {
        Self::with_source(Source::new(source))
    }

    fn with_source(source: Source) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let policy = source.policy().unwrap_or_default();
        let telemetry = Telemetry::new(source.get().name(), source.rules().cloned());
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                source,
                policy,
                fallbacks: FxHashMap::default(),
                registry: Registry::default(),
                telemetry,
                #[cfg(feature = "watch")]
                limits_watch: None,
            }),
        }
    }

    /// A client with no source: every flag takes its fallback.
    #[doc(hidden)]
    #[deprecated(
        since = "0.2.0",
        note = "use `Client::new(flowgate::source::EmptySource)`"
    )]
    pub fn empty() -> Self {
        Self::new(crate::source::EmptySource)
    }

    /// A client deciding with the rules of a `flowgate.toml` text.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the line, column, flag and key of the first mistake.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Engine::from_toml_str(text).map(Self::new)
    }

    /// A client deciding with the rules of a `flowgate.toml` file, reloaded whenever the
    /// file changes (with the `watch` feature, on by default; see `Engine::watch_file`).
    ///
    /// # Errors
    /// The file cannot be read or watched, or a [`ConfigError`] naming the line,
    /// column, flag and key of its first mistake.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::builder().file(path.as_ref()).build()
    }

    /// A client deciding with the features of an Unleash server (see
    /// [`Unleash`](crate::unleash::Unleash)). Decisions wait for the first state up to
    /// each gate's timeout (see [`Client::ready`]); [`Client::shutdown`] stops the
    /// background work.
    ///
    /// # Errors
    /// When the HTTP client cannot be built from the configuration.
    #[cfg(feature = "unleash")]
    pub fn unleash(config: crate::unleash::UnleashConfig) -> Result<Self, ConfigError> {
        Self::builder().unleash(config).build()
    }

    /// A builder for a client with options.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Waits until the source has its state, at most `timeout`; returns whether it has.
    pub async fn ready(&self, timeout: Duration) -> bool {
        match self.inner.source.readiness() {
            None => true,
            Some(readiness) => readiness.wait(timeout).await,
        }
    }

    /// Whether the source has its state (always true for sources without a readiness
    /// signal).
    pub fn is_ready(&self) -> bool {
        self.inner
            .source
            .readiness()
            .is_none_or(Readiness::is_ready)
    }

    /// Which state the source decides from right now: its own ([`Serving::Live`]), a
    /// backup saved by an earlier process, a bootstrap, or none (every flag on its
    /// fallback). For a readiness endpoint, beside [`is_ready`](Client::is_ready).
    ///
    /// ```
    /// use flowgate::{source::Serving, Client};
    ///
    /// let client = Client::from_toml_str("[flags.Checkout]\nenabled = true\n")?;
    /// assert_eq!(client.serving(), Serving::Live);
    /// # Ok::<(), flowgate::ConfigError>(())
    /// ```
    pub fn serving(&self) -> Serving {
        self.inner.source.get().serving()
    }

    /// Stops the source's background work (an Unleash client's polling, after sending
    /// its last metrics). Decisions go on from the last state.
    pub fn shutdown(&self) {
        self.inner.source.shutdown();
    }

    /// The decision source.
    pub fn source(&self) -> &dyn DecisionSource {
        self.inner.source.get()
    }

    /// Whether `flag` is on for `labels`: a pure check that starts no flow and never
    /// waits. A flag the source cannot decide takes its fallback.
    ///
    /// `flag` is a name (`"NewCheckout"`, a `String`) or a typed handle from
    /// [`flags!`](crate::flags) (`flags::NewCheckout`), which a typo cannot name and
    /// which remembers where its flag is, as a gated function does.
    #[inline]
    pub fn is_enabled(&self, flag: impl AsFlag, labels: &Labels<'_>) -> bool {
        let evaluation = crate::labels::with_ambient(labels, |labels| self.evaluate(&flag, labels));
        let flag = flag.flag_name();
        let on = match evaluation {
            Evaluation::Enabled => true,
            Evaluation::Disabled => false,
            Evaluation::Undecided(_) => self.fallback_for(flag, None) == Fallback::Accept,
        };
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            self.evaluated(flag, labels, evaluation, on, None);
        }
        on
    }

    /// `flag`'s evaluation, and the answer after the fallback.
    #[inline]
    fn enabled(&self, flag: &impl AsFlag, labels: &Labels<'_>) -> (Evaluation, bool) {
        let evaluation = crate::labels::with_ambient(labels, |labels| self.evaluate(flag, labels));
        let on = match evaluation {
            Evaluation::Enabled => true,
            Evaluation::Disabled => false,
            Evaluation::Undecided(_) => {
                self.fallback_for(flag.flag_name(), None) == Fallback::Accept
            }
        };
        (evaluation, on)
    }

    /// `flag`'s evaluation for `labels` (and ambient labels), before any fallback; told
    /// to a subscriber as `is_enabled` is.
    #[cfg(any(feature = "axum", feature = "openfeature"))]
    pub(crate) fn evaluation(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        let evaluation =
            crate::labels::with_ambient(labels, |labels| self.inner.source.evaluate(flag, labels));
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            let on = match evaluation {
                Evaluation::Enabled => true,
                Evaluation::Disabled => false,
                Evaluation::Undecided(_) => self.fallback_for(flag, None) == Fallback::Accept,
            };
            self.evaluated(flag, labels, evaluation, on, None);
        }
        evaluation
    }

    /// Whether a fallback is declared for `flag` (in code or in the rules file).
    #[cfg(feature = "axum")]
    pub(crate) fn has_declared_fallback(&self, flag: &str) -> bool {
        self.declared_fallback(flag).is_some()
    }

    /// Whether `flag` defines variants, when the source's rules are known; else whether
    /// the source chose a variant for nobody in particular.
    #[cfg(any(feature = "axum", feature = "openfeature"))]
    pub(crate) fn defines_variants(&self, flag: &str) -> Option<bool> {
        self.inner.telemetry.defines_variants(flag).or_else(|| {
            let variant = self.inner.source.variant(flag, &Labels::new())?;
            Some(variant.enabled())
        })
    }

    /// OpenTelemetry's reason for `flag`'s answers (`static`, `split`, ...).
    #[cfg(any(feature = "axum", feature = "openfeature"))]
    pub(crate) fn telemetry_reason(&self, flag: &str) -> &'static str {
        self.inner.telemetry.reason(flag)
    }

    /// An answer of `is_enabled` or `variant`, told to a subscriber that listens.
    #[cold]
    #[inline(never)]
    fn evaluated(
        &self,
        flag: &str,
        labels: &Labels<'_>,
        evaluation: Evaluation,
        on: bool,
        variant: Option<&str>,
    ) {
        let telemetry = &self.inner.telemetry;
        // OpenTelemetry's `error.type` when the source could not decide.
        let error = match evaluation {
            Evaluation::Enabled | Evaluation::Disabled => None,
            Evaluation::Undecided(Undecided::NotReady | Undecided::NoSource) => {
                Some("provider_not_ready")
            }
            Evaluation::Undecided(Undecided::UnknownFlag) => Some("flag_not_found"),
            Evaluation::Undecided(Undecided::Error | Undecided::PerFlow) => Some("general"),
        };
        crate::telemetry::evaluation_event(telemetry, flag, labels, error, on, variant);
    }

    /// `flag`'s evaluation, at its call site when it has one.
    #[inline]
    fn evaluate(&self, flag: &impl AsFlag, labels: &Labels<'_>) -> Evaluation {
        match flag.__call_site() {
            Some(site) => self.inner.source.evaluate_at(site.flag, &site.slot, labels),
            None => self.inner.source.evaluate(flag.flag_name(), labels),
        }
    }

    /// The variant of `flag` for `labels`: a pure check, like
    /// [`is_enabled`](Client::is_enabled), with the same evaluation.
    pub fn variant(&self, flag: impl AsFlag, labels: &Labels<'_>) -> Variant {
        let name = flag.flag_name();
        let chosen =
            crate::labels::with_ambient(labels, |labels| self.inner.source.variant(name, labels));
        let (evaluation, variant) = if let Some(variant) = chosen {
            (Evaluation::from(variant.feature_enabled()), variant)
        } else {
            let (evaluation, on) = self.enabled(&flag, labels);
            (evaluation, Variant::disabled(on))
        };
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            let on = variant.feature_enabled();
            self.evaluated(name, labels, evaluation, on, Some(variant.name()));
        }
        variant
    }

    /// Why `flag` is on or off for `labels` (and any ambient labels), step by step:
    /// the strategies, constraints, rollout buckets and variant its source's evaluation
    /// goes through. `None` when the source has no rules for the flag, is not ready, or
    /// cannot tell (a source of your own: see [`DecisionSource::explain`]). For people
    /// and tools (`flowgate explain`), not for the hot path: it allocates.
    ///
    /// ```
    /// use flowgate::{explain::Step, labels, Client};
    ///
    /// let client = Client::from_toml_str(
    ///     "[flags.Beta]\nconstraints = [{ label = \"plan\", operator = \"IN\", values = [\"beta\"] }]\n",
    /// )?;
    /// let why = client.explain("Beta", &labels! { "plan" => "free" }).unwrap();
    /// assert!(!why.enabled);
    /// assert!(why.steps.iter().any(|step| matches!(step, Step::Constraint { matched: false, .. })));
    /// assert_eq!(why.to_string(), "Beta: off\n  strategy 1 (default): no match\n    constraint plan IN (1 value): `free`: no match");
    /// # Ok::<(), flowgate::ConfigError>(())
    /// ```
    ///
    /// [`DecisionSource::explain`]: crate::source::DecisionSource::explain
    pub fn explain(
        &self,
        flag: impl AsFlag,
        labels: &Labels<'_>,
    ) -> Option<crate::explain::Explanation> {
        let flag = flag.flag_name();
        crate::labels::with_ambient(labels, |labels| {
            self.inner.source.get().explain(flag, labels)
        })
    }

    /// A snapshot of the flow counters of every flag seen so far.
    pub fn metrics(&self) -> Metrics {
        let keys = self.inner.policy.limits().key_counts();
        self.inner.registry.snapshot(keys)
    }

    /// Times every flow from now on, for histograms.
    #[cfg(feature = "prometheus")]
    pub(crate) fn time_flows(&self) {
        self.inner.registry.time_flows();
    }

    /// The histograms of every timed flag: `(flag, durations, queue waits)`.
    #[cfg(feature = "prometheus")]
    pub(crate) fn flow_timings(
        &self,
    ) -> Vec<(
        std::sync::Arc<str>,
        crate::histogram::HistogramCounts,
        crate::histogram::HistogramCounts,
    )> {
        self.inner.registry.timings()
    }

    /// What a flow's span is told, for `labels`.
    #[inline]
    pub(crate) fn told<'a>(&'a self, labels: &'a Labels<'a>) -> Told<'a> {
        Told {
            telemetry: &self.inner.telemetry,
            labels,
        }
    }

    /// The fallback set in code for `flag`, else the rules file's.
    fn declared_fallback(&self, flag: &str) -> Option<Fallback> {
        self.inner
            .fallbacks
            .get(flag)
            .copied()
            .or_else(|| self.inner.policy.fallback(flag))
    }
}

impl AsRef<Client> for Client {
    fn as_ref(&self) -> &Client {
        self
    }
}

/// A client in a `static` (`static FLAGS: LazyLock<Client> = ...`), usable as
/// `#[feature_gate(.., client = FLAGS)]`.
impl<F: FnOnce() -> Client> AsRef<Client> for std::sync::LazyLock<Client, F> {
    fn as_ref(&self) -> &Client {
        self
    }
}

/// What `#[feature_gate(.., client = expr)]` takes: a [`Client`], a `&Client`, an
/// `Arc<Client>`, a `LazyLock<Client>`, or anything else that is `AsRef<Client>`.
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use flowgate::{feature_gate, testing::InMemorySource, Client};
///
/// static FLAGS: LazyLock<Client> =
///     LazyLock::new(|| InMemorySource::new().enable("AwesomeFeature").into_client());
///
/// #[feature_gate("AwesomeFeature", client = FLAGS)]
/// fn from_a_static() -> Option<u8> { Some(1) }
///
/// struct AppState { flags: Arc<Client> }
///
/// #[feature_gate("AwesomeFeature", client = state.flags)]
/// fn from_state(state: &AppState) -> Option<u8> { Some(2) }
///
/// assert_eq!(from_a_static(), Some(1));
/// assert_eq!(from_state(&AppState { flags: Arc::new(FLAGS.clone()) }), Some(2));
/// ```
#[diagnostic::on_unimplemented(
    message = "`client = ...` needs a flowgate client, not `{Self}`",
    label = "not a `Client`, `&Client`, `Arc<Client>` or `LazyLock<Client>`",
    note = "give the field or value that holds the client, e.g. `client = state.flags`, or implement `AsRef<flowgate::Client>` for `{Self}`"
)]
pub trait AsClient {
    /// The client.
    fn as_client(&self) -> &Client;
}

impl<T: AsRef<Client> + ?Sized> AsClient for T {
    #[inline]
    fn as_client(&self) -> &Client {
        self.as_ref()
    }
}

// A panic inside a gated body cannot leave the client half-updated: its state is
// atomic counters and whole-snapshot swaps. Without these, `catch_unwind` around a
// gated call would not compile because of the boxed source.
impl std::panic::UnwindSafe for Client {}
impl std::panic::RefUnwindSafe for Client {}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("source", self.inner.source.get())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}
