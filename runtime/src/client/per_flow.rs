//! How a flow starts when its source decides each flow with a request of its own (an
//! Aperture agent; see `source::per_flow`): the same sequence as `start`, with the
//! request in place of the local evaluation.
//!
//! 1. **ask** the source's decider, with the gate's timeout and whether the flag is
//!    declared to reject when undecided (the decider's "ramp mode");
//! 2. a rejection is the flow's answer, with the retry time and HTTP status the decider
//!    gave; no answer in time is the fallback's case, as for any source;
//! 3. an accepted flow then goes through the client's own limits and queue (with what
//!    is left of the timeout), as a flow of a local source does;
//! 4. the tokens the decider lent stay with the flow until it ends, however it ends,
//!    even when a local limit rejects it.
//!
//! Every step but the request is `start`'s; this path is kept apart (and boxed by its
//! caller) so that gates on local sources carry none of it.

use std::time::{Duration, Instant};

use super::start::{Deadline, Pending, Step};
use super::{CallSite, Client};
use crate::flow::{Decision, Flow};
use crate::labels::Labels;
use crate::limits::Permit;
use crate::metrics::StatsRef;
use crate::reject::{Fallback, Rejection};
use crate::source::{Answer, Check, Evaluation, FlowDecider, Undecided};

/// Where a flow stands once its decider answered.
enum Answered {
    /// Rejected by the decider: the flow is built.
    Done(Flow),
    /// Accepted, or not answered: the client's own steps go on from this evaluation,
    /// with the tokens the decider lent.
    Go(StatsRef, Evaluation, Option<Permit>),
}

/// What is left once the answer is in and nothing more can be decided without waiting:
/// the flow, or a wait for a local slot (with its deadline, and the tokens lent).
enum Next {
    Done(Flow),
    Wait(Step, Deadline, Option<Permit>),
}

impl Client {
    /// The decider to ask, when the source said it decides each flow itself.
    #[inline]
    pub(super) fn per_flow_decider(&self, evaluation: Evaluation) -> Option<&dyn FlowDecider> {
        match evaluation {
            Evaluation::Undecided(Undecided::PerFlow) => self.inner.source.get().per_flow(),
            _ => None,
        }
    }

    /// An async start on a per-flow source.
    pub(super) async fn start_per_flow(
        &self,
        decider: &dyn FlowDecider,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        let asked = Instant::now();
        let answer = self
            .ask(decider, site, &stats, labels, timeout)
            .answer()
            .await;
        match self.after(site, stats, answer, labels, timeout, asked) {
            Next::Done(flow) => flow,
            Next::Wait(step, mut deadline, lent) => {
                Box::pin(step.finish(self, &mut deadline, labels))
                    .await
                    .holding(lent)
            }
        }
    }

    /// A blocking start on a per-flow source: the thread waits for the answer, never
    /// longer than the timeout.
    pub(super) fn start_per_flow_blocking(
        &self,
        decider: &dyn FlowDecider,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Flow {
        let asked = Instant::now();
        let answer = self
            .ask(decider, site, &stats, labels, timeout)
            .answer_blocking();
        match self.after(site, stats, answer, labels, timeout, asked) {
            Next::Done(flow) => flow,
            Next::Wait(step, mut deadline, lent) => step
                .finish_blocking(self, &mut deadline, labels)
                .holding(lent),
        }
    }

    /// Everything after the answer that needs no waiting: the client's own steps, with
    /// what is left of the timeout (asked at `asked`).
    #[allow(clippy::match_wildcard_for_single_variants)] // more steps with `redis`
    fn after(
        &self,
        site: Option<&'static CallSite>,
        stats: StatsRef,
        answer: Answer,
        labels: &Labels<'_>,
        timeout: Duration,
        asked: Instant,
    ) -> Next {
        let (stats, evaluation, lent) = match self.answered(stats, answer, labels) {
            Answered::Done(flow) => return Next::Done(flow),
            Answered::Go(stats, evaluation, lent) => (stats, evaluation, lent),
        };
        match self.decide_and_admit(site, stats, Pending::evaluated(evaluation), labels) {
            Step::Done(flow) => Next::Done(flow.holding(lent)),
            step => {
                let deadline = Deadline::after(timeout.saturating_sub(asked.elapsed()));
                Next::Wait(step, deadline, lent)
            }
        }
    }

    fn ask(
        &self,
        decider: &dyn FlowDecider,
        site: Option<&'static CallSite>,
        stats: &StatsRef,
        labels: &Labels<'_>,
        timeout: Duration,
    ) -> Check {
        // Ramp mode only for a flag declared `fallback = "reject"`: an agent in ramp
        // mode rejects whatever no load ramp admits, so the undeclared default would
        // turn an agent with only a rate limiter into a wall (a new user's trial hit
        // exactly that).
        let declared = site
            .filter(|site| site.declared)
            .and_then(|site| site.fallback)
            .or_else(|| self.declared_fallback(stats.name()));
        let ramp = matches!(declared, Some(Fallback::Reject));
        decider.check(stats.name(), labels, timeout, ramp)
    }

    fn answered(&self, stats: StatsRef, answer: Answer, labels: &Labels<'_>) -> Answered {
        match answer {
            Answer::Accepted(lent) => Answered::Go(stats, Evaluation::Enabled, lent),
            Answer::Failed(undecided) => {
                Answered::Go(stats, Evaluation::Undecided(undecided), None)
            }
            Answer::Rejected {
                reason,
                retry_after,
                status,
                permit,
            } => {
                let mut rejection = Rejection::of(stats.flag_name(), reason);
                if let Some(retry_after) = retry_after {
                    rejection = rejection.with_retry_after(retry_after);
                }
                if let Some(status) = status {
                    rejection = rejection.with_status_code(status);
                }
                let decision = Decision::Rejected(rejection);
                let told = self.told(labels);
                Answered::Done(Flow::new(stats, decision, true, None, permit, told))
            }
        }
    }
}
