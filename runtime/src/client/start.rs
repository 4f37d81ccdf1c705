//! How a flow starts: the one sequence every start goes through, gated call or call by
//! name, blocking or async:
//!
//! 1. **evaluate** the flag (a gate through its call site's memo);
//! 2. **wait** for the source, up to the timeout, only if it is not ready yet;
//! 3. **decide**: the source's answer, or the fallback when it could not decide;
//! 4. **admit**: the client's limits, for a flow the flag accepted;
//! 5. **queue** for a concurrency slot, up to the timeout, when all are taken;
//! 6. build the [`Flow`].
//!
//! A source that decides each flow with a request of its own (an Aperture agent) takes
//! the path in `per_flow` from step 2, with the request in place of step 1's answer.
//!
//! A gated call accepted at once (most of them) stops after step 4, on a short path
//! that builds its flow in place: a blocking gate asks flow control directly
//! ([`Client::start_flow_blocking_at`]); an async gate only asks whether its flag is
//! unlimited ([`Client::try_start_flow_at`]), because it must hand back a small value
//! when it cannot finish at once (a larger one made every async gate's future copy its
//! flow). Everything else goes through [`Client::decide_and_admit`], and the waits are
//! the only part written twice, once blocking and once async.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{AsFlag, CallSite, Client};
use crate::flow::{Decision, Flow};
use crate::labels::Labels;
use crate::limits::{Admission, ConcurrencyLimiter, LimitSlot, Permit, Refusal};
use crate::metrics::StatsRef;
use crate::reject::{Fallback, RejectReason, Rejection};
use crate::source::{Evaluation, Readiness, Undecided};

impl Client {
    /// Starts a flow of `flag`, waiting up to `timeout` for the source to be ready. The
    /// wait does not block the thread.
    ///
    /// The fallback is the one the rules file declares for the flag (or
    /// [`ClientBuilder::fallback`](crate::ClientBuilder::fallback)), else
    /// [`Fallback::Reject`].
    pub async fn start_flow(
        &self,
        flag: impl AsFlag,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        let ambient = crate::labels::with_ambient_owned(labels);
        let labels = ambient.as_deref().unwrap_or(labels);
        let (stats, pending) = self.evaluate_by_name(flag.flag_name(), labels);
        self.start_flow_with(None, stats, pending, labels, timeout)
            .await
    }

    /// Starts a flow of `flag` from a plain function: like
    /// [`start_flow`](Client::start_flow), but it may block the thread up to `timeout`
    /// (only while the source is not ready), never longer.
    pub fn start_flow_blocking(
        &self,
        flag: impl AsFlag,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        crate::labels::with_ambient(labels, |labels| {
            let (stats, pending) = self.evaluate_by_name(flag.flag_name(), labels);
            self.start_flow_blocking_with(None, stats, pending, labels, timeout)
        })
    }

    /// A flow started by name: its flag's counters and its evaluation.
    fn evaluate_by_name(&self, flag: &str, labels: &Labels<'_>) -> (StatsRef, Pending) {
        let stats = StatsRef::Shared(self.inner.registry.flag(flag));
        (
            stats,
            Pending::evaluated(self.inner.source.evaluate(flag, labels)),
        )
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
        labels: &Labels<'_>,
    ) -> Result<Flow, Evaluation> {
        let evaluation = crate::labels::with_ambient(labels, |labels| {
            self.inner.source.evaluate_at(site.flag, &site.slot, labels)
        });
        match evaluation {
            Evaluation::Enabled if self.admits_freely(site) => {
                Ok(Flow::accepted(site.stats(self), None, self.told(labels)))
            }
            Evaluation::Disabled => Ok(Flow::disabled(site.stats(self), self.told(labels))),
            _ => Err(evaluation),
        }
    }

