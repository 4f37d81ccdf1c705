//! How a flow waits for a global rate limit's next batch of tokens (see
//! `limits/global/gcra.rs`): the store's runtime fetches it, and the flow waits for the
//! answer within its timeout, asynchronously or by blocking its thread. Then the flow
//! goes on to the flag's concurrency limit, as any flow that got a token.
//!
//! Kept apart from `start` (and boxed by its caller): gates without global limits carry
//! none of it.

use super::start::{Deadline, Refilling, Step};
use super::Client;
use crate::labels::Labels;
use crate::limits::global::Take;

impl Client {
    pub(super) async fn refill(
        &self,
        refilling: Refilling,
        deadline: &mut Deadline,
        labels: &Labels<'_>,
    ) -> Step {
        let take = refilling.rate.wait(deadline.instant()).answer().await;
        self.refilled(refilling, take, labels)
    }

    pub(super) fn refill_blocking(
        &self,
        refilling: Refilling,
        deadline: &mut Deadline,
        labels: &Labels<'_>,
    ) -> Step {
        let take = refilling.rate.wait(deadline.instant()).answer_blocking();
        self.refilled(refilling, take, labels)
    }

    fn refilled(&self, refilling: Refilling, take: Option<Take>, labels: &Labels<'_>) -> Step {
        let Refilling {
            stats,
            decision,
            success,
            ..
        } = refilling;
        match take {
            Some(Take::Taken) => {
                let admission = self
                    .inner
                    .policy
                    .limits()
                    .admit_after_rate(stats.name(), labels);
                self.admitted(stats, decision, success, admission, labels)
            }
            Some(Take::Limited(retry_after)) => {
                Step::Done(self.rate_limited(stats, success, retry_after, labels))
            }
            // The store's runtime stopped (the client is being dropped): no token.
            Some(Take::Wait) | None => Step::Done(self.rate_limited(
                stats,
                success,
                std::time::Duration::from_secs(1),
                labels,
            )),
        }
    }
}
