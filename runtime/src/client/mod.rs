//! The client: a decision source plus the counters of its flows.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::decision::{Decision, Fallback, RejectReason, Rejection, Variant};
use crate::engine::{ConfigError, Engine};
use crate::flow::Flow;
use crate::labels::Labels;
use crate::limits::{Admission, ConcurrencyLimiter, LimitSlot, Permit, Refusal};
use crate::metrics::{ControlPointStats, Metrics, Registry, StatsRef};
use crate::source::{DecisionSource, EmptySource, Evaluation, FlagSlot, Undecided};
use crate::unleash::{Unleash, UnleashConfig};

/// Starts flows against a decision source and counts them per control point.
///
/// Cheap to clone: clones share the source and the counters.
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
    source: Box<dyn DecisionSource>,
    registry: Registry,
}

/// The static description of one gated function, with its counters for the client it
/// first ran on, so that a gated call needs no lookup by name.
#[derive(Debug)]
pub struct CallSite {
    flag: &'static str,
    fallback: Fallback,
    slot: FlagSlot,
    limits: LimitSlot,
    cached: OnceLock<(u64, &'static ControlPointStats)>,
}

impl CallSite {
    #[doc(hidden)]
    pub const fn new(flag: &'static str, fallback: Fallback) -> Self {
        Self {
            flag,
            fallback,
            slot: FlagSlot::new(),
            limits: LimitSlot::new(),
            cached: OnceLock::new(),
        }
    }

    #[inline]
    fn stats(&self, client: &Client) -> StatsRef {
        if let Some((id, stats)) = self.cached.get() {
            if *id == client.inner.id {
                return StatsRef::Static(stats);
            }
        }
        self.stats_by_name(client)
    }

    #[cold]
    fn stats_by_name(&self, client: &Client) -> StatsRef {
        let stats = client.inner.registry.control_point(self.flag);
        if self.cached.get().is_none() {
            // One reference per gated function, kept for the life of the process, so
            // that its flows touch no reference count.
            let kept: &'static ControlPointStats = Box::leak(Box::new(Arc::clone(&stats)));
            if self.cached.set((client.inner.id, kept)).is_ok() {
                return StatsRef::Static(kept);
            }
        }
        StatsRef::Shared(stats)
    }
}

impl Client {
    /// A client deciding with `source`.
    pub fn new(source: impl DecisionSource) -> Self {
        Self {
            inner: Arc::new(Inner {
                id: {
                    static NEXT_ID: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(0);
                    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                },
                source: Box::new(source),
                registry: Registry::default(),
            }),
        }
    }

    /// A client with no source: every flag takes its fallback.
    pub fn empty() -> Self {
        Self::new(EmptySource)
    }

    /// A client deciding with the rules of a `flowgate.toml` text.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the line, column, flag and key of the first mistake.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Engine::from_toml_str(text).map(Self::new)
    }