    /// The rest of an async gated call's start, after [`try_start_flow_at`](Self::try_start_flow_at).
    pub(crate) fn start_flow_at<'a>(
        &'a self,
        site: &'static CallSite,
        labels: &'a Labels<'a>,
        timeout: Duration,
        evaluation: Evaluation,
    ) -> impl Future<Output = Flow> + 'a {
        let pending = Pending::evaluated(evaluation);
        // Kept while the flow waits; a box, so that a gated future without ambient
        // labels reserves one word for them.
        let ambient = crate::labels::with_ambient_owned(labels);
        async move {
            let labels = ambient.as_deref().unwrap_or(labels);
            self.start_flow_with(Some(site), site.stats(self), pending, labels, timeout)
                .await
        }
    }

    /// A sync gated call's start.
    #[inline]
    pub(crate) fn start_flow_blocking_at(
        &self,
        site: &'static CallSite,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        if crate::labels::ambient_live() {
            return self.start_flow_blocking_ambient(site, labels, timeout);
        }
        self.start_flow_blocking_on(site, labels, timeout)
    }

    #[cold]
    #[inline(never)]
    fn start_flow_blocking_ambient(
        &self,
        site: &'static CallSite,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        crate::labels::with_ambient_cold(labels, |labels| {
            self.start_flow_blocking_on(site, labels, timeout)
        })
    }

    /// [`start_flow_blocking_at`](Self::start_flow_blocking_at) on the labels to decide on.
    #[inline]
    fn start_flow_blocking_on(
        &self,
        site: &'static CallSite,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        // As `try_start_flow_at`, without a `Result` around the flow: moving a flow
        // costs more than deciding it.
        let evaluation = self.inner.source.evaluate_at(site.flag, &site.slot, labels);
        let stats = site.stats(self);
        let pending = match evaluation {
            Evaluation::Enabled => match self.admit(Some(&site.limits), site.flag, labels) {
                Admission::Admitted(permit) => {
                    return Flow::accepted(stats, permit, self.told(labels))
                }
                admission => Pending {
                    evaluation,
                    admission: Some(admission),
                },
            },
            Evaluation::Disabled => return Flow::disabled(stats, self.told(labels)),
            Evaluation::Undecided(_) => Pending::evaluated(evaluation),
        };
        self.start_flow_blocking_with(Some(site), stats, pending, labels, timeout)
    }

    #[allow(clippy::match_wildcard_for_single_variants)] // more steps with `redis`
    async fn start_flow_with(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        mut pending: Pending,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        if let Some(decider) = self.per_flow_decider(pending.evaluation) {
            // Boxed, as the waits below: gates on local sources carry none of it.
            return Box::pin(self.start_per_flow(decider, site, stats, labels, timeout)).await;
        }
        let mut deadline = Deadline::after(timeout);
        // The waits are boxed, and nothing else is kept across them: a gated async
        // function's future reserves room for its largest wait, and most flows never
        // wait. A flow that waits allocates once.
        if let Some(readiness) = self.readiness_to_await(pending.evaluation) {
            if Box::pin(readiness.wait(deadline.remaining())).await {
                pending = Pending::evaluated(self.inner.source.evaluate(stats.name(), labels));
            }
        }
        match self.decide_and_admit(site, stats, pending, labels) {
            Step::Done(flow) => flow,
            step => Box::pin(step.finish(self, &mut deadline, labels)).await,
        }
    }

    #[inline(never)]
    fn start_flow_blocking_with(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        mut pending: Pending,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        if let Some(decider) = self.per_flow_decider(pending.evaluation) {
            return self.start_per_flow_blocking(decider, site, stats, labels, timeout);
        }
        let mut deadline = Deadline::after(timeout);
        if let Some(readiness) = self.readiness_to_await(pending.evaluation) {
            pending = Pending::evaluated(self.evaluate_when_ready_blocking(
                readiness,
                &mut deadline,
                stats.name(),
                labels,
            ));
        }
        self.decide_and_admit(site, stats, pending, labels)
            .finish_blocking(self, &mut deadline, labels)
    }

    /// The evaluation once the source is ready, or as it stands when the wait times out.
    #[cold]
    fn evaluate_when_ready_blocking(
        &self,
        readiness: &Readiness,
        deadline: &mut Deadline,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Evaluation {
        if readiness.wait_blocking(deadline.remaining()) {
            self.inner.source.evaluate(flag, labels)
        } else {
            Evaluation::Undecided(Undecided::NotReady)
        }
    }

    /// The readiness signal worth waiting on after `evaluation`: only a source that said
    /// it is not ready yet can change its answer by waiting.
    #[inline]
    fn readiness_to_await(&self, evaluation: Evaluation) -> Option<&Readiness> {
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
    pub(super) fn decide_and_admit(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        pending: Pending,
        labels: &Labels<'_>,
    ) -> Step {
        let fallback = site.and_then(|site| site.fallback);
        let (decision, success) = self.decide(&stats, pending.evaluation, fallback);
        if !decision.is_accepted() {
            return Step::Done(Flow::new(
                stats,
                decision,
                success,
                None,
                None,
                self.told(labels),
            ));
        }
        let admission = pending
            .admission
            .unwrap_or_else(|| self.admit(site.map(|site| &site.limits), stats.name(), labels));
        self.admitted(stats, decision, success, admission, labels)
    }

    /// The flow once flow control answered an accepted flow (`decision`, made by the
    /// source when `success`).
    pub(super) fn admitted(
        &self,
        stats: StatsRef,
        decision: Decision,
        success: bool,
        admission: Admission,
        labels: &Labels<'_>,
    ) -> Step {
        Step::Done(match admission {
            // The flag said yes and flow control admits: the short way.
            Admission::Admitted(permit) if success => {
                Flow::accepted(stats, permit, self.told(labels))
            }
            Admission::Admitted(permit) => {
                Flow::new(stats, decision, success, None, permit, self.told(labels))
            }
            Admission::RateLimited(retry_after) => {
                self.rate_limited(stats, success, retry_after, labels)
            }
            Admission::Queue(limiter) => {
                // Created here, so that the span covers the wait.
                let span = crate::telemetry::flow_span(&self.inner.telemetry, stats.name(), labels);
                return Step::Queue(Queued {
                    since: (!span.is_disabled()).then(Instant::now),
                    telemetry: self.inner.telemetry.clone(),
                    span,
                    stats,
                    decision,
                    success,
                    limiter,
                });
            }
            #[cfg(feature = "redis")]
            Admission::Refill(rate) => {
                return Step::Refill(Refilling {
                    stats,
                    decision,
                    success,
                    rate,
                })
            }
        })
    }

    /// A flow over its rate limit.
    pub(super) fn rate_limited(
        &self,
        stats: StatsRef,
        success: bool,
        retry_after: Duration,
        labels: &Labels<'_>,
    ) -> Flow {
        let rejection = Rejection::of(stats.flag_name(), RejectReason::RateLimited)
            .with_retry_after(retry_after);
        let told = self.told(labels);
        Flow::new(
            stats,
            Decision::Rejected(rejection),
            success,
            None,
            None,
            told,
        )
    }

    /// The flag's decision, and whether the source made it (rather than the fallback).
    #[inline]
    fn decide(
        &self,
        stats: &StatsRef,
        evaluation: Evaluation,
        fallback: Option<Fallback>,
    ) -> (Decision, bool) {
        match evaluation {
            Evaluation::Enabled => (Decision::Accepted, true),
            Evaluation::Disabled => (
                Decision::Rejected(Rejection::of(stats.flag_name(), RejectReason::FlagDisabled)),
                true,
            ),
            Evaluation::Undecided(undecided) => match self.fallback_for(stats.name(), fallback) {
                Fallback::Accept => (Decision::Accepted, false),
                Fallback::Reject => (
                    Decision::Rejected(Rejection::of(stats.flag_name(), undecided.into())),
                    false,
                ),
            },
        }
    }

    /// Whether flow control has nothing to say about the call site's flag.
    #[inline]
    fn admits_freely(&self, site: &'static CallSite) -> bool {
        self.inner.policy.limits().unlimited_at(&site.limits)
    }

    /// Flow control after the flag said yes (see `Limits::admit`). Inline, so that a
    /// gate without limits builds its flow straight away.
    #[inline]
    fn admit(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Admission {
        self.inner.policy.limits().admit(slot, flag, labels)
    }

    /// The fallback of `flag`: the call site's, else the one declared for the flag,
    /// else [`Fallback::Reject`].
    pub(super) fn fallback_for(&self, flag: &str, fallback: Option<Fallback>) -> Fallback {
        fallback
            .or_else(|| self.declared_fallback(flag))
            .unwrap_or_default()
    }
}

/// Where a gated call's start stands when it was not accepted at once: the flag's
/// evaluation, and flow control's answer if it was asked.
pub(super) struct Pending {
    evaluation: Evaluation,
    admission: Option<Admission>,
}

impl Pending {
    pub(super) fn evaluated(evaluation: Evaluation) -> Self {
        Self {
            evaluation,
            admission: None,
        }
    }
}

/// Where a flow stands once nothing more can be decided without waiting.
pub(super) enum Step {
    Done(Flow),
    Queue(Queued),
    /// Waiting for a global rate limit's next batch of tokens.
    #[cfg(feature = "redis")]
    Refill(Refilling),
}

/// An accepted flow waiting for a token of a global rate limit (see `refill`).
#[cfg(feature = "redis")]
pub(super) struct Refilling {
    pub(super) stats: StatsRef,
    pub(super) decision: Decision,
    pub(super) success: bool,
    pub(super) rate: Arc<crate::limits::global::GlobalRate>,
}

impl Step {
    /// The flow, once every wait is over (async).
    #[cfg_attr(
        not(feature = "redis"),
        allow(unused_mut, unused_variables, clippy::never_loop)
    )]
    pub(super) async fn finish(
        mut self,
        client: &Client,
        deadline: &mut Deadline,
        labels: &Labels<'_>,
    ) -> Flow {
        loop {
            match self {
                Step::Done(flow) => return flow,
                Step::Queue(queued) => return Box::pin(queued.wait(deadline)).await,
                #[cfg(feature = "redis")]
                Step::Refill(refilling) => {
                    self = Box::pin(client.refill(refilling, deadline, labels)).await;
                }
            }
        }
    }

    /// The flow, once every wait is over (blocking the thread).
    #[cfg_attr(not(feature = "redis"), allow(unused_mut, clippy::never_loop))]
    pub(super) fn finish_blocking(
        mut self,
        client: &Client,
        deadline: &mut Deadline,
        labels: &Labels<'_>,
    ) -> Flow {
        let _ = (client, labels);
        loop {
            match self {
                Step::Done(flow) => return flow,
                Step::Queue(queued) => return queued.wait_blocking(deadline),
                #[cfg(feature = "redis")]
                Step::Refill(refilling) => {
                    self = client.refill_blocking(refilling, deadline, labels);
                }
            }
        }
    }
}

