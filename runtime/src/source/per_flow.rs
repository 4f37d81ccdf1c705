//! Sources that decide each flow themselves, remotely, rather than from local state:
//! an Aperture agent answers a request per flow and may lend the flow tokens that go
//! back when it ends.
//!
//! Such a source answers [`Undecided::PerFlow`] to [`DecisionSource::evaluate`], and
//! gives a [`FlowDecider`] through a hidden method of the trait; the client's start
//! sequence then asks the decider instead of the local answer. The decider owns its
//! I/O (a background runtime): the [`Check`] it hands back resolves within the gate's
//! timeout whatever the executor the gate runs on, and even on none (a blocking gate).
//!
//! The trait is public in a private module: sources of other crates cannot name it,
//! so the hidden method stays flowgate's own, and can change with it.
//!
//! [`DecisionSource::evaluate`]: super::DecisionSource::evaluate

use std::time::Duration;

use super::Undecided;
use crate::labels::Labels;
use crate::limits::Permit;
use crate::reject::RejectReason;

/// A source that decides each flow with a request of its own (see the module
/// documentation).
pub trait FlowDecider: Send + Sync {
    /// Asks whether a flow of `flag` may run for `labels`. The answer comes within
    /// `timeout` (the decider bounds its request by it). `ramp`: the flag is declared
    /// to reject when it cannot be decided (`fallback = "reject"`), so the decider
    /// should reject flows nothing explicitly admits (Aperture's ramp mode).
    fn check(&self, flag: &str, labels: &Labels<'_>, timeout: Duration, ramp: bool) -> Check;
}

/// A remote decider's answer for one flow.
#[derive(Debug)]
#[cfg_attr(not(feature = "aperture"), allow(dead_code))]
pub(crate) enum Answer {
    /// The flow may run; `permit` gives the decider's tokens back when it ends.
    Accepted(Option<Permit>),
    /// The flow must not run.
    Rejected {
        reason: RejectReason,
        retry_after: Option<Duration>,
        /// The HTTP status a response should have, if the decider said.
        status: Option<u16>,
        /// Tokens some of the decider's limiters lent before another rejected.
        permit: Option<Permit>,
    },
    /// No answer (unreachable, too slow, refused our credentials): the gate's fallback
    /// applies.
    Failed(Undecided),
}

/// A pending answer, to wait for asynchronously (on any executor) or by blocking.
#[derive(Debug)]
pub struct Check {
    receiver: tokio::sync::oneshot::Receiver<Answer>,
}

impl Check {
    /// A check whose answer arrives through `receiver`; a sender dropped without an
    /// answer (a decider shut down) reads as [`Undecided::Error`].
    #[cfg_attr(not(feature = "aperture"), allow(dead_code))]
    pub(crate) fn new(receiver: tokio::sync::oneshot::Receiver<Answer>) -> Self {
        Self { receiver }
    }

    /// The answer.
    pub(crate) async fn answer(self) -> Answer {
        self.receiver
            .await
            .unwrap_or(Answer::Failed(Undecided::Error))
    }

    /// The answer, blocking the thread until it comes (the decider bounds the wait).
    /// Parks the thread rather than entering a runtime: a blocking gate may run on a
    /// thread of one.
    pub(crate) fn answer_blocking(self) -> Answer {
        crate::background::park_on(self.answer())
    }
}
