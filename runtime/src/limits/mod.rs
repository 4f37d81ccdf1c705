//! Flow control in the gate: rate limits and concurrency limits per flag, optionally
//! per label value, applied after the flag decided "on".

mod concurrency;
mod rate;

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use compact_str::CompactString;

pub(crate) use concurrency::{ConcurrencyLimiter, ConcurrencySpec, Refusal};
pub(crate) use rate::{RateLimiter, RateSpec};

use crate::labels::Labels;
use crate::published::Published;
use crate::source::{StampedFact, StateStamp};

/// How many distinct label values a keyed limit tracks at most, unless `max_keys` says.
pub(crate) const DEFAULT_MAX_KEYS: usize = 10_000;

/// The limits of one flag, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LimitSpec {
    pub(crate) rate: Option<Keyed<RateSpec>>,
    pub(crate) concurrency: Option<Keyed<ConcurrencySpec>>,
}

/// A limit, for all flows or one per value of the label `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyed<S> {
    pub(crate) spec: S,
    pub(crate) by: Option<Box<str>>,
    pub(crate) max_keys: usize,
}

/// The rate and concurrency limiters of a decision source, kept across reloads.
///
/// Reloading the rules updates the limiters in place: the bucket levels and the slots
/// held by flows in flight carry over, and new limits apply to the next flows.
pub struct Limits {
    any: AtomicBool,
    flags: Published<FlagTable>,
}

/// The limiters of every flag that has limits, in a list that call sites remember
/// positions in ([`LimitSlot`]), with an index by name.
#[derive(Default)]
struct FlagTable {
    list: Vec<(Box<str>, Arc<FlagLimits>)>,
    index: rustc_hash::FxHashMap<Box<str>, usize>,
}

impl FlagTable {
    fn position(&self, flag: &str) -> Option<usize> {
        self.index.get(flag).copied()
    }

    fn get(&self, flag: &str) -> Option<&Arc<FlagLimits>> {
        self.position(flag).map(|at| &self.list[at].1)
    }

    fn insert(&mut self, flag: Box<str>, limits: Arc<FlagLimits>) {
        self.index.insert(flag.clone(), self.list.len());
        self.list.push((flag, limits));
    }
}

crate::published::per_thread_cache!(FlagTable);

impl Default for Limits {
    fn default() -> Self {
        Self {
            any: AtomicBool::new(false),
            flags: Published::default(),
        }
    }
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.flags.load();
        let mut names: Vec<&str> = flags.list.iter().map(|(name, _)| &**name).collect();
        names.sort_unstable();
        f.debug_struct("Limits")
            .field("flags", &names)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// Installs the limits of a new configuration, keeping the state of those that
    /// stay.
    pub(crate) fn apply(&self, specs: &HashMap<Box<str>, LimitSpec>) {
        let current = self.flags.load();
        let mut next = FlagTable::default();
        for (flag, spec) in specs {
            let limits = match current.get(flag) {
                Some(existing) if existing.same_shape(spec) => {
                    existing.update(spec);
                    Arc::clone(existing)
                }
                _ => Arc::new(FlagLimits::new(spec)),
            };
            next.insert(flag.clone(), limits);
        }
        self.any.store(!next.list.is_empty(), Ordering::Release);
        self.flags.store(next);
    }

    /// In flight and queued per label value, for each flag with a keyed concurrency
    /// limit (at most `max_keys` values each).
    pub(crate) fn key_counts(&self) -> Vec<(String, Vec<KeyCounts>)> {
        self.flags
            .load()
            .list
            .iter()
            .filter_map(|(flag, limits)| {
                let map = limits.concurrency.as_ref()?.keyed.as_ref()?;
                let mut keys: Vec<KeyCounts> = map
                    .shards
                    .iter()
                    .flat_map(|shard| {
                        shard
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .iter()
                            .map(|(key, limiter)| KeyCounts {
                                key: key.to_string(),
                                in_flight: limiter.in_flight() as u64,
                                queued: limiter.waiting() as u64,
                            })
                            .collect::<Vec<_>>()
                    })
                    .filter(|k| k.in_flight > 0 || k.queued > 0)
                    .collect();
                keys.sort_by(|a, b| a.key.cmp(&b.key));
                Some((flag.to_string(), keys))
            })
            .collect()
    }

    /// Whether any flag has limits: most gates can stop here.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Whether the call site of `slot` knows its flag has no limits: true of every flag
    /// while no flag has any.
    #[inline]
    pub(crate) fn unlimited_at(&self, slot: &LimitSlot) -> bool {
        !self.any()
            || matches!(
                slot.get(self.flags.generation()),
                Some(Remembered::Unlimited)
            )
    }

    /// Flow control for a flow of `flag` that the flag accepted: the rate limit, then a
    /// concurrency slot if one is free. `slot` is the call site's, when there is one:
    /// it remembers whether `flag` has limits in the current table, and keeps them.
    #[inline]
    pub(crate) fn admit(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels,
    ) -> Admission {
        if !self.any() {
            return Admission::Admitted(None);
        }
        if let Some(slot) = slot {
            match slot.get(self.flags.generation()) {
                Some(Remembered::Unlimited) => return Admission::Admitted(None),
                Some(Remembered::Kept(limits)) => {
                    return limits.admit(labels, |limiter| Permit::Kept(limiter))
                }
                None => {}
            }
        }
        self.admit_from_table(slot, flag, labels)
    }

