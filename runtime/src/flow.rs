//! One gated call: its decision, its span, and how it ended.
//!
//! A flow is built in place and ended in place on the fast path: moving one (it is
//! about a hundred bytes) costs more than deciding it, which is why the constructors and
//! `end_in_place` are what the start sequence and the attribute call.

use std::fmt;
use std::mem::ManuallyDrop;

use crate::limits::Permit;
use crate::metrics::{Ending, Started, StatsRef};
use crate::reject::{RejectReason, Rejection};
use crate::telemetry::{flow_span, record_decision, Told};

/// How a flow ended, as set by [`Flow::set_status`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FlowStatus {
    /// The work succeeded.
    #[default]
    Ok,
    /// The work failed (an `Err`, a panic, or whatever the caller calls failure).
    Error,
}

impl From<FlowStatus> for Ending {
    fn from(status: FlowStatus) -> Self {
        match status {
            FlowStatus::Ok => Ending::Ok,
            FlowStatus::Error => Ending::Error,
        }
    }
}

/// The decision a flow received. Kept for code written against 0.1: use
/// [`Flow::should_run`] and [`Flow::rejection`].
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The body may run.
    Accepted,
    /// The body must not run.
    Rejected(Rejection),
}

impl Decision {
    /// Whether the flow was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Decision::Accepted)
    }

    /// The rejection, if the flow was rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Decision::Accepted => None,
            Decision::Rejected(rejection) => Some(rejection),
        }
    }
}

/// A started flow: the decision for one call of a flag.
///
/// Run the work only when [`should_run`](Flow::should_run) says so, then
/// [`end`](Flow::end) the flow. A flow ends exactly once: `end` consumes it, and a flow
/// dropped without `end` ends by itself, with [`FlowStatus::Error`] if the thread is
/// panicking and as *cancelled* otherwise (a dropped future).
///
/// ```
/// use std::time::Duration;
/// use flowgate::{labels, FlowStatus, testing::InMemorySource};
///
/// let client = InMemorySource::new().enable("AwesomeFeature").into_client();
/// let mut flow = client.start_flow_blocking(
///     "AwesomeFeature",
///     &labels! { "userId" => 7 },
///     Duration::from_millis(200),
/// );
/// if flow.by_fallback() {
///     eprintln!("no decision in time: the flag's fallback applied");
/// }
/// if flow.should_run() {
///     // the work
/// } else {
///     flow.set_status(FlowStatus::Error);
/// }
/// flow.end();
/// assert_eq!(client.metrics().flag("AwesomeFeature").ok, 1);
/// ```
#[must_use = "a flow that is dropped without `end()` counts as cancelled"]
pub struct Flow {
    stats: StatsRef,
    decision: Decision,
    success: bool,
    status: Option<FlowStatus>,
    span: tracing::Span,
    ended: bool,
    /// The slot the flow holds, given back when it ends: `finish` takes it, on every
    /// way a flow ends. In `ManuallyDrop` so that dropping a flow has no drop glue for
    /// it (measured: the glue of a three-way `Permit` cost every gate 20 to 30
    /// instructions, for a field that is always empty by then).
    permit: ManuallyDrop<Option<Permit>>,
    /// When an accepted flow started, if its flag's timings are collected.
    started: Started,
}

impl Flow {
    #[inline]
    ///
    /// Without a `span`, the flow's span starts here. Spans are made as late as
    /// possible: moving one between functions costs more than making it.
    pub(crate) fn new(
        stats: StatsRef,
        decision: Decision,
        success: bool,
        span: Option<tracing::Span>,
        permit: Option<Permit>,
        told: Told<'_>,
    ) -> Self {
        let span = span.unwrap_or_else(|| flow_span(told.telemetry, stats.name(), told.labels));
        match &decision {
            Decision::Accepted => stats.record_accepted(!success),
            Decision::Rejected(rejection) => stats.record_rejected(rejection.reason(), !success),
        }
        if !span.is_disabled() {
            let rejected = decision.rejection().map(Rejection::reason);
            record_decision(&span, told.telemetry, stats.name(), rejected, !success);
        }
        let started = if decision.is_accepted() {
            stats.start_timer()
        } else {
            Started::NOT_TIMED
        };
        Self {
            stats,
            decision,
            success,
            status: None,
            span,
            ended: false,
            permit: ManuallyDrop::new(permit),
            started,
        }
    }

