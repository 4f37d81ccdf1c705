//! Limits shared by every instance of a service (`scope = "global"`), kept in Redis:
//! with `rate_limit = { ..., scope = "global" }` the fleet admits `limit` per `per`, not
//! each process; with `concurrency = { max = 64, scope = "global" }` at most 64 flows
//! run at once across the fleet.
//!
//! One algorithm a file: [`gcra`] (the rate limit's script and its batches of tokens),
//! [`leases`] (the concurrency limit's leased slots and their keeper); what they share
//! is the store in [`store`] and its connection (a server or a cluster) in
//! [`connection`], whether it answers in [`health`], the names of keys in [`keys`], and
//! how a flow waits for the store's runtime in [`pending`]. Each
//! file's opening comment states its trick, what it buys and what it costs in accuracy.
//!
//! Both are layers over the local machinery rather than beside it: a global rate limit
//! is checked where a local one would be, and a global concurrency limit *is* a local
//! limiter whose `max` is the slots this instance holds in the store, so queueing,
//! permits, reloads and cancellation behave exactly as they do locally.

mod connection;
mod gcra;
mod health;
mod keys;
mod leases;
mod pending;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub(crate) use gcra::{GlobalRate, Take};
pub use health::StoreStats;
pub(crate) use leases::Leases;
pub(crate) use store::Store;

use super::rate::RateSpec;
use super::spec::Keyed;
use crate::labels::Labels;

/// A flag's global rate limit: one bucket in the store, or one per label value (at most
/// `max_keys` tracked here; beyond, new values share one overflow bucket, as local
/// keyed limits do).
#[derive(Debug)]
pub(crate) struct GlobalRates {
    by: Option<Box<str>>,
    flag: Box<str>,
    store: Arc<Store>,
    pub(crate) shared: Arc<GlobalRate>,
    keyed: Mutex<HashMap<Box<str>, Arc<GlobalRate>>>,
    max_keys: AtomicUsize,
    spec: Mutex<RateSpec>,
}

impl GlobalRates {
    pub(crate) fn new(store: &Arc<Store>, flag: &str, keyed: &Keyed<RateSpec>) -> Self {
        let shared_key = match &keyed.by {
            None => keys::rate(flag, None),
            // Values beyond `max_keys` share one bucket, named apart from any value's.
            Some(_) => format!("{}:overflow", keys::rate(flag, None)),
        };
        Self {
            by: keyed.by.clone(),
            flag: flag.into(),
            shared: Arc::new(GlobalRate::new(Arc::clone(store), shared_key, keyed.spec)),
            keyed: Mutex::new(HashMap::new()),
            max_keys: AtomicUsize::new(keyed.max_keys),
            spec: Mutex::new(keyed.spec),
            store: Arc::clone(store),
        }
    }

    /// The label the limit is per value of.
    pub(crate) fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    pub(crate) fn update(&self, keyed: &Keyed<RateSpec>) {
        *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = keyed.spec;
        self.max_keys.store(keyed.max_keys, Ordering::Relaxed);
        self.shared.update(keyed.spec);
        for rate in self
            .keyed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            rate.update(keyed.spec);
        }
    }

    /// A token for a flow with `labels`, or what to do without one.
    #[inline]
    pub(crate) fn take(&self, labels: &Labels<'_>, now: u64) -> (Take, Option<Arc<GlobalRate>>) {
        let Some(by) = &self.by else {
            return match self.shared.try_take(now) {
                Take::Wait => (Take::Wait, Some(Arc::clone(&self.shared))),
                take => (take, None),
            };
        };
        let rate = self.for_value(labels.get(by).unwrap_or(""));
        match rate.try_take(now) {
            Take::Wait => (Take::Wait, Some(rate)),
            take => (take, None),
        }
    }

    fn for_value(&self, value: &str) -> Arc<GlobalRate> {
        let mut keyed = self.keyed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rate) = keyed.get(value) {
            return Arc::clone(rate);
        }
        if keyed.len() >= self.max_keys.load(Ordering::Relaxed) {
            // Only buckets no flow is waiting on can go; their state is in the store.
            keyed.retain(|_, rate| Arc::strong_count(rate) > 1);
            if keyed.len() >= self.max_keys.load(Ordering::Relaxed) {
                return Arc::clone(&self.shared);
            }
        }
        let spec = *self.spec.lock().unwrap_or_else(PoisonError::into_inner);
        let key = keys::rate(&self.flag, Some(value));
        let rate = Arc::new(GlobalRate::new(Arc::clone(&self.store), key, spec));
        keyed.insert(value.into(), Arc::clone(&rate));
        rate
    }
}

/// What one flag has of global limits.
#[derive(Debug)]
pub(crate) struct FlagGlobal {
    pub(crate) store: Arc<Store>,
    pub(crate) rate: Option<GlobalRates>,
    pub(crate) leases: Option<Leases>,
}
