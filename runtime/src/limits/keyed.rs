//! One limiter for every flow of a flag, or one per value of a label in a bounded map.
//!
//! The map is sharded to keep lock hold times short, and bounded twice: at most
//! `max_keys` values (when a shard is full, idle entries are dropped, and when none is
//! idle, the new value shares the flag's overflow limiter instead of growing the map),
//! and at most [`MAX_KEY_BYTES`] bytes a key (a longer label value is kept as its first
//! bytes and a 128-bit keyed hash of the whole). So a limit holds at most about
//! `max_keys` × 300 bytes, whatever its label values. Only flows of keyed limits
//! (`by = "label"`) come here; an unkeyed limit is one limiter, borrowed.
//!
//! A limit that replaces another of another shape (see `group.rs`) starts from it: rate
//! buckets as empty as the one they replace, concurrency limiters counting its flows.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use compact_str::CompactString;

use super::concurrency::{ConcurrencyLimiter, ConcurrencySpec};
use super::group::{Carried, Group, Predecessor, Successor};
use super::rate::{RateLimiter, RateSpec};
use super::spec::Keyed;
use crate::labels::Labels;

/// The longest label value kept as it is, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 64;

/// What the keyed maps need of a limiter.
pub(crate) trait Limiter: Send + Sync + Sized + 'static {
    type Spec: Copy + fmt::Debug + Send + Sync + 'static;
    /// What a limit hands the limiters it makes, shared: where a rate bucket starts, or
    /// the concurrency group and the flows it carries.
    type Start: fmt::Debug + Send + Sync + 'static;
    fn create(spec: Self::Spec, start: &Self::Start) -> Self;
    fn reconfigure(&self, spec: Self::Spec);
    /// Marks what a replaced limit's limiters share retired (see `group.rs`): a limiter
    /// made from it afterwards starts retired.
    fn retire_start(_start: &Self::Start) {}
    /// Marks one limiter of a replaced limit retired.
    fn retire(&self) {}
    /// How a limit that replaces `old` (of another shape) starts.
    fn start_after(old: Option<&Arc<Limiters<Self>>>, keyed: bool) -> Self::Start;
}

impl Limiter for RateLimiter {
    type Spec = RateSpec;
    /// The bucket's starting point: when the next flow was due in the replaced limit.
    type Start = u64;

    fn create(spec: RateSpec, start: &u64) -> Self {
        RateLimiter::continuing(spec, *start)
    }

    fn reconfigure(&self, spec: RateSpec) {
        self.update(spec, crate::clock::now_ns());
    }

    fn start_after(old: Option<&Arc<Limiters<Self>>>, _keyed: bool) -> u64 {
        // The emptiest bucket of the old limit: no new bucket is fuller than any old one.
        old.map_or(0, |old| {
            let mut arrival = old.shared.arrival();
            old.for_each(|limiter| arrival = arrival.max(limiter.arrival()));
            arrival
        })
    }
}

impl Limiter for ConcurrencyLimiter {
    type Spec = ConcurrencySpec;
    type Start = (Arc<Group>, Option<Arc<Carried>>);

    fn create(spec: ConcurrencySpec, (group, carried): &Self::Start) -> Self {
        let limiter = ConcurrencyLimiter::in_group(spec, Arc::clone(group), carried.clone());
        // Made for a stale read of a limit already replaced: retired from the start.
        if group.is_retired() {
            limiter.retire();
        }
        limiter
    }

    fn reconfigure(&self, spec: ConcurrencySpec) {
        self.update(spec);
    }

    fn retire_start(start: &Self::Start) {
        start.0.retire();
    }

    fn retire(&self) {
        ConcurrencyLimiter::retire(self);
    }

    fn start_after(old: Option<&Arc<Limiters<Self>>>, keyed: bool) -> Self::Start {
        let carried = old.map(|old| {
            let predecessor: Arc<dyn Predecessor> = Arc::clone(old) as _;
            Carried::after(predecessor, old.start.1.as_deref())
        });
        (Arc::new(Group::new(keyed)), carried)
    }
}

const SHARDS: usize = 16;

/// One limiter for every flow, or one per value of a label in a bounded map.
pub(crate) struct Limiters<L: Limiter> {
    pub(crate) by: Option<Box<str>>,
    /// The limiter of every flow when unkeyed; the overflow limiter when keyed.
    pub(crate) shared: Arc<L>,
    spec: Mutex<L::Spec>,
    start: L::Start,
    pub(crate) keyed: Option<KeyedMap<L>>,
    /// Replaced by a reload: flows ask the limits in force instead.
    retired: AtomicBool,
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
    per_shard: AtomicUsize,
    hasher: std::collections::hash_map::RandomState,
    /// A second hash for long values, so that a long key is 128 bits of hash.
    second: std::collections::hash_map::RandomState,
}