/// An accepted flow waiting for a slot of `limiter`.
pub(super) struct Queued {
    stats: StatsRef,
    decision: Decision,
    success: bool,
    span: tracing::Span,
    /// When the wait started, if the span records it.
    since: Option<Instant>,
    telemetry: crate::telemetry::Telemetry,
    limiter: Arc<ConcurrencyLimiter>,
}

impl Queued {
    pub(super) async fn wait(self, deadline: &mut Deadline) -> Flow {
        let waited = {
            let mut queued = self.stats.queued();
            let waited = self.limiter.acquire(deadline.instant()).await;
            if matches!(waited, Err(Refusal::QueueFull)) {
                queued.refused_at_once();
            }
            waited
        };
        self.finish(waited)
    }

    #[cold]
    pub(super) fn wait_blocking(self, deadline: &mut Deadline) -> Flow {
        let waited = {
            let mut queued = self.stats.queued();
            let waited = self.limiter.acquire_blocking(deadline.instant());
            if matches!(waited, Err(Refusal::QueueFull)) {
                queued.refused_at_once();
            }
            waited
        };
        self.finish(waited)
    }

    /// The flow, once the wait for a slot is over.
    fn finish(self, waited: Result<(), Refusal>) -> Flow {
        if let Some(since) = self.since {
            crate::telemetry::record_queue_wait(&self.span, since.elapsed());
        }
        let none = Labels::new();
        let told = crate::telemetry::Told {
            telemetry: &self.telemetry,
            labels: &none,
        };
        let reason = match waited {
            Ok(()) => {
                let permit = Some(Permit::taken(self.limiter));
                return Flow::new(
                    self.stats,
                    self.decision,
                    self.success,
                    Some(self.span),
                    permit,
                    told,
                );
            }
            Err(Refusal::QueueFull) => RejectReason::ConcurrencyLimited,
            Err(Refusal::TimedOut) => RejectReason::QueueTimeout,
        };
        let rejection = Decision::Rejected(Rejection::of(self.stats.flag_name(), reason));
        Flow::new(
            self.stats,
            rejection,
            self.success,
            Some(self.span),
            None,
            told,
        )
    }
}

/// The end of a flow's timeout, read from the clock only if the flow has to wait: most
/// flows never do, and reading the clock would be a good part of their cost.
pub(super) struct Deadline {
    timeout: Duration,
    at: Option<Instant>,
}

impl Deadline {
    pub(super) fn after(timeout: Duration) -> Self {
        Self { timeout, at: None }
    }

    pub(super) fn instant(&mut self) -> Instant {
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
