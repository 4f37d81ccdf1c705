//! What an Aperture source counts, and the agent's health: each change between
//! answering and failing (and between kinds of failure) is logged once, not per flow.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::inspect::SourceDetails;

use super::agent::Failure;
use super::MAX_PENDING_ENDS;

/// An Aperture source's counters (see [`ApertureHandle::stats`](super::ApertureHandle::stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApertureStats {
    /// Flows the agent accepted.
    pub accepted: u64,
    /// Flows the agent rejected.
    pub rejected: u64,
    /// Checks with no answer: the agent unreachable.
    pub unreachable: u64,
    /// Checks with no answer within the gate's timeout.
    pub timeouts: u64,
    /// Checks refused for the API key.
    pub unauthenticated: u64,
    /// Checks that failed otherwise (an error status, a reply that could not be read or
    /// that this version does not know).
    pub errors: u64,
    /// `FlowEnd` requests the agent answered.
    pub ends_sent: u64,
    /// `FlowEnd` requests that failed (the agent frees those tokens when they expire).
    pub ends_failed: u64,
    /// `FlowEnd` requests not sent: more than [`MAX_PENDING_ENDS`] were in flight.
    ///
    /// [`MAX_PENDING_ENDS`]: super::MAX_PENDING_ENDS
    pub ends_dropped: u64,
    /// `FlowEnd` requests in flight now.
    pub ends_pending: u64,
    /// Changes between the agent answering and failing, each logged once.
    pub transitions: u64,
}

/// The live counters.
#[derive(Default)]
pub(super) struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    unreachable: AtomicU64,
    timeouts: AtomicU64,
    unauthenticated: AtomicU64,
    errors: AtomicU64,
    ends_sent: AtomicU64,
    ends_failed: AtomicU64,
    ends_dropped: AtomicU64,
    transitions: AtomicU64,
    /// 0: answering (or not asked yet); else the failure's code (see `code`).
    health: AtomicU8,
    /// When the agent last answered, in milliseconds since the Unix epoch (0: never).
    last_answer: AtomicU64,
    ends: Ends,
}

/// `FlowEnd` requests in flight, and a signal when there are none.
#[derive(Default)]
struct Ends {
    pending: AtomicUsize,
    settled: tokio::sync::Notify,
}

/// One `FlowEnd` in flight; counted as done when dropped (also when its task is
/// dropped with the runtime).
pub(super) struct PendingEnd {
    counters: Arc<Counters>,
    outcome: Option<bool>,
}

impl PendingEnd {
    /// The agent answered (`true`) or not.
    pub(super) fn done(mut self, answered: bool) {
        self.outcome = Some(answered);
    }
}

impl Drop for PendingEnd {
    fn drop(&mut self) {
        match self.outcome {
            Some(true) => self.counters.ends_sent.fetch_add(1, Relaxed),
            _ => self.counters.ends_failed.fetch_add(1, Relaxed),
        };
        let ends = &self.counters.ends;
        if ends.pending.fetch_sub(1, Relaxed) == 1 {
            ends.settled.notify_waiters();
        }
    }
}

fn code(failure: Failure) -> u8 {
    match failure {
        Failure::Unreachable => 1,
        Failure::Timeout => 2,
        Failure::Unauthenticated => 3,
        Failure::Error => 4,
    }
}

impl Counters {
    pub(super) fn answered(&self, accepted: bool, address: &str) {
        if accepted {
            self.accepted.fetch_add(1, Relaxed);
        } else {
            self.rejected.fetch_add(1, Relaxed);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        self.last_answer.store(now, Relaxed);
        if self.health.load(Relaxed) != 0 && self.health.swap(0, Relaxed) != 0 {
            self.transitions.fetch_add(1, Relaxed);
            tracing::info!(target: "flowgate", agent = %address, "the Aperture agent answers again");
        }
    }

    pub(super) fn failed(&self, failure: Failure, address: &str) {
        let counter = match failure {
            Failure::Unreachable => &self.unreachable,
            Failure::Timeout => &self.timeouts,
            Failure::Unauthenticated => &self.unauthenticated,
            Failure::Error => &self.errors,
        };
        counter.fetch_add(1, Relaxed);
        let code = code(failure);
        if self.health.load(Relaxed) != code && self.health.swap(code, Relaxed) != code {
            self.transitions.fetch_add(1, Relaxed);
            tracing::warn!(
                target: "flowgate",
                agent = %address,
                failure = failure.as_str(),
                "the Aperture agent gives no answer: flows take their fallback until it does"
            );
        }
    }

    /// Whether the last check failed.
    pub(super) fn failing(&self) -> bool {
        self.health.load(Relaxed) != 0
    }

    /// A `FlowEnd` about to be sent, or `None` when too many are in flight.
    pub(super) fn end_started(self: &Arc<Self>) -> Option<PendingEnd> {
        if self.ends.pending.fetch_add(1, Relaxed) >= MAX_PENDING_ENDS {
            self.ends.pending.fetch_sub(1, Relaxed);
            if self.ends_dropped.fetch_add(1, Relaxed) == 0 {
                tracing::warn!(
                    target: "flowgate",
                    "too many Aperture FlowEnd requests in flight: ends are dropped (the \
                     agent frees their tokens when they expire)"
                );
            }
            return None;
        }
        Some(PendingEnd {
            counters: Arc::clone(self),
            outcome: None,
        })
    }

    /// Once no `FlowEnd` is in flight.
    pub(super) async fn settled(&self) {
        loop {
            let notified = self.ends.settled.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.ends.pending.load(Relaxed) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The counters as [`Client::inspect`](crate::Client::inspect) shows a source's
    /// updates: an answer from the agent is an update.
    pub(super) fn details(&self) -> SourceDetails {
        let stats = self.snapshot();
        let failed = stats.unreachable + stats.timeouts + stats.unauthenticated + stats.errors;
        let mut details = SourceDetails::default();
        details.updates.applied = stats.accepted + stats.rejected;
        details.updates.failed = failed;
        details.updates.attempts = details.updates.applied + failed;
        let last = self.last_answer.load(Relaxed);
        details.updates.last_success =
            (last > 0).then(|| UNIX_EPOCH + std::time::Duration::from_millis(last));
        details.updates.last_error = match self.health.load(Relaxed) {
            0 => None,
            1 => Some("the agent is unreachable".into()),
            2 => Some("the agent did not answer within the gate's timeout".into()),
            3 => Some("the agent refused the API key".into()),
            _ => Some("the agent answered with an error".into()),
        };
        details
    }

    pub(super) fn snapshot(&self) -> ApertureStats {
        ApertureStats {
            accepted: self.accepted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            unreachable: self.unreachable.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            unauthenticated: self.unauthenticated.load(Relaxed),
            errors: self.errors.load(Relaxed),
            ends_sent: self.ends_sent.load(Relaxed),
            ends_failed: self.ends_failed.load(Relaxed),
            ends_dropped: self.ends_dropped.load(Relaxed),
            ends_pending: self.ends.pending.load(Relaxed) as u64,
            transitions: self.transitions.load(Relaxed),
        }
    }
}