    /// A client deciding with the rules of a `flowgate.toml` file, reloaded whenever the
    /// file changes (see [`Engine::watch_file`]).
    ///
    /// # Errors
    /// As [`Engine::watch_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Engine::watch_file(path).map(Self::new)
    }

    /// A client deciding with the features of an Unleash server (see [`Unleash`]).
    /// Decisions wait for the first state up to each gate's timeout (see
    /// [`Client::ready`]); [`Client::shutdown`] stops the background work.
    ///
    /// # Errors
    /// When the HTTP client cannot be built from the configuration.
    pub fn unleash(config: UnleashConfig) -> Result<Self, ConfigError> {
        Unleash::start(config).map(Self::new)
    }

    /// Waits until the source has its state, at most `timeout`; returns whether it has.
    pub async fn ready(&self, timeout: Duration) -> bool {
        match self.inner.source.readiness() {
            None => true,
            Some(readiness) => readiness.wait(timeout).await,
        }
    }

    /// Stops the source's background work (an Unleash client's polling, after sending
    /// its last metrics). Decisions go on from the last state.
    pub fn shutdown(&self) {
        self.inner.source.shutdown();
    }

    /// A builder for the other ways to make a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The client [`global`] builds when nothing was set, from the environment:
    ///
    /// 1. `UNLEASH_URL` (with `UNLEASH_API_TOKEN` and `UNLEASH_APP_NAME`): an Unleash
    ///    client, whose limits come from the rules file below when there is one;
    /// 2. else `FLOWGATE_CONFIG`, a path to a rules file, watched for changes;
    /// 3. else `./flowgate.toml` when there is one, watched for changes;
    /// 4. else no source: every flag takes its fallback, and one warning says so.
    ///
    /// A rules file with a mistake is logged as an error, and its flags take their
    /// fallback until the file is fixed (it is still watched).
    pub fn from_env() -> Self {
        if let Some(mut config) = UnleashConfig::from_env() {
            // Limits stay in the rules file when the flags move to Unleash.
            let rules = std::env::var_os("FLOWGATE_CONFIG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| Some(PathBuf::from("flowgate.toml")).filter(|p| p.is_file()));
            if let Some(rules) = rules {
                config = config.limits_file(rules);
            }
            let url = config.url.clone();
            match Self::unleash(config) {
                Ok(client) => {
                    tracing::info!(target: "flowgate", %url, "flowgate: deciding with Unleash");
                    return client;
                }
                Err(error) => tracing::error!(
                    target: "flowgate",
                    %error,
                    "flowgate: cannot start the Unleash client; trying the rules file"
                ),
            }
        }
        let configured = std::env::var_os("FLOWGATE_CONFIG").filter(|p| !p.is_empty());
        let path = match configured {
            Some(path) => PathBuf::from(path),
            None if Path::new("flowgate.toml").is_file() => PathBuf::from("flowgate.toml"),
            None => {
                tracing::warn!(
                    target: "flowgate",
                    "flowgate: no client was set with `flowgate::set_global`, no FLOWGATE_CONFIG \
                     and no ./flowgate.toml: every flag takes its fallback (reject unless \
                     declared `fallback = \"accept\"`)"
                );
                return Self::empty();
            }
        };
        let (engine, error) = Engine::watch_file_or_empty(&path);
        match error {
            None => {
                tracing::info!(target: "flowgate", file = %path.display(), "flowgate: rules loaded");
            }
            Some(error) => tracing::error!(
                target: "flowgate",
                %error,
                "flowgate: the rules file has a mistake; every flag takes its fallback until it is fixed"
            ),
        }
        Self::new(engine)
    }

    /// The decision source.
    pub fn source(&self) -> &dyn DecisionSource {
        &*self.inner.source
    }

    /// Whether the source has its state (always true for sources without a readiness
    /// signal).
    pub fn is_ready(&self) -> bool {
        self.inner
            .source
            .readiness()
            .is_none_or(crate::Readiness::is_ready)
    }

    /// Starts a flow of `control_point`, waiting up to `timeout` for the source to be
    /// ready. The wait does not block the thread.
    ///
    /// The fallback is the one the source declares for the flag, else
    /// [`Fallback::Reject`].
    pub async fn start_flow(
        &self,
        control_point: &str,
        labels: &Labels,
        timeout: Duration,
    ) -> Flow {
        let stats = StatsRef::Shared(self.inner.registry.control_point(control_point));
        let pending = Pending::evaluated(self.inner.source.evaluate(control_point, labels));
        self.start_flow_with(None, stats, pending, labels, timeout)
            .await
    }

    /// Starts a flow of `control_point` from a plain function: like
    /// [`start_flow`](Client::start_flow), but it may block the thread up to `timeout`
    /// (only while the source is not ready), never longer.
    pub fn start_flow_blocking(
        &self,
        control_point: &str,
        labels: &Labels,
        timeout: Duration,
    ) -> Flow {
        let stats = StatsRef::Shared(self.inner.registry.control_point(control_point));
        let pending = Pending::evaluated(self.inner.source.evaluate(control_point, labels));
        self.start_flow_blocking_with(None, stats, pending, labels, timeout)
    }

    /// An async gated call's start when it needs nothing but the flag: on, and no
    /// limits to apply. Most calls end their start here; that path is kept short and
    /// builds its flow in place. Anything else comes back as the evaluation, for
    /// [`start_flow_at`](Self::start_flow_at) to go on from (the flag is evaluated once
    /// per call: Unleash counts evaluations).
    ///
    /// Only the evaluation comes back, not flow control's answer: a bigger error type
    /// makes the accepted flow be built aside and copied into the gated future, which
    /// doubled the cost of every async gate.
    #[inline]
    pub(crate) fn try_start_flow_at(
        &self,
        site: &'static CallSite,
        labels: &Labels,
    ) -> Result<Flow, Evaluation> {
        let evaluation = self.inner.source.evaluate_at(site.flag, &site.slot, labels);
        if evaluation == Evaluation::Enabled && self.admits_freely(site) {
            return Ok(Flow::accepted(site.stats(self), None));
        }
        Err(evaluation)
    }

    /// The rest of an async gated call's start, after [`try_start_flow_at`](Self::try_start_flow_at).
    pub(crate) fn start_flow_at<'a>(
        &'a self,
        site: &'static CallSite,
        labels: &'a Labels,
        timeout: Duration,
        evaluation: Evaluation,
    ) -> impl Future<Output = Flow> + 'a {
        let pending = Pending::evaluated(evaluation);
        self.start_flow_with(Some(site), site.stats(self), pending, labels, timeout)
    }

    /// A sync gated call's start.
    #[inline]
    pub(crate) fn start_flow_blocking_at(
        &self,
        site: &'static CallSite,
        labels: &Labels,
        timeout: Duration,
    ) -> Flow {
        // As `try_start_flow_at`, without a `Result` around the flow: moving a flow
        // costs more than deciding it.
        let evaluation = self.inner.source.evaluate_at(site.flag, &site.slot, labels);
        let stats = site.stats(self);
        let pending = if evaluation == Evaluation::Enabled {
            match self.admit(Some(&site.limits), site.flag, labels) {
                Admission::Admitted(permit) => return Flow::accepted(stats, permit),
                admission => Pending {
                    evaluation,
                    admission: Some(admission),
                },
            }
        } else {
            Pending::evaluated(evaluation)
        };
        self.start_flow_blocking_with(Some(site), stats, pending, labels, timeout)
    }

    async fn start_flow_with(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        mut pending: Pending,
        labels: &Labels,
        timeout: Duration,
    ) -> Flow {
        let mut deadline = Deadline::after(timeout);
        // The waits are boxed, and nothing else is kept across them: a gated async
        // function's future reserves room for its largest wait, and most flows never
        // wait. A flow that waits allocates once.
        if let Some(readiness) = self.readiness_to_await(pending.evaluation) {
            if Box::pin(readiness.wait(deadline.remaining())).await {
                pending = Pending::evaluated(self.inner.source.evaluate(stats.name(), labels));
            }
        }
        let waiting = match self.decide_and_admit(site, stats, pending, labels) {
            Step::Done(flow) => return flow,
            Step::Queue(queued) => Box::pin(queued.wait(&mut deadline)),
        };
        waiting.await
    }

    #[inline(never)]
    fn start_flow_blocking_with(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        mut pending: Pending,
        labels: &Labels,
        timeout: Duration,
    ) -> Flow {
        let mut deadline = Deadline::after(timeout);
        if let Some(readiness) = self.readiness_to_await(pending.evaluation) {
            pending = Pending::evaluated(self.evaluate_when_ready_blocking(
                readiness,
                &mut deadline,
                stats.name(),
                labels,
            ));
        }
        match self.decide_and_admit(site, stats, pending, labels) {
            Step::Done(flow) => flow,
            Step::Queue(queued) => queued.wait_blocking(&mut deadline),
        }
    }

    /// The evaluation once the source is ready, or as it stands when the wait times out.
    #[cold]
    fn evaluate_when_ready_blocking(
        &self,
        readiness: &crate::Readiness,
        deadline: &mut Deadline,
        control_point: &str,
        labels: &Labels,
    ) -> Evaluation {
        if readiness.wait_blocking(deadline.remaining()) {
            self.inner.source.evaluate(control_point, labels)
        } else {
            Evaluation::Undecided(Undecided::NotReady)
        }
    }

    /// The readiness signal worth waiting on after `evaluation`: only a source that said
    /// it is not ready yet can change its answer by waiting.
    #[inline]
    fn readiness_to_await(&self, evaluation: Evaluation) -> Option<&crate::Readiness> {
        match evaluation {
            Evaluation::Undecided(Undecided::NotReady) => self.inner.source.readiness(),
            _ => None,
        }
    }

    /// Everything after the flag's evaluation that needs no waiting, for the flows not
    /// simply accepted at once (see [`start_flow_blocking_at`](Self::start_flow_blocking_at)):
    /// the decision (or the fallback), then flow control unless it was asked already. A
    /// flow that must queue for a concurrency slot comes back as [`Step::Queue`], for
    /// the caller to wait its own way (blocking or async).
    #[inline(never)]
    fn decide_and_admit(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        pending: Pending,
        labels: &Labels,
    ) -> Step {
        let fallback = site.map(|site| site.fallback);
        let (decision, success) = self.decide(&stats, pending.evaluation, fallback);
        if !decision.is_accepted() {
            return Step::Done(Flow::new(stats, decision, success, None, None));
        }
        let admission = pending
            .admission
            .unwrap_or_else(|| self.admit(site.map(|site| &site.limits), stats.name(), labels));
        Step::Done(match admission {
            // The flag said yes and flow control admits: the short way.
            Admission::Admitted(permit) if success => Flow::accepted(stats, permit),
            Admission::Admitted(permit) => Flow::new(stats, decision, success, None, permit),
            Admission::RateLimited(retry_after) => {
                let rejection = Rejection::shared(stats.name(), RejectReason::RateLimited)
                    .with_retry_after(retry_after);
                Flow::new(stats, Decision::Rejected(rejection), success, None, None)
            }
            Admission::Queue(limiter) => {
                return Step::Queue(Queued {
                    // Created here, so that the span covers the wait.
                    span: crate::flow::flow_span(stats.name()),
                    stats,
                    decision,
                    success,
                    limiter,
                });
            }
        })
    }

    /// The flag's decision, and whether the source made it (rather than the fallback).
    #[inline]
    fn decide(
        &self,
        stats: &ControlPointStats,
        evaluation: Evaluation,
        fallback: Option<Fallback>,
    ) -> (Decision, bool) {
        match evaluation {
            Evaluation::Enabled => (Decision::Accepted, true),
            Evaluation::Disabled => (
                Decision::Rejected(Rejection::shared(stats.name(), RejectReason::FlagDisabled)),
                true,
            ),
            Evaluation::Undecided(undecided) => match self.fallback_for(stats.name(), fallback) {
                Fallback::Accept => (Decision::Accepted, false),
                Fallback::Reject => (
                    Decision::Rejected(Rejection::shared(stats.name(), undecided.into())),
                    false,
                ),
            },
        }
    }

    /// Whether flow control has nothing to say about the call site's flag.
    #[inline]
    fn admits_freely(&self, site: &'static CallSite) -> bool {
        self.inner
            .source
            .limits()
            .is_none_or(|limits| limits.unlimited_at(&site.limits))
    }

    /// Flow control after the flag said yes (see [`Limits::admit`]). Inline, so that a
    /// gate without limits builds its flow straight away.
    #[inline]
    fn admit(&self, slot: Option<&'static LimitSlot>, flag: &str, labels: &Labels) -> Admission {
        match self.inner.source.limits() {
            Some(limits) => limits.admit(slot, flag, labels),
            None => Admission::Admitted(None),
        }
    }

    fn fallback_for(&self, flag: &str, fallback: Option<Fallback>) -> Fallback {
        fallback
            .or_else(|| self.inner.source.fallback(flag))
            .unwrap_or_default()
    }

    /// Whether `flag` is on for `labels`: a pure check that starts no flow and never
    /// waits. A flag the source cannot decide takes its fallback.
    pub fn is_enabled(&self, flag: &str, labels: &Labels) -> bool {
        match self.inner.source.evaluate(flag, labels) {
            Evaluation::Enabled => true,
            Evaluation::Disabled => false,
            Evaluation::Undecided(_) => self.fallback_for(flag, None) == Fallback::Accept,
        }
    }

    /// The variant of `flag` for `labels`: a pure check, like
    /// [`is_enabled`](Client::is_enabled), with the same evaluation.
    pub fn variant(&self, flag: &str, labels: &Labels) -> Variant {
        self.inner
            .source
            .variant(flag, labels)
            .unwrap_or_else(|| Variant::disabled(self.is_enabled(flag, labels)))
    }

    /// A snapshot of the flow counters of every control point seen so far.
    pub fn metrics(&self) -> Metrics {
        self.inner.registry.snapshot(self.inner.source.limits())
    }
}

