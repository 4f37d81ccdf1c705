//! The limiters of one flag, and the admission of one flow: the rate limit first, then
//! a concurrency slot if one is free.

use std::sync::Arc;
use std::time::Duration;

use super::clock::now_ns;
use super::concurrency::ConcurrencyLimiter;
use super::keyed::{Limiter, Limiters};
use super::permit::Permit;
use super::rate::RateLimiter;
use super::spec::{Keyed, LimitSpec};
use super::Admission;
use crate::labels::Labels;

/// The limiters of one flag.
#[derive(Debug)]
pub(crate) struct FlagLimits {
    pub(crate) rate: Option<Limiters<RateLimiter>>,
    pub(crate) concurrency: Option<Limiters<ConcurrencyLimiter>>,
}

impl FlagLimits {
    pub(crate) fn new(spec: &LimitSpec) -> Self {
        Self {
            rate: spec.rate.as_ref().map(Limiters::new),
            concurrency: spec.concurrency.as_ref().map(Limiters::new),
        }
    }

    /// Whether `spec` can be applied to these limiters in place: the same limits, keyed
    /// by the same label.
    pub(crate) fn same_shape(&self, spec: &LimitSpec) -> bool {
        fn same<L: Limiter>(current: Option<&Limiters<L>>, spec: Option<&Keyed<L::Spec>>) -> bool {
            match (current, spec) {
                (None, None) => true,
                (Some(current), Some(spec)) => current.by == spec.by,
                _ => false,
            }
        }
        same(self.rate.as_ref(), spec.rate.as_ref())
            && same(self.concurrency.as_ref(), spec.concurrency.as_ref())
    }

    pub(crate) fn update(&self, spec: &LimitSpec) {
        if let (Some(limiters), Some(spec)) = (&self.rate, &spec.rate) {
            limiters.update(spec);
        }
        if let (Some(limiters), Some(spec)) = (&self.concurrency, &spec.concurrency) {
            limiters.update(spec);
        }
    }

    /// Takes a token for a flow with `labels`, or says when one is due.
    #[inline]
    fn check_rate(&self, labels: &Labels) -> Result<(), Duration> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        let now = now_ns();
        if rate.keyed.is_none() {
            // One limiter for every flow: borrowed, no reference count touched.
            return rate.shared.try_acquire(now);
        }
        rate.for_labels(labels, |limiter| limiter.is_idle(now))
            .try_acquire(now)
    }

    /// Flow control for one flow. `permit` makes the permit of a slot of the flag's one
    /// unkeyed limiter, borrowed for as long as these limits are.
    #[inline]
    pub(crate) fn admit<'a>(
        &'a self,
        labels: &Labels,
        permit: impl FnOnce(&'a Arc<ConcurrencyLimiter>) -> Permit,
    ) -> Admission {
        if let Err(retry_after) = self.check_rate(labels) {
            return Admission::RateLimited(retry_after);
        }
        let Some(concurrency) = &self.concurrency else {
            return Admission::Admitted(None);
        };
        if concurrency.keyed.is_none() {
            let limiter = &concurrency.shared;
            return if limiter.try_acquire() {
                Admission::Admitted(Some(permit(limiter)))
            } else {
                Admission::Queue(Arc::clone(limiter))
            };
        }
        let limiter = concurrency.for_labels(labels, ConcurrencyLimiter::is_idle);
        if limiter.try_acquire() {
            Admission::Admitted(Some(Permit::Shared(limiter)))
        } else {
            Admission::Queue(limiter)
        }
    }

    /// The concurrency limiter a flow with `labels` must get a slot from.
    #[cfg(test)]
    pub(crate) fn concurrency(&self, labels: &Labels) -> Option<Arc<ConcurrencyLimiter>> {
        self.concurrency
            .as_ref()
            .map(|c| c.for_labels(labels, ConcurrencyLimiter::is_idle))
    }
}
