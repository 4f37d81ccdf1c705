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
    pub(crate) fn new(
        stats: StatsRef,
        decision: Decision,
        success: bool,
        span: tracing::Span,
        permit: Option<Permit>,
    ) -> Self {
        match &decision {
            Decision::Accepted => stats.record_accepted(!success),
            Decision::Rejected(rejection) => stats.record_rejected(rejection.reason(), !success),
        }
        if !span.is_disabled() {
            match &decision {
                Decision::Accepted => span.record("decision", "accepted"),
                Decision::Rejected(rejection) => span
                    .record("decision", "rejected")
                    .record("reason", rejection.reason().as_str()),
            };
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
    pub fn end(mut self) {
        let ending = match self.status() {
            FlowStatus::Ok => Ending::Ok,
            FlowStatus::Error => Ending::Error,
        };
        self.finish(ending);
    }

    fn finish(&mut self, ending: Ending) {
        debug_assert!(!self.ended, "a flow ends once");
        self.ended = true;
        drop(self.permit.take());
        if self.decision.is_accepted() {
            self.stats.record_end(ending);
            self.span.record("status", ending.as_str());
        } else if let Some(status) = self.status {
            // A rejected flow's status is recorded only when the caller chose one.
            let ending = match status {
                FlowStatus::Ok => Ending::Ok,
                FlowStatus::Error => Ending::Error,
            };
            self.span.record("status", ending.as_str());
        }
    }
}

impl Drop for Flow {
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