/// Where a gated call's start stands when it was not accepted at once: the flag's
/// evaluation, and flow control's answer if it was asked.
struct Pending {
    evaluation: Evaluation,
    admission: Option<Admission>,
}

impl Pending {
    fn evaluated(evaluation: Evaluation) -> Self {
        Self {
            evaluation,
            admission: None,
        }
    }
}

/// Where a flow stands once nothing more can be decided without waiting.
enum Step {
    Done(Flow),
    Queue(Queued),
}

/// An accepted flow waiting for a slot of `limiter`.
struct Queued {
    stats: StatsRef,
    decision: Decision,
    success: bool,
    span: tracing::Span,
    limiter: Arc<ConcurrencyLimiter>,
}

impl Queued {
    async fn wait(self, deadline: &mut Deadline) -> Flow {
        let waited = {
            let _queued = self.stats.queued();
            self.limiter.acquire(deadline.instant()).await
        };
        self.finish(waited)
    }

    #[cold]
    fn wait_blocking(self, deadline: &mut Deadline) -> Flow {
        let waited = {
            let _queued = self.stats.queued();
            self.limiter.acquire_blocking(deadline.instant())
        };
        self.finish(waited)
    }

    /// The flow, once the wait for a slot is over.
    fn finish(self, waited: Result<(), Refusal>) -> Flow {
        let reason = match waited {
            Ok(()) => {
                let permit = Some(Permit::taken(self.limiter));
                return Flow::new(
                    self.stats,
                    self.decision,
                    self.success,
                    Some(self.span),
                    permit,
                );
            }
            Err(Refusal::QueueFull) => RejectReason::ConcurrencyLimited,
            Err(Refusal::TimedOut) => RejectReason::QueueTimeout,
        };
        let rejection = Decision::Rejected(Rejection::shared(self.stats.name(), reason));
        Flow::new(self.stats, rejection, self.success, Some(self.span), None)
    }
}