    /// [`admit`](Self::admit) when the call site does not know the current table.
    #[inline(never)]
    fn admit_from_table(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels,
    ) -> Admission {
        self.flags.read(|table, stamp| {
            let limits = table.get(flag);
            if let Some(slot) = slot {
                match limits {
                    None => slot.remember(stamp, Remembered::Unlimited),
                    Some(limits) => {
                        let kept = slot.keep(limits);
                        if Arc::ptr_eq(kept, limits) {
                            slot.remember(stamp, Remembered::Kept(kept));
                            return kept.admit(labels, |limiter| Permit::Kept(limiter));
                        }
                    }
                }
            }
            match limits {
                Some(limits) => limits.admit(labels, |limiter| Permit::Shared(Arc::clone(limiter))),
                None => Admission::Admitted(None),
            }
        })
    }

    #[cfg(test)]
    fn get(&self, flag: &str) -> Option<Arc<FlagLimits>> {
        self.flags.load().get(flag).cloned()
    }
}

/// What flow control says to a flow the flag accepted.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Go, holding this concurrency slot if the flag has a concurrency limit.
    Admitted(Option<Permit>),
    /// Over the rate limit; a token is due after this long.
    RateLimited(Duration),
    /// Every slot of this limiter is taken: wait for one.
    Queue(Arc<ConcurrencyLimiter>),
}

/// A gated call site's memo for flow control: whether its flag has limits in the
/// current table, and the limits it keeps.
#[derive(Debug)]
pub(crate) struct LimitSlot {
    /// For the table of that stamp, 1: the flag has no limits; 2: its limits are
    /// `kept`.
    remembered: StampedFact,
    /// The first limits of the flag this call site met: one reference per call site,
    /// kept for the life of the process, so that a flow touches neither the table nor
    /// a reference count. Reloads that keep a flag's limits keep the same ones.
    kept: OnceLock<&'static Arc<FlagLimits>>,
}

#[derive(Clone, Copy)]
enum Remembered {
    Unlimited,
    Kept(&'static FlagLimits),
}

impl LimitSlot {
    pub(crate) const fn new() -> Self {
        Self {
            remembered: StampedFact::new(),
            kept: OnceLock::new(),
        }
    }

    #[inline]
    fn get(&self, stamp: StateStamp) -> Option<Remembered> {
        match self.remembered.get(stamp) {
            1 => Some(Remembered::Unlimited),
            2 => self.kept.get().map(|kept| Remembered::Kept(kept)),
            _ => None,
        }
    }

    fn remember(&self, stamp: StateStamp, what: Remembered) {
        let fact = match what {
            Remembered::Unlimited => 1,
            Remembered::Kept(_) => 2,
        };
        self.remembered.set(stamp, fact);
    }

    /// The limits this call site keeps: the first it was given.
    fn keep(&self, limits: &Arc<FlagLimits>) -> &'static Arc<FlagLimits> {
        self.kept
            .get_or_init(|| Box::leak(Box::new(Arc::clone(limits))))
    }
}

/// The limiters of one flag.
#[derive(Debug)]
pub(crate) struct FlagLimits {
    rate: Option<Limiters<RateLimiter, RateSpec>>,
    concurrency: Option<Limiters<ConcurrencyLimiter, ConcurrencySpec>>,
}

impl FlagLimits {
    fn new(spec: &LimitSpec) -> Self {
        Self {
            rate: spec.rate.as_ref().map(Limiters::new),
            concurrency: spec.concurrency.as_ref().map(Limiters::new),
        }
    }

