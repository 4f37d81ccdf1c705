//! Flow control: rate and concurrency limits per flag, optionally per label value,
//! applied after the flag said "on", whichever source decided it.
//!
//! [`Limits`] is a layer a client puts over its source, as a tower layer goes over a
//! service: sources never see it. It is a table of limiters per flag, published for
//! lock-free reads and updated in place by reloads (bucket levels and held slots carry
//! over). One algorithm a file: [`rate`] (GCRA), [`concurrency`] (slots and a FIFO
//! queue), [`keyed`] (a bounded map per label value), on the crate's `clock`; what a flag's limits
//! are in [`spec`], what one flow gets in [`flag`] and [`permit`], and what a call site
//! remembers in [`slot`].

mod concurrency;
mod flag;
#[cfg(feature = "redis")]
pub(crate) mod global;
mod group;
mod keyed;
mod permit;
mod rate;
mod slot;
mod spec;
mod waiter;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

pub(crate) use concurrency::{ConcurrencyLimiter, Refusal};
pub(crate) use permit::Permit;
pub(crate) use slot::LimitSlot;
pub(crate) use spec::LimitSpec;

use flag::FlagLimits;
use slot::Remembered;

use crate::labels::Labels;
use crate::metrics::KeyCounts;
use crate::published::Published;

/// The rate and concurrency limiters of every flag that has limits, kept across
/// reloads; see the module documentation.
pub(crate) struct Limits {
    any: AtomicBool,
    flags: Published<FlagTable>,
}

/// The limiters of every flag that has limits, with an index by name.
#[derive(Default)]
struct FlagTable {
    list: Vec<(Box<str>, Arc<FlagLimits>)>,
    index: rustc_hash::FxHashMap<Box<str>, usize>,
}

