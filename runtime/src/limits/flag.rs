//! The limiters of one flag, and the admission of one flow: the rate limit first, then
//! a concurrency slot if one is free.

use std::sync::Arc;
use std::time::Duration;

use super::concurrency::ConcurrencyLimiter;
use super::keyed::{Limiter, Limiters};
use super::permit::Permit;
use super::rate::RateLimiter;
use super::spec::{Keyed, LimitSpec};
use super::Admission;
use crate::clock::now_ns;
use crate::labels::Labels;

/// The limiters of one flag.
#[derive(Debug)]
pub(crate) struct FlagLimits {
    pub(crate) rate: Option<Arc<Limiters<RateLimiter>>>,
    pub(crate) concurrency: Option<Arc<Limiters<ConcurrencyLimiter>>>,
}

/// A limit of the new configuration: the old one updated in place when its shape (its
/// `by`) stays, else a new one that starts from the old, retired first (see `group.rs`).
fn carry_over<L: Limiter>(
    old: Option<&Arc<Limiters<L>>>,
    spec: Option<&Keyed<L::Spec>>,
) -> Option<Arc<Limiters<L>>> {
    match (old, spec) {
        (Some(old), Some(spec)) if old.by == spec.by => {
            old.update(spec);
            Some(Arc::clone(old))
        }
        (old, spec) => {
            if let Some(old) = old {
                old.retire();
            }
            spec.map(|spec| Limiters::new(spec, old))
        }
    }
}

impl FlagLimits {
    /// The limiters of `spec`, taking over from `old`, the flag's limiters until now.
    pub(crate) fn new(spec: &LimitSpec, old: Option<&FlagLimits>) -> Self {
        let old_concurrency = old.and_then(|old| old.concurrency.as_ref());
        let concurrency = carry_over(old_concurrency, spec.concurrency.as_ref());
        if let Some(concurrency) = &concurrency {
            concurrency.take_over();
        }
        Self {
            rate: carry_over(old.and_then(|old| old.rate.as_ref()), spec.rate.as_ref()),
            concurrency,
        }
    }

    /// Whether `spec` can be applied to these limiters in place: the same limits, keyed
    /// by the same label.
    pub(crate) fn same_shape(&self, spec: &LimitSpec) -> bool {
        fn same<L: Limiter>(
            current: Option<&Arc<Limiters<L>>>,
            spec: Option<&Keyed<L::Spec>>,
        ) -> bool {
            match (current, spec) {
                (None, None) => true,
                (Some(current), Some(spec)) => current.by == spec.by,
                _ => false,
            }
        }
        same(self.rate.as_ref(), spec.rate.as_ref())
            && same(self.concurrency.as_ref(), spec.concurrency.as_ref())
    }

    /// Marks every limit of the flag replaced (the flag's limits are gone).
    pub(crate) fn retire(&self) {
        if let Some(rate) = &self.rate {
            rate.retire();
        }
        if let Some(concurrency) = &self.concurrency {
            concurrency.retire();
        }
    }

    /// Applies `spec`, of the same shape, in place.
    pub(crate) fn update(&self, spec: &LimitSpec) {
        if let (Some(limiters), Some(spec)) = (&self.rate, &spec.rate) {
            limiters.update(spec);
        }
        if let (Some(limiters), Some(spec)) = (&self.concurrency, &spec.concurrency) {
            limiters.update(spec);
        }
    }

    /// Takes a token of `rate` for a flow with `labels`, or says when one is due; `None` when the
    /// limit was replaced meanwhile (see `group.rs`: ask the new one). Always inlined:
    /// called once per rate-limited flow, and out of line it costs a tenth of one.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn check_rate(
        rate: &Limiters<RateLimiter>,
        labels: &Labels<'_>,
    ) -> Option<Result<(), Duration>> {
        if rate.is_retired() {
            return None;
        }
        let now = now_ns();
        let taken = if rate.keyed.is_none() {
            // One limiter for every flow: borrowed, no reference count touched.
            rate.shared.try_acquire(now)
        } else {
            rate.for_labels(labels, |limiter| limiter.is_idle(now))
                .try_acquire(now)
        };
        // Replaced while the token was taken: the new limit, built from this one's state
        // before, has not seen it. The token stays spent here; the flow asks the new one.
        if rate.is_retired() {
            return None;
        }
        Some(taken)
    }

    /// Flow control for one flow. `permit` makes the permit of a slot of the flag's one
    /// unkeyed limiter, borrowed for as long as these limits are. `None` when a limit
    /// was replaced by a reload meanwhile: the caller asks the limits in force.
    ///
    /// Always inlined into the call-site path: see `Limits::admit_limited`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn admit<'a>(
        &'a self,
        labels: &Labels<'_>,
        permit: impl FnOnce(&'a Arc<ConcurrencyLimiter>) -> Permit,
    ) -> Option<Admission> {
        if let Some(rate) = &self.rate {
            if let Err(retry_after) = Self::check_rate(rate, labels)? {
                return Some(Admission::RateLimited(retry_after));
            }
        }
        let Some(concurrency) = &self.concurrency else {
            return Some(Admission::Admitted(None));
        };
        let keyed;
        let limiter = if concurrency.keyed.is_none() {
            &concurrency.shared
        } else {
            keyed = concurrency.for_labels(labels, ConcurrencyLimiter::is_idle);
            &keyed
        };
        if !limiter.try_acquire() {
            // A retired limiter gives no slot: ask the limits in force.
            if concurrency.is_retired() {
                return None;
            }
            return Some(Admission::Queue(Arc::clone(limiter)));
        }
        Some(Admission::Admitted(Some(if concurrency.keyed.is_none() {
            permit(&concurrency.shared)
        } else {
            Permit::Shared(Arc::clone(limiter))
        })))
    }

    /// The concurrency limiter a flow with `labels` must get a slot from.
    #[cfg(test)]
    pub(crate) fn concurrency(&self, labels: &Labels<'_>) -> Option<Arc<ConcurrencyLimiter>> {
        self.concurrency
            .as_ref()
            .map(|c| c.for_labels(labels, ConcurrencyLimiter::is_idle))
    }
}