    fn same_shape(&self, spec: &LimitSpec) -> bool {
        fn same<L: Limiter>(
            current: Option<&Limiters<L, L::Spec>>,
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

    fn update(&self, spec: &LimitSpec) {
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

    /// See [`Limits::admit`]. `permit` makes the permit of a slot of the flag's one
    /// unkeyed limiter, borrowed for as long as these limits are.
    #[inline]
    fn admit<'a>(
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

const SHARDS: usize = 16;

/// One limiter for every flow, or one per value of a label in a bounded map.
struct Limiters<L: Limiter, S> {
    by: Option<Box<str>>,
    shared: Arc<L>,
    spec: Mutex<S>,
    keyed: Option<KeyedMap<L>>,
}

impl<L: Limiter> fmt::Debug for Limiters<L, L::Spec> {
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

/// Label value → limiter, sharded to keep lock hold times short, and bounded: when a
/// shard is full, idle entries are dropped, and when none is idle, the new value shares
/// the overflow limiter (`shared`) instead of growing the map.
struct KeyedMap<L> {
    shards: Vec<Mutex<HashMap<CompactString, Arc<L>>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<L: Limiter> Limiters<L, L::Spec> {
    fn new(keyed: &Keyed<L::Spec>) -> Self {
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

    fn update(&self, keyed: &Keyed<L::Spec>) {
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

    fn for_labels(&self, labels: &Labels, is_idle: impl Fn(&L) -> bool) -> Arc<L> {
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

/// The flows of one label value of a keyed concurrency limit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KeyCounts {
    /// The label value (empty for flows without the label).
    pub key: String,
    /// Flows of this value holding a slot.
    pub in_flight: u64,
    /// Flows of this value waiting for a slot.
    pub queued: u64,
}

/// Nanoseconds on a monotonic clock that starts with the process's first use.
///
/// Read from the CPU's time-stamp counter (`quanta`, as `governor` does) where it is
/// usable: several times cheaper than `clock_gettime`, and a rate limit reads it on
/// every flow.
#[inline]
pub(crate) fn now_ns() -> u64 {
    static CLOCK: OnceLock<(quanta::Clock, u64)> = OnceLock::new();
    let (clock, start) = CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        (clock, start)
    });
    // Raw counter values scaled once, as a difference: no `Duration` in between.
    clock.delta_as_nanos(*start, clock.raw())
}

/// A concurrency slot, given back when dropped.
#[derive(Debug)]
pub(crate) enum Permit {
    /// A slot of a limiter a call site keeps alive (see [`LimitSlot`]).
    Kept(&'static ConcurrencyLimiter),
    Shared(Arc<ConcurrencyLimiter>),
}

impl Permit {
    /// Wraps a slot already taken from `limiter`.
    pub(crate) fn taken(limiter: Arc<ConcurrencyLimiter>) -> Self {
        Permit::Shared(limiter)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match self {
            Permit::Kept(limiter) => limiter.release(),
            Permit::Shared(limiter) => limiter.release(),
        }
    }
}

/// Parses `"1h2m3s4ms"`-style durations: whole numbers, each followed by a unit, units
/// largest first, each at most once. (The attribute parses its `timeout` the same way.)
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_string())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("`{number}` has no unit")
            } else {
                format!("unknown unit `{unit}`")
            });
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(format!("unit `{unit}` is out of order or repeated"));
        }
        last_unit = Some(index);
        total_ms = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| "the duration is too large".to_string())?;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    fn concurrency_by_tenant(max_keys: usize) -> LimitSpec {
        LimitSpec {
            rate: None,
            concurrency: Some(Keyed {
                spec: ConcurrencySpec { max: 1, queue: 0 },
                by: Some("tenant".into()),
                max_keys,
            }),
        }
    }

    #[test]
    fn keyed_limits_are_per_label_value() {
        let limits = FlagLimits::new(&concurrency_by_tenant(100));
        let a = limits.concurrency(&labels! { "tenant" => "a" }).unwrap();
        let b = limits.concurrency(&labels! { "tenant" => "b" }).unwrap();
        assert!(a.try_acquire());
        assert!(!a.try_acquire());
        assert!(b.try_acquire(), "another tenant has its own slot");
        let a_again = limits.concurrency(&labels! { "tenant" => "a" }).unwrap();
        assert!(Arc::ptr_eq(&a, &a_again));
    }

    #[test]
    fn a_flood_of_keys_stays_bounded() {
        let limits = FlagLimits::new(&concurrency_by_tenant(32));
        let map = limits.concurrency.as_ref().unwrap().keyed.as_ref().unwrap();
        let held: Vec<_> = (0..1_000)
            .map(|i| {
                let limiter = limits.concurrency(&labels! { "tenant" => i }).unwrap();
                let _ = limiter.try_acquire();
                limiter
            })
            .collect();
        let tracked: usize = map.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= 32 + SHARDS, "bounded: {tracked}");
        for limiter in &held {
            if limiter.in_flight() > 0 {
                limiter.release();
            }
        }
        drop(held);
        // Idle entries make room again.
        for i in 1_000..2_000 {
            let limiter = limits.concurrency(&labels! { "tenant" => i }).unwrap();
            assert!(limiter.try_acquire());
            limiter.release();
        }
        let tracked: usize = map.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= 32 + SHARDS, "bounded: {tracked}");
    }

    #[test]
    fn reloads_keep_state_when_the_shape_stays() {
        let limits = Limits::default();
        let mut specs = HashMap::new();
        specs.insert(Box::from("F"), concurrency_by_tenant(10));
        limits.apply(&specs);
        let first = limits.get("F").unwrap();
        limits.apply(&specs);
        assert!(Arc::ptr_eq(&first, &limits.get("F").unwrap()));
        specs.insert(
            Box::from("F"),
            LimitSpec {
                rate: None,
                concurrency: Some(Keyed {
                    spec: ConcurrencySpec { max: 1, queue: 0 },
                    by: None,
                    max_keys: 10,
                }),
            },
        );
        limits.apply(&specs);
        assert!(!Arc::ptr_eq(&first, &limits.get("F").unwrap()));
        limits.apply(&HashMap::new());
        assert!(limits.get("F").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("1 s").is_err());
        assert!(parse_duration("30s1m").is_err());
    }
}
