//! One limiter for every flow of a flag, or one per value of a label in a bounded map.
//!
//! The map is sharded to keep lock hold times short, and bounded: when a shard is full,
//! idle entries are dropped, and when none is idle, the new value shares the flag's
//! overflow limiter instead of growing the map. Only flows of keyed limits
//! (`by = "label"`) come here; an unkeyed limit is one limiter, borrowed.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

use compact_str::CompactString;

use super::concurrency::{ConcurrencyLimiter, ConcurrencySpec};
use super::rate::{RateLimiter, RateSpec};
use super::spec::Keyed;
use crate::labels::Labels;

/// What the keyed maps need of a limiter.
pub(crate) trait Limiter: Send + Sync + 'static {
    type Spec: Copy + fmt::Debug + Send + Sync + 'static;
    fn create(spec: Self::Spec) -> Self;
    fn reconfigure(&self, spec: Self::Spec);
}

impl Limiter for RateLimiter {
    type Spec = RateSpec;
    fn create(spec: RateSpec) -> Self {
        RateLimiter::new(spec)
    }
    fn reconfigure(&self, spec: RateSpec) {
        self.update(spec);
    }
}

impl Limiter for ConcurrencyLimiter {
    type Spec = ConcurrencySpec;
    fn create(spec: ConcurrencySpec) -> Self {
        ConcurrencyLimiter::new(spec)
    }
    fn reconfigure(&self, spec: ConcurrencySpec) {
        self.update(spec);
    }
}

pub(crate) const SHARDS: usize = 16;

/// One limiter for every flow, or one per value of a label in a bounded map.
pub(crate) struct Limiters<L: Limiter> {
    pub(crate) by: Option<Box<str>>,
    /// The limiter of every flow when unkeyed; the overflow limiter when keyed.
    pub(crate) shared: Arc<L>,
    spec: Mutex<L::Spec>,
    pub(crate) keyed: Option<KeyedMap<L>>,
}

impl<L: Limiter> fmt::Debug for Limiters<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiters")
            .field("by", &self.by)
            .field(
                "spec",
                &*self.spec.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

/// Label value → limiter; see the module documentation.
pub(crate) struct KeyedMap<L> {
    pub(crate) shards: Vec<Mutex<HashMap<CompactString, Arc<L>>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<L: Limiter> Limiters<L> {
    pub(crate) fn new(keyed: &Keyed<L::Spec>) -> Self {
        Self {
            by: keyed.by.clone(),
            shared: Arc::new(L::create(keyed.spec)),
            spec: Mutex::new(keyed.spec),
            keyed: keyed.by.as_ref().map(|_| KeyedMap {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                per_shard: keyed.max_keys.div_ceil(SHARDS).max(1),
                hasher: std::collections::hash_map::RandomState::new(),
            }),
        }
    }

    /// Applies new parameters to every limiter; their state carries over.
    pub(crate) fn update(&self, keyed: &Keyed<L::Spec>) {
        *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = keyed.spec;
        self.shared.reconfigure(keyed.spec);
        if let Some(map) = &self.keyed {
            for shard in &map.shards {
                for limiter in shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                {
                    limiter.reconfigure(keyed.spec);
                }
            }
        }
    }

    /// The limiter of a flow with `labels`; `is_idle` tells which entries can be
    /// forgotten to make room.
    pub(crate) fn for_labels(&self, labels: &Labels, is_idle: impl Fn(&L) -> bool) -> Arc<L> {
        let (Some(by), Some(map)) = (&self.by, &self.keyed) else {
            return Arc::clone(&self.shared);
        };
        // Flows without the label share one entry, under the empty value.
        let value = labels.get(by).unwrap_or("");
        #[allow(clippy::cast_possible_truncation)] // only the low bits pick a shard
        let shard = &map.shards[(map.hasher.hash_one(value) as usize) % SHARDS];
        let mut entries = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(limiter) = entries.get(value) {
            return Arc::clone(limiter);
        }
        if entries.len() >= map.per_shard {
            // Only entries nobody holds can go: a flow in flight keeps its limiter.
            entries.retain(|_, limiter| Arc::strong_count(limiter) > 1 || !is_idle(limiter));
            if entries.len() >= map.per_shard {
                return Arc::clone(&self.shared);
            }
        }
        let spec = *self.spec.lock().unwrap_or_else(PoisonError::into_inner);
        let limiter = Arc::new(L::create(spec));
        entries.insert(CompactString::from(value), Arc::clone(&limiter));
        limiter
    }
}
