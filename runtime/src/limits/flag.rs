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
    /// A local rate limit.
    pub(crate) rate: Option<Arc<Limiters<RateLimiter>>>,
    /// A local concurrency limit, or the local face of a global one (its `max` is the
    /// slots this instance holds: see `global/leases.rs`).
    pub(crate) concurrency: Option<Arc<Limiters<ConcurrencyLimiter>>>,
    /// The flag's global limits, if any.
    #[cfg(feature = "redis")]
    pub(crate) global: Option<Box<super::global::FlagGlobal>>,
}

/// The store global limits are kept in, when the feature is on.
#[cfg(feature = "redis")]
pub(crate) type StoreRef<'a> = Option<&'a Arc<super::global::Store>>;
#[cfg(not(feature = "redis"))]
pub(crate) type StoreRef<'a> = Option<&'a std::convert::Infallible>;

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
    /// The limiters of `flag`'s `spec`, taking over from `old`, the flag's limiters
    /// until now; global limits keep their state in `store` (the caller checked there
    /// is one when a limit is global).
    pub(crate) fn new(
        flag: &str,
        spec: &LimitSpec,
        old: Option<&FlagLimits>,
        store: StoreRef<'_>,
    ) -> Self {
        if let Some(old) = old {
            old.stop_global(false);
        }
        // A global concurrency limit's local limiter starts with no slot: the keeper
        // gets them from the store.
        let concurrency_spec = spec.concurrency.as_ref().map(|keyed| {
            let mut local = keyed.clone();
            if keyed.is_global() {
                local.spec.max = 0;
            }
            local
        });
        let old_concurrency = old.and_then(|old| old.concurrency.as_ref());
        let concurrency = carry_over(old_concurrency, concurrency_spec.as_ref());
        if let Some(concurrency) = &concurrency {
            concurrency.take_over();
        }
        let local_rate = spec.rate.as_ref().filter(|rate| !rate.is_global());
        let _ = (flag, store);
        Self {
            rate: carry_over(old.and_then(|old| old.rate.as_ref()), local_rate),
            #[cfg(feature = "redis")]
            global: store
                .filter(|_| spec.is_global())
                .map(|store| Box::new(Self::global(flag, spec, store, concurrency.as_ref()))),
            concurrency,
        }
    }

    #[cfg(feature = "redis")]
    fn global(
        flag: &str,
        spec: &LimitSpec,
        store: &Arc<super::global::Store>,
        concurrency: Option<&Arc<Limiters<ConcurrencyLimiter>>>,
    ) -> super::global::FlagGlobal {
        use super::global::{FlagGlobal, GlobalRates, Leases};
        let rate = spec
            .rate
            .as_ref()
            .filter(|rate| rate.is_global())
            .map(|rate| GlobalRates::new(store, flag, rate));
        let leases = spec
            .concurrency
            .as_ref()
            .filter(|keyed| keyed.is_global())
            .zip(concurrency)
            .map(|(keyed, limiters)| {
                Leases::start(
                    Arc::clone(store),
                    flag,
                    Arc::clone(&limiters.shared),
                    keyed.spec,
                    keyed.lease,
                )
            });
        FlagGlobal {
            store: Arc::clone(store),
            rate,
            leases,
        }
    }

    /// Gives back the slots of a global concurrency limit: once no flow holds them
    /// (these limits are replaced or gone), or, with `now`, before returning when no
    /// flow holds any (the client is dropped).
    #[cfg_attr(not(feature = "redis"), allow(clippy::unused_self, unused_variables))]
    pub(crate) fn stop_global(&self, now: bool) {
        #[cfg(feature = "redis")]
        if let Some(leases) = self
            .global
            .as_ref()
            .and_then(|global| global.leases.as_ref())
        {
            if now {
                leases.stop_now();
            } else {
                leases.stop();
            }
        }
    }

    /// Whether `spec` can be applied to these limiters in place: the same limits, keyed
    /// by the same label, of the same scope, in the same store.
    pub(crate) fn same_shape(&self, spec: &LimitSpec, store: StoreRef<'_>) -> bool {
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
        let local_rate = spec.rate.as_ref().filter(|rate| !rate.is_global());
        same(self.rate.as_ref(), local_rate)
            && same(self.concurrency.as_ref(), spec.concurrency.as_ref())
            && self.same_global(spec, store)
    }

    #[cfg(feature = "redis")]
    fn same_global(&self, spec: &LimitSpec, store: StoreRef<'_>) -> bool {
        let concurrency_global = spec.concurrency.as_ref().is_some_and(Keyed::is_global);
        match (&self.global, store.filter(|_| spec.is_global())) {
            (None, None) => true,
            (Some(global), Some(store)) => {
                Arc::ptr_eq(&global.store, store)
                    && global.leases.is_some() == concurrency_global
                    && match (&global.rate, spec.rate.as_ref().filter(|r| r.is_global())) {
                        (None, None) => true,
                        (Some(rate), Some(spec)) => rate.by() == spec.by.as_deref(),
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    #[cfg(not(feature = "redis"))]
    #[allow(clippy::unused_self)]
    fn same_global(&self, _spec: &LimitSpec, _store: StoreRef<'_>) -> bool {
        true
    }

    /// Marks every limit of the flag replaced (the flag's limits are gone).
    pub(crate) fn retire(&self) {
        self.stop_global(false);
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
        #[cfg(feature = "redis")]
        if let Some(global) = &self.global {
            if let (Some(rates), Some(spec)) = (&global.rate, &spec.rate) {
                rates.update(spec);
            }
            if let (Some(leases), Some(spec)) = (&global.leases, &spec.concurrency) {
                // The keeper sets the local limiter's `max` and queue.
                leases.update(spec.spec, spec.lease);
                return;
            }
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
        #[cfg(feature = "redis")]
        if let Some(admission) = self.check_global_rate(labels) {
            return Some(admission);
        }
        self.admit_concurrency(labels, permit)
    }

    /// A global rate limit's answer when it is not a token: refused, or wait for the
    /// store. Always inlined: a flag without global limits pays one load here (out of
    /// line, the call cost a limited gate 17 instructions).
    #[cfg(feature = "redis")]
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn check_global_rate(&self, labels: &Labels<'_>) -> Option<Admission> {
        match &self.global {
            None => None,
            Some(global) => Self::take_global_rate(global, labels),
        }
    }

    #[cfg(feature = "redis")]
    fn take_global_rate(
        global: &super::global::FlagGlobal,
        labels: &Labels<'_>,
    ) -> Option<Admission> {
        use super::global::Take;
        let rates = global.rate.as_ref()?;
        match rates.take(labels, now_ns()) {
            (Take::Taken, _) => None,
            (Take::Limited(retry_after), _) => Some(Admission::RateLimited(retry_after)),
            (Take::Wait, rate) => rate.map(Admission::Refill),
        }
    }

    /// The concurrency half of [`admit`](Self::admit): a slot if one is free.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn admit_concurrency<'a>(
        &'a self,
        labels: &Labels<'_>,
        permit: impl FnOnce(&'a Arc<ConcurrencyLimiter>) -> Permit,
    ) -> Option<Admission> {
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
