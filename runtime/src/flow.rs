//! One gated call: its decision, its span, and how it ended.

use std::fmt;

use crate::decision::{Decision, Rejection};
use crate::limits::Permit;
use crate::metrics::{Ending, StatsRef};

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

/// A started flow: the decision for one call of a control point.
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
/// if !flow.success() {
///     eprintln!("no decision in time: the flag's fallback applied");
/// }
/// if flow.should_run() {
///     // the work
/// } else {
///     flow.set_status(FlowStatus::Error);
/// }
/// flow.end();
/// assert_eq!(client.metrics().control_point("AwesomeFeature").ok, 1);
/// ```
#[must_use = "a flow that is dropped without `end()` counts as cancelled"]
pub struct Flow {
    stats: StatsRef,
    decision: Decision,
    success: bool,
    status: Option<FlowStatus>,
    span: tracing::Span,
    ended: bool,
    /// The concurrency slot the flow holds, given back when it ends.
    permit: Option<Permit>,
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
    ) -> Self {
        let span = span.unwrap_or_else(|| flow_span(stats.name()));
        match &decision {
            Decision::Accepted => stats.record_accepted(!success),
            Decision::Rejected(rejection) => stats.record_rejected(rejection.reason(), !success),
        }
        if !span.is_disabled() {
            record_decision(&span, &decision);
        }
        Self {
            stats,
            decision,
            success,
            status: None,
            span,
            ended: false,
            permit,
        }
    }

    /// A flow the flag accepted and flow control admitted at once.
    #[inline]
    pub(crate) fn accepted(stats: StatsRef, permit: Option<Permit>) -> Self {
        stats.record_accepted(false);
        let span = flow_span(stats.name());
        if !span.is_disabled() {
            record_decision(&span, &Decision::Accepted);
        }
        Self {
            stats,
            decision: Decision::Accepted,
            success: true,
            status: None,
            span,
            ended: false,
            permit,
        }
    }

    /// The control point (flag) of this flow.
    pub fn control_point(&self) -> &str {
        self.stats.name()
    }

    /// Whether the decision source answered in time. When it did not, the decision is the
    /// flag's fallback.
    pub fn success(&self) -> bool {
        self.success
    }

    /// Whether the work may run.
    pub fn should_run(&self) -> bool {
        self.decision.is_accepted()
    }

    /// The decision.
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
        if self.permit.is_some() {
            self.release_permit();
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
    fn release_permit(&mut self) {
        drop(self.permit.take());
    }

    #[cold]
    #[inline(never)]
    fn record_status(&self, ending: Ending) {
        if self.decision.is_accepted() {
            self.span.record("status", ending.as_str());
        } else if let Some(status) = self.status {
            // A rejected flow's status is recorded only when the caller chose one.
            self.span.record("status", Ending::from(status).as_str());
        }
    }
}

/// The span of a flow of `control_point`. Without a subscriber that wants it, this is
/// one load and a compare; the span itself is made out of line.
#[inline]
pub(crate) fn flow_span(control_point: &str) -> tracing::Span {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        enabled_flow_span(control_point)
    } else {
        tracing::Span::none()
    }
}

#[cold]
#[inline(never)]
fn enabled_flow_span(control_point: &str) -> tracing::Span {
    tracing::debug_span!(
        target: "flowgate",
        "flowgate.flow",
        control_point,
        decision = tracing::field::Empty,
        reason = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}

/// Kept out of line: without a subscriber, spans are disabled and this never runs.
#[inline(never)]
fn record_decision(span: &tracing::Span, decision: &Decision) {
    match decision {
        Decision::Accepted => span.record("decision", "accepted"),
        Decision::Rejected(rejection) => span
            .record("decision", "rejected")
            .record("reason", rejection.reason().as_str()),
    };
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
            .field("control_point", &self.control_point())
            .field("decision", &self.decision)
            .field("success", &self.success)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}