    /// A flow whose flag is off for the call: rejected at once, the most common
    /// rejection. Always inlined, as [`accepted`](Self::accepted) is.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn disabled(stats: StatsRef, told: Told<'_>) -> Self {
        stats.record_rejected(RejectReason::FlagDisabled, false);
        let decision =
            Decision::Rejected(Rejection::of(stats.flag_name(), RejectReason::FlagDisabled));
        let span = flow_span(told.telemetry, stats.name(), told.labels);
        if !span.is_disabled() {
            let rejected = Some(RejectReason::FlagDisabled);
            record_decision(&span, told.telemetry, stats.name(), rejected, false);
        }
        Self {
            stats,
            decision,
            success: true,
            status: None,
            span,
            ended: false,
            permit: ManuallyDrop::new(None),
            started: Started::NOT_TIMED,
        }
    }

    /// A flow the flag accepted and flow control admitted at once. Always inlined: it
    /// is built where the gate keeps it (a flow built aside and moved there costs a
    /// copy of about a hundred bytes and the stalls after it, a third of a gated call).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn accepted(stats: StatsRef, permit: Option<Permit>, told: Told<'_>) -> Self {
        stats.record_accepted(false);
        let span = flow_span(told.telemetry, stats.name(), told.labels);
        if !span.is_disabled() {
            record_decision(&span, told.telemetry, stats.name(), None, false);
        }
        let started = stats.start_timer();
        Self {
            stats,
            decision: Decision::Accepted,
            success: true,
            status: None,
            span,
            ended: false,
            permit: ManuallyDrop::new(permit),
            started,
        }
    }

    /// The flow, holding `lent` too (a remote decider's tokens) until it ends.
    pub(crate) fn holding(mut self, lent: Option<Permit>) -> Self {
        if let Some(lent) = lent {
            *self.permit = Some(match self.permit.take() {
                Some(local) => local.and(lent),
                None => lent,
            });
        }
        self
    }

    /// The flag of this flow.
    pub fn flag(&self) -> &str {
        self.stats.name()
    }

    /// Whether the decision is the flag's fallback: the source could not decide in time
    /// (not ready, no source, unknown flag, an error).
    pub fn by_fallback(&self) -> bool {
        !self.success
    }

    /// Whether the work may run.
    pub fn should_run(&self) -> bool {
        self.decision.is_accepted()
    }

    /// The flag of this flow.
    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "renamed `flag()`")]
    pub fn control_point(&self) -> &str {
        self.stats.name()
    }

    /// Whether the source decided (rather than the fallback).
    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "use `!flow.by_fallback()`")]
    pub fn success(&self) -> bool {
        self.success
    }

    /// The decision.
    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "use `should_run()` and `rejection()`")]
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The rejection, when the work must not run.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.decision.rejection()
    }

    /// Sets the status the flow ends with (default [`FlowStatus::Ok`]).
    pub fn set_status(&mut self, status: FlowStatus) {
        self.status = Some(status);
    }

    /// The status set so far.
    pub fn status(&self) -> FlowStatus {
        self.status.unwrap_or_default()
    }

    /// The flow's tracing span, `flowgate.flow`.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Ends the flow with its status.
    #[inline]
    pub fn end(mut self) {
        let ending = Ending::from(self.status());
        self.finish(ending);
    }

    /// [`end`](Self::end) without moving the flow; its drop then does nothing.
    #[inline]
    pub(crate) fn end_in_place(&mut self, status: FlowStatus) {
        self.status = Some(status);
        if !self.ended {
            self.finish(Ending::from(status));
        }
    }

    #[inline]
    fn finish(&mut self, ending: Ending) {
        debug_assert!(!self.ended, "a flow ends once");
        self.ended = true;
        // One branch for the two rare things an ending does: give a slot back, and
        // record how long the flow ran (measured: two branches cost a gated call 7
        // instructions more).
        #[allow(clippy::needless_bitwise_bool)]
        if self.permit.is_some() | (self.started != Started::NOT_TIMED) {
            self.release_and_time();
        }
        if self.decision.is_accepted() {
            self.stats.record_end(ending);
        }
        // Without a subscriber the span is disabled, and `record` would still search
        // the span's fields by name.
        if !self.span.is_disabled() {
            self.record_status(ending);
        }
    }

    #[inline(never)]
    fn release_and_time(&mut self) {
        drop(self.permit.take());
        if self.started != Started::NOT_TIMED {
            self.stats.record_duration(self.started);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_status(&self, ending: Ending) {
        let ending = if self.decision.is_accepted() {
            ending
        } else if let Some(status) = self.status {
            // A rejected flow's status is recorded only when the caller chose one.
            Ending::from(status)
        } else {
            return;
        };
        self.span.record("flowgate.status", ending.as_str());
        // Only an Aperture flow's span has the field (else this records nothing):
        // Aperture knows `OK` and `Error`, and a cancelled flow did not succeed.
        let aperture = if ending == Ending::Ok { "OK" } else { "Error" };
        self.span.record("aperture.flow.status", aperture);
    }
}

impl Drop for Flow {
    #[inline]
    fn drop(&mut self) {
        if !self.ended {
            let ending = if std::thread::panicking() {
                Ending::Error
            } else {
                Ending::Cancelled
            };
            self.finish(ending);
        }
    }
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("flag", &self.flag())
            .field("decision", &self.decision)
            .field("success", &self.success)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    /// A flow is built and moved in place on every gated call: it must stay within two
    /// cache lines (what `Started` squeezes into padding for).
    #[test]
    fn a_flow_stays_within_two_cache_lines() {
        assert!(std::mem::size_of::<super::Flow>() <= 128);
    }
}