/// The end of a flow's timeout, read from the clock only if the flow has to wait: most
/// flows never do, and reading the clock would be a good part of their cost.
struct Deadline {
    timeout: Duration,
    at: Option<Instant>,
}

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Self { timeout, at: None }
    }

    fn instant(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| {
            let now = Instant::now();
            // A timeout too long to represent waits practically forever.
            now.checked_add(self.timeout)
                .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
        })
    }

    fn remaining(&mut self) -> Duration {
        self.instant().saturating_duration_since(Instant::now())
    }
}

impl AsRef<Client> for Client {
    fn as_ref(&self) -> &Client {
        self
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
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Client> = OnceLock::new();

/// Installs the client that gates use when their attribute names no `client`.
///
/// # Errors
/// Fails, giving the client back, when a global client is already in place: set
/// earlier, or built from the environment by an earlier [`global`] call.
pub fn set_global(client: Client) -> Result<(), SetGlobalError> {
    GLOBAL
        .set(client)
        .map_err(|client| SetGlobalError { client })
}

/// The global client: the one passed to [`set_global`], or, when nothing was set, one
/// built on first use by [`Client::from_env`].
pub fn global() -> &'static Client {
    GLOBAL.get_or_init(Client::from_env)
}

/// [`set_global`] was called when a global client was already in place.
pub struct SetGlobalError {
    client: Client,
}

impl SetGlobalError {
    /// The client that was not installed.
    pub fn into_client(self) -> Client {
        self.client
    }
}

impl fmt::Debug for SetGlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetGlobalError").finish_non_exhaustive()
    }
}