impl FlagTable {
    fn get(&self, flag: &str) -> Option<&Arc<FlagLimits>> {
        self.index.get(flag).map(|&at| &self.list[at].1)
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

impl Drop for Limits {
    /// Global concurrency limits give their slots back: the client is gone. (The
    /// limiters themselves may live on in call sites, which keep them.)
    fn drop(&mut self) {
        for (_, limits) in &self.flags.load().list {
            limits.stop_global(true);
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

/// What flow control says to a flow the flag accepted.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Go, holding this concurrency slot if the flag has a concurrency limit.
    Admitted(Option<Permit>),
    /// Over the rate limit; a token is due after this long.
    RateLimited(Duration),
    /// Every slot of this limiter is taken: wait for one.
    Queue(Arc<ConcurrencyLimiter>),
    /// A global rate limit has no token in hand: wait for the store's batch, then ask
    /// the concurrency limit ([`Limits::admit_after_rate`]).
    #[cfg(feature = "redis")]
    Refill(Arc<global::GlobalRate>),
}

impl Limits {
    /// Installs the limits of a new configuration, keeping the state of those that
    /// stay: a limit whose shape stays is updated in place (slots held, bucket levels and
    /// queues carry over); a reshaped one starts from the one it replaces (see
    /// `group.rs`). A limit removed and added back by a later reload starts afresh.
    pub(crate) fn apply(&self, specs: &HashMap<Box<str>, LimitSpec>, store: flag::StoreRef<'_>) {
        let current = self.flags.load();
        let mut next = FlagTable::default();
        // A flag whose limits go: retired, so that flows racing this reload ask again.
        for (flag, limits) in &current.list {
            if !specs.contains_key(flag) {
                limits.retire();
            }
        }
        for (flag, spec) in specs {
            let limits = match current.get(flag) {
                Some(existing) if existing.same_shape(spec, store) => {
                    existing.update(spec);
                    Arc::clone(existing)
                }
                existing => Arc::new(FlagLimits::new(flag, spec, existing.map(|e| &**e), store)),
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

    /// The flows holding and waiting for `flag`'s concurrency slots now, all label
    /// values together; `None` when it has no concurrency limit.
    pub(crate) fn occupancy(&self, flag: &str) -> Option<(u64, u64)> {
        let flags = self.flags.load();
        let limiters = flags.get(flag)?.concurrency.as_ref()?;
        let mut counts = (
            limiters.shared.in_flight() as u64,
            limiters.shared.waiting() as u64,
        );
        if let Some(map) = &limiters.keyed {
            for shard in &map.shards {
                for limiter in shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                {
                    counts.0 += limiter.in_flight() as u64;
                    counts.1 += limiter.waiting() as u64;
                }
            }
        }
        Some(counts)
    }

    /// Whether any flag has limits: most gates can stop here.
    #[inline]
    fn any(&self) -> bool {
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
    ///
    /// Always inlined, so that a gate on a client with no limits pays one load here.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn admit(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Admission {
        if !self.any() {
            return Admission::Admitted(None);
        }
        self.admit_limited(slot, flag, labels)
    }

    /// [`admit`](Self::admit) when some flag has limits. Always inlined too: the
    /// admission is returned in registers, not through memory (a limited gate's flow is
    /// built right after), which was a quarter of a rate-limited gate's cost.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn admit_limited(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Admission {
        if let Some(slot) = slot {
            match slot.get(self.flags.generation()) {
                Some(Remembered::Unlimited) => return Admission::Admitted(None),
                Some(Remembered::Kept(limits)) => {
                    if let Some(admission) = limits.admit(labels, |limiter| Permit::Kept(limiter)) {
                        return admission;
                    }
                }
                None => {}
            }
        }
        self.admit_from_table(slot, flag, labels)
    }

    /// [`admit`](Self::admit) when the call site does not know the current table, or
    /// its limits were replaced by a reload that is being published (see `group.rs`):
    /// asked again until the table in force answers.
    #[inline(never)]
    fn admit_from_table(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Admission {
        loop {
            if let Some(admission) = self.admit_from_table_once(slot, flag, labels) {
                return admission;
            }
            // A reload is replacing the flag's limits and has not published them yet.
            std::thread::yield_now();
        }
    }

    /// One try of [`admit_from_table`](Self::admit_from_table).
    fn admit_from_table_once(
        &self,
        slot: Option<&'static LimitSlot>,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Option<Admission> {
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
                None => Some(Admission::Admitted(None)),
            }
        })
    }

    /// The concurrency limit of `flag` for a flow whose global rate limit just gave it
    /// a token (see [`Admission::Refill`]).
    #[cfg(feature = "redis")]
    pub(crate) fn admit_after_rate(&self, flag: &str, labels: &Labels<'_>) -> Admission {
        let limits = self.flags.load().get(flag).cloned();
        limits
            .and_then(|limits| {
                limits.admit_concurrency(labels, |limiter| Permit::Shared(Arc::clone(limiter)))
            })
            .unwrap_or(Admission::Admitted(None))
    }

    #[cfg(test)]
    fn get(&self, flag: &str) -> Option<Arc<FlagLimits>> {
        self.flags.load().get(flag).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::concurrency::ConcurrencySpec;
    use super::spec::Keyed;
    use super::*;
    use crate::labels;

    fn concurrency_by_tenant(max_keys: usize) -> LimitSpec {
        LimitSpec {
            rate: None,
            concurrency: Some(Keyed {
                spec: ConcurrencySpec { max: 1, queue: 0 },
                by: Some("tenant".into()),
                max_keys,
                scope: flowgate_config::Scope::Local,
                lease: Duration::ZERO,
            }),
        }
    }

    #[test]
    fn keyed_limits_are_per_label_value() {
        let limits = FlagLimits::new("F", &concurrency_by_tenant(100), None, None);
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
        let limits = FlagLimits::new("F", &concurrency_by_tenant(32), None, None);
        let map = limits.concurrency.as_ref().unwrap().keyed.as_ref().unwrap();
        let held: Vec<_> = (0..1_000)
            .map(|i| {
                let limiter = limits.concurrency(&labels! { "tenant" => i }).unwrap();
                let _ = limiter.try_acquire();
                limiter
            })
            .collect();
        let tracked: usize = map.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= 32 + 16, "bounded: {tracked}");
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
        assert!(tracked <= 32 + 16, "bounded: {tracked}");
    }

    #[test]
    fn reloads_keep_state_when_the_shape_stays() {
        let limits = Limits::default();
        let mut specs = HashMap::new();
        specs.insert(Box::from("F"), concurrency_by_tenant(10));
        limits.apply(&specs, None);
        let first = limits.get("F").unwrap();
        limits.apply(&specs, None);
        assert!(Arc::ptr_eq(&first, &limits.get("F").unwrap()));
        specs.insert(
            Box::from("F"),
            LimitSpec {
                rate: None,
                concurrency: Some(Keyed {
                    spec: ConcurrencySpec { max: 1, queue: 0 },
                    by: None,
                    max_keys: 10,
                    scope: flowgate_config::Scope::Local,
                    lease: Duration::ZERO,
                }),
            },
        );
        limits.apply(&specs, None);
        assert!(!Arc::ptr_eq(&first, &limits.get("F").unwrap()));
        limits.apply(&HashMap::new(), None);
        assert!(limits.get("F").is_none());
    }
}
