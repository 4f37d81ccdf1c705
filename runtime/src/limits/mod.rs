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

/// The limiters of every flag that has limits.
type FlagTable = rustc_hash::FxHashMap<Box<str>, Arc<FlagLimits>>;

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
        let mut names: Vec<&str> = flags.keys().map(|k| &**k).collect();
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
        let mut next = rustc_hash::FxHashMap::default();
        next.reserve(specs.len());
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
        self.any.store(!next.is_empty(), Ordering::Release);
        self.flags.store(next);
    }

    /// In flight and queued per label value, for each flag with a keyed concurrency
    /// limit (at most `max_keys` values each).
    pub(crate) fn key_counts(&self) -> Vec<(String, Vec<KeyCounts>)> {
        self.flags
            .load()
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

    /// Runs `check` on the limiters of `flag`, if it has any. The table is read from
    /// this thread's copy, and the limiters are only borrowed: no reference count is
    /// touched unless `check` takes one.
    #[inline]
    pub(crate) fn with_flag<R>(
        &self,
        flag: &str,
        check: impl FnOnce(&FlagLimits) -> R,
    ) -> Option<R> {
        if !self.any() {
            return None;
        }
        self.flags
            .read(|flags| flags.get(flag).map(|limits| check(limits)))
    }

    #[cfg(test)]
    fn get(&self, flag: &str) -> Option<Arc<FlagLimits>> {
        self.flags.load().get(flag).cloned()
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
    pub(crate) fn check_rate(&self, labels: &Labels) -> Result<(), Duration> {
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

    /// The concurrency limiter a flow with `labels` must get a slot from.
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
pub(crate) fn now_ns() -> u64 {
    static CLOCK: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();
    let (clock, start) = CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let start = clock.now();
        (clock, start)
    });
    u64::try_from(clock.now().saturating_duration_since(*start).as_nanos()).unwrap_or(u64::MAX)
}

/// A concurrency slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit(Arc<ConcurrencyLimiter>);

impl Permit {
    /// Wraps a slot already taken from `limiter`.
    pub(crate) fn taken(limiter: Arc<ConcurrencyLimiter>) -> Self {
        Permit(limiter)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
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