impl<L: Limiter> Limiters<L> {
    /// The limiters of `keyed`, replacing `old` (of another shape) if there was one.
    pub(crate) fn new(keyed: &Keyed<L::Spec>, old: Option<&Arc<Limiters<L>>>) -> Arc<Self> {
        let start = L::start_after(old, keyed.by.is_some());
        Arc::new(Self {
            by: keyed.by.clone(),
            shared: Arc::new(L::create(keyed.spec, &start)),
            spec: Mutex::new(keyed.spec),
            start,
            keyed: keyed.by.as_ref().map(|_| KeyedMap {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                per_shard: AtomicUsize::new(per_shard(keyed.max_keys)),
                hasher: std::collections::hash_map::RandomState::new(),
                second: std::collections::hash_map::RandomState::new(),
            }),
            retired: AtomicBool::new(false),
        })
    }

    /// Marks the limit replaced: a flow that meets it asks the limits in force instead.
    /// Done before its successor is built from its state, so that no flow the successor
    /// does not see can take a token or a slot here.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        // What they share first, so that a limiter made meanwhile (under its shard's
        // lock) starts retired, and then every limiter there is.
        L::retire_start(&self.start);
        L::retire(&self.shared);
        self.for_each(L::retire);
    }

    #[inline]
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// Applies new parameters to every limiter, in place: their state carries over. A
    /// smaller `max_keys` is reached as idle values are dropped.
    pub(crate) fn update(&self, keyed: &Keyed<L::Spec>) {
        *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = keyed.spec;
        self.shared.reconfigure(keyed.spec);
        if let Some(map) = &self.keyed {
            map.per_shard
                .store(per_shard(keyed.max_keys), Ordering::Relaxed);
        }
        self.for_each(|limiter| limiter.reconfigure(keyed.spec));
    }

    /// Runs `each` on every keyed limiter (not the shared one).
    fn for_each(&self, mut each: impl FnMut(&L)) {
        if let Some(map) = &self.keyed {
            for shard in &map.shards {
                for limiter in shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                {
                    each(limiter);
                }
            }
        }
    }

    /// The limiter of a flow with `labels`; `is_idle` tells which entries can be
    /// forgotten to make room.
    pub(crate) fn for_labels(&self, labels: &Labels<'_>, is_idle: impl Fn(&L) -> bool) -> Arc<L> {
        let (Some(by), Some(map)) = (&self.by, &self.keyed) else {
            return Arc::clone(&self.shared);
        };
        // Flows without the label share one entry, under the empty value.
        let value = labels.get(by).unwrap_or("");
        let key = map.key(value);
        #[allow(clippy::cast_possible_truncation)] // only the low bits pick a shard
        let shard = &map.shards[(map.hasher.hash_one(&*key) as usize) % SHARDS];
        let mut entries = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(limiter) = entries.get(&*key) {
            return Arc::clone(limiter);
        }
        let per_shard = map.per_shard.load(Ordering::Relaxed);
        if entries.len() >= per_shard {
            // Only entries nobody holds can go: a flow in flight keeps its limiter.
            entries.retain(|_, limiter| Arc::strong_count(limiter) > 1 || !is_idle(limiter));
            if entries.len() >= per_shard {
                return Arc::clone(&self.shared);
            }
        }
        let spec = *self.spec.lock().unwrap_or_else(PoisonError::into_inner);
        let limiter = Arc::new(L::create(spec, &self.start));
        entries.insert(key.into_owned().into(), Arc::clone(&limiter));
        limiter
    }
}

/// Per-shard capacity for `max_keys` values.
fn per_shard(max_keys: usize) -> usize {
    max_keys.div_ceil(SHARDS).max(1)
}

impl<L> KeyedMap<L> {
    /// The key a label value is kept under: itself up to [`MAX_KEY_BYTES`]; beyond, its
    /// first bytes and a 128-bit hash of the whole (`first…#hash`).
    fn key<'a>(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        if value.len() <= MAX_KEY_BYTES {
            return std::borrow::Cow::Borrowed(value);
        }
        let mut prefix = 24;
        while !value.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let (a, b) = (self.hasher.hash_one(value), self.second.hash_one(value));
        std::borrow::Cow::Owned(format!("{}…#{a:016x}{b:016x}", &value[..prefix]))
    }
}

impl Limiters<ConcurrencyLimiter> {
    /// Names this limit, which replaced others, as the one their flows wake.
    pub(crate) fn take_over(self: &Arc<Self>) {
        if let Some(carried) = &self.start.1 {
            let me: Arc<dyn Successor> = Arc::clone(self) as _;
            carried.hand_over(&Arc::downgrade(&me));
        }
    }
}

impl Predecessor for Limiters<ConcurrencyLimiter> {
    fn in_flight(&self) -> usize {
        self.start
            .0
            .keyed_occupied()
            .unwrap_or_else(|| self.shared.occupied())
    }

    fn settled(&self) -> bool {
        let mut waiting = self.shared.waiting();
        self.for_each(|limiter| waiting += limiter.waiting());
        waiting == 0 && self.in_flight() == 0
    }

    fn hand_over(&self, successor: Weak<dyn Successor>) {
        self.start.0.hand_over(successor);
    }

    fn wake_own(&self) {
        self.shared.wake();
        self.for_each(ConcurrencyLimiter::wake);
    }
}

impl Successor for Limiters<ConcurrencyLimiter> {
    /// An old flow ended: its slot may make room here, and in the limits between (which
    /// count it too).
    fn wake(&self) {
        self.wake_own();
        if let Some(carried) = &self.start.1 {
            carried.wake();
        }
    }
}