impl fmt::Display for SetGlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the global flowgate client is already set (by `set_global`, or built from the \
             environment by an earlier `global()` call: set it before the first gated call)",
        )
    }
}

impl std::error::Error for SetGlobalError {}

/// Builds a [`Client`] from a rules file, a rules text or any source.
///
/// ```no_run
/// let client = flowgate::Client::builder()
///     .file("config/flowgate.toml")
///     .watch(false)
///     .build()?;
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    rules: Option<Rules>,
    watch: Option<bool>,
}

#[derive(Debug)]
enum Rules {
    File(PathBuf),
    Text(String),
    Source(Client),
}

impl ClientBuilder {
    /// Rules from this file (watched for changes unless `.watch(false)`).
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rules = Some(Rules::File(path.into()));
        self
    }

    /// Rules from this `flowgate.toml` text.
    #[must_use]
    pub fn toml(mut self, text: impl Into<String>) -> Self {
        self.rules = Some(Rules::Text(text.into()));
        self
    }

    /// Decisions from any source.
    #[must_use]
    pub fn source(mut self, source: impl DecisionSource) -> Self {
        self.rules = Some(Rules::Source(Client::new(source)));
        self
    }

    /// Whether a rules file is reloaded when it changes (default: yes).
    #[must_use]
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = Some(watch);
        self
    }

    /// The client; with nothing configured, one with no source.
    ///
    /// # Errors
    /// A [`ConfigError`] from loading the rules.
    pub fn build(self) -> Result<Client, ConfigError> {
        match self.rules {
            None => Ok(Client::empty()),
            Some(Rules::Source(client)) => Ok(client),
            Some(Rules::Text(text)) => Client::from_toml_str(&text),
            Some(Rules::File(path)) if self.watch.unwrap_or(true) => Client::from_file(path),
            Some(Rules::File(path)) => Engine::from_file(path).map(Client::new),
        }
    }
}
