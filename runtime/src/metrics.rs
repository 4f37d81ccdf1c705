//! Flow counters per flag, and the snapshot of them a client gives
//! ([`Client::metrics`](crate::Client::metrics)).
//!
//! Every gated call writes its flag's counters, so they are sharded per thread
//! (`shards.rs`): a thread counts with plain stores on cache lines no other
//! thread writes. A snapshot adds the shards up.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::clock::now_ns;
use crate::histogram::{HistogramCounts, Timing};
use crate::reject::RejectReason;
use crate::shards::{bump, shard, SHARDS};

/// How a flow ended, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Ok,
    Error,
    Cancelled,
}

impl Ending {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Error => "error",
            Ending::Cancelled => "cancelled",
        }
    }
}

/// One thread's share of a flag's counters, on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    by_fallback: AtomicU64,
    ok: AtomicU64,
    error: AtomicU64,
    cancelled: AtomicU64,
    rejected_by_reason: [AtomicU64; RejectReason::ALL.len()],
}

/// Live counters of one flag. Shared by every flow of that flag.
#[derive(Debug)]
pub(crate) struct FlagStats {
    name: Arc<str>,
    shards: Box<[Counters; SHARDS]>,
    queued: AtomicU64,
    /// Durations, kept once the client's timings are collected (`histogram.rs`).
    timing: OnceLock<Box<Timing>>,
}

/// When a timed flow or wait started, on the limits' clock; [`Started::NOT_TIMED`] for
/// a flag whose timings nobody collects.
///
/// **Trick.** Microseconds in 32 bits, which fit in the padding beside a flow's flags:
/// a flow is built and moved in place, and 8 more bytes cost a gated call more than
/// the check of whether to time it. **Cost.** Durations wrap every 71 minutes: a flow
/// that runs longer is recorded 71 minutes short (it stays in the `+Inf` bucket unless
/// it ran within 10 s of a multiple of 71 minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Started(u32);

impl Started {
    pub(crate) const NOT_TIMED: Started = Started(0);

    /// Now, never [`NOT_TIMED`](Self::NOT_TIMED).
    fn now() -> Self {
        #[allow(clippy::cast_possible_truncation)] // wraps on purpose: see above
        let micros = (now_ns() / 1_000) as u32;
        Started(micros.max(1))
    }

    /// Nanoseconds since `self`.
    fn elapsed_ns(self) -> u64 {
        u64::from(Started::now().0.wrapping_sub(self.0)) * 1_000
    }
}

impl FlagStats {
    fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            shards: Box::default(),
            queued: AtomicU64::new(0),
            timing: OnceLock::new(),
        }
    }

    /// Starts timing a flow or a wait, if this flag's timings are collected: one load
    /// and a compare when they are not.
    #[inline]
    pub(crate) fn start_timer(&self) -> Started {
        if self.timing.get().is_some() {
            Started::now()
        } else {
            Started::NOT_TIMED
        }
    }

    /// Records how long an accepted flow ran.
    #[cold]
    pub(crate) fn record_duration(&self, started: Started) {
        if let Some(timing) = self.timing.get() {
            timing.duration.record(started.elapsed_ns());
        }
    }

    fn time(&self) {
        self.timing.get_or_init(Box::default);
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    #[inline]
    pub(crate) fn record_accepted(&self, by_fallback: bool) {
        let shard = shard();
        let counters = &self.shards[shard];
        bump(&counters.accepted, shard, Ordering::Relaxed);
        if by_fallback {
            bump(&counters.by_fallback, shard, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_rejected(&self, reason: RejectReason, by_fallback: bool) {
        let shard = shard();
        let counters = &self.shards[shard];
        bump(&counters.rejected, shard, Ordering::Relaxed);
        bump(
            &counters.rejected_by_reason[reason.index()],
            shard,
            Ordering::Relaxed,
        );
        if by_fallback {
            bump(&counters.by_fallback, shard, Ordering::Relaxed);
        }
    }

    /// Counts a flow waiting for a concurrency slot until the guard is dropped (and
    /// times the wait, if timings are collected).
    pub(crate) fn queued(&self) -> QueuedGuard<'_> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        QueuedGuard {
            stats: self,
            started: self.start_timer(),
        }
    }

    #[inline]
    pub(crate) fn record_end(&self, ending: Ending) {
        // Release pairs with the Acquire loads in `snapshot`: whoever sees this end
        // also sees the `accepted` increment that preceded it (on whichever shard).
        let shard = shard();
        let counters = &self.shards[shard];
        let counter = match ending {
            Ending::Ok => &counters.ok,
            Ending::Error => &counters.error,
            Ending::Cancelled => &counters.cancelled,
        };
        bump(counter, shard, Ordering::Release);
    }

    fn snapshot(&self) -> FlowCounts {
        let sum = |field: fn(&Counters) -> &AtomicU64, order: Ordering| -> u64 {
            self.shards.iter().map(|c| field(c).load(order)).sum()
        };
        // Ends are read before `accepted`, so `in_flight` never goes negative. A flow
        // may start on one shard and end on another; only the sums mean anything.
        let ok = sum(|c| &c.ok, Ordering::Acquire);
        let error = sum(|c| &c.error, Ordering::Acquire);
        let cancelled = sum(|c| &c.cancelled, Ordering::Acquire);
        let accepted = sum(|c| &c.accepted, Ordering::Acquire);
        let mut by_reason = RejectionsByReason::default();
        for reason in RejectReason::ALL {
            let count = self
                .shards
                .iter()
                .map(|c| c.rejected_by_reason[reason.index()].load(Ordering::Relaxed))
                .sum();
            by_reason.set(reason, count);
        }
        FlowCounts {
            accepted,
            rejected: sum(|c| &c.rejected, Ordering::Relaxed),
            ok,
            error,
            cancelled,
            in_flight: accepted.saturating_sub(ok + error + cancelled),
            queued: self.queued.load(Ordering::Relaxed),
            by_fallback: sum(|c| &c.by_fallback, Ordering::Relaxed),
            rejected_by_reason: by_reason,
        }
    }
}

/// The counters a flow writes to: borrowed forever by a gated function's call site, or
/// shared with the registry when a flow is started by name.
#[derive(Debug, Clone)]
pub(crate) enum StatsRef {
    /// Held by a call site; no reference count to touch per flow.
    Static(&'static FlagStats),
    Shared(Arc<FlagStats>),
}

impl StatsRef {
    /// The flag's name for a rejection: borrowed for good from a call site's stats.
    #[inline]
    pub(crate) fn flag_name(&self) -> crate::reject::FlagName {
        match self {
            StatsRef::Static(stats) => crate::reject::FlagName::Static(&stats.name),
            StatsRef::Shared(stats) => crate::reject::FlagName::Shared(Arc::clone(&stats.name)),
        }
    }
}

impl std::ops::Deref for StatsRef {
    type Target = FlagStats;

    fn deref(&self) -> &FlagStats {
        match self {
            StatsRef::Static(stats) => stats,
            StatsRef::Shared(stats) => stats,
        }
    }
}

/// Keeps a flow counted as queued while it waits, however the wait ends.
pub(crate) struct QueuedGuard<'a> {
    stats: &'a FlagStats,
    started: Started,
}

impl QueuedGuard<'_> {
    /// A flow refused at once (the queue was full) never waited: its time is not a
    /// queue wait.
    pub(crate) fn refused_at_once(&mut self) {
        self.started = Started::NOT_TIMED;
    }
}

impl Drop for QueuedGuard<'_> {
    fn drop(&mut self) {
        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        if self.started != Started::NOT_TIMED {
            if let Some(timing) = self.stats.timing.get() {
                timing.queue_wait.record(self.started.elapsed_ns());
            }
        }
    }
}

/// The flags a client has seen flows of, readable without a lock.
///
/// New flags are rare (one per gated function), so insertion copies the map and swaps
/// it in; lookups never wait for a writer.
///
/// Timings are off until [`time_flows`](Self::time_flows): then every flag, present
/// and future, keeps its histograms.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    flags: ArcSwap<FxHashMap<Arc<str>, Arc<FlagStats>>>,
    timed: AtomicBool,
}

impl Registry {
    pub(crate) fn flag(&self, name: &str) -> Arc<FlagStats> {
        if let Some(stats) = self.flags.load().get(name) {
            return Arc::clone(stats);
        }
        let stats = self.insert(name);
        // SeqCst with `time_flows`: either it sees this flag in the map, or this sees
        // its flag set.
        if self.timed.load(Ordering::SeqCst) {
            stats.time();
        }
        stats
    }

    /// Times the flows of every flag from now on, for histograms.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn time_flows(&self) {
        self.timed.store(true, Ordering::SeqCst);
        for stats in self.flags.load().values() {
            stats.time();
        }
    }

    /// The histograms of every timed flag: `(flag, flow durations, queue waits)`.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn timings(&self) -> Vec<(Arc<str>, HistogramCounts, HistogramCounts)> {
        let mut timings: Vec<_> = self
            .flags
            .load()
            .values()
            .filter_map(|stats| {
                let timing = stats.timing.get()?;
                Some((
                    Arc::clone(&stats.name),
                    timing.duration.snapshot(),
                    timing.queue_wait.snapshot(),
                ))
            })
            .collect();
        timings.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        timings
    }

    fn insert(&self, name: &str) -> Arc<FlagStats> {
        self.flags.rcu(|current| {
            let mut next = FxHashMap::clone(current);
            if !next.contains_key(name) {
                let stats = Arc::new(FlagStats::new(name));
                next.insert(Arc::clone(stats.name()), stats);
            }
            next
        });
        Arc::clone(&self.flags.load()[name])
    }

    /// The counts of every flag, with the per-key counts of keyed limits (`keys`).
    pub(crate) fn snapshot(&self, keys: Vec<(String, Vec<KeyCounts>)>) -> Metrics {
        Metrics {
            keys: keys.into_iter().collect(),
            flags: self
                .flags
                .load()
                .iter()
                .map(|(name, stats)| (name.to_string(), stats.snapshot()))
                .collect(),
        }
    }
}

/// A snapshot of a client's flow counters, per flag.
///
/// ```
/// let client = flowgate::testing::InMemorySource::new().enable("Awesome").into_client();
/// let flow = client.start_flow_blocking("Awesome", &flowgate::Labels::new(), std::time::Duration::ZERO);
/// flow.end();
/// let counts = client.metrics().flag("Awesome");
/// assert_eq!((counts.accepted, counts.ok, counts.in_flight), (1, 1, 0));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metrics {
    flags: BTreeMap<String, FlowCounts>,
    keys: BTreeMap<String, Vec<KeyCounts>>,
}

impl Metrics {
    /// The counts of the flag `name`; all zero if no flow of it was started.
    pub fn flag(&self, name: &str) -> FlowCounts {
        self.flags.get(name).copied().unwrap_or_default()
    }

    /// The counts of the flag `name`.
    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "renamed `flag(name)`")]
    pub fn control_point(&self, name: &str) -> FlowCounts {
        self.flag(name)
    }

    /// For a flag with a keyed concurrency limit (`by = "label"`), the label values with
    /// flows in flight or queued, sorted (at most the limit's `max_keys`).
    pub fn keys(&self, flag: &str) -> &[KeyCounts] {
        self.keys.get(flag).map_or(&[], Vec::as_slice)
    }

    /// Every flag with its counts, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FlowCounts)> {
        self.flags
            .iter()
            .map(|(name, counts)| (name.as_str(), counts))
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

/// Flow counts of one flag.
///
/// `accepted + rejected` flows were started. Of the accepted ones, `ok`, `error` and
/// `cancelled` have ended and `in_flight` have not. Rejected flows are counted once, in
/// `rejected` and in `rejected_by_reason`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct FlowCounts {
    /// Flows whose body was allowed to run.
    pub accepted: u64,
    /// Flows whose body was not run.
    pub rejected: u64,
    /// Accepted flows that ended with [`FlowStatus::Ok`](crate::FlowStatus::Ok).
    pub ok: u64,
    /// Accepted flows that ended with [`FlowStatus::Error`](crate::FlowStatus::Error):
    /// an `Err` return or a panic.
    pub error: u64,
    /// Accepted flows dropped before they ended (a cancelled future).
    pub cancelled: u64,
    /// Accepted flows that have not ended yet.
    pub in_flight: u64,
    /// Flows waiting for a concurrency slot right now.
    pub queued: u64,
    /// Flows (accepted or rejected) decided by the fallback because the source could not
    /// decide in time.
    pub by_fallback: u64,
    /// Rejections broken down by reason.
    pub rejected_by_reason: RejectionsByReason,
}

/// Rejections of one flag, by [`RejectReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RejectionsByReason {
    /// [`RejectReason::FlagDisabled`].
    pub flag_disabled: u64,
    /// [`RejectReason::NotReady`].
    pub not_ready: u64,
    /// [`RejectReason::UnknownFlag`].
    pub unknown_flag: u64,
    /// [`RejectReason::NoSource`].
    pub no_source: u64,
    /// [`RejectReason::SourceError`].
    pub source_error: u64,
    /// [`RejectReason::RateLimited`].
    pub rate_limited: u64,
    /// [`RejectReason::ConcurrencyLimited`].
    pub concurrency_limited: u64,
    /// [`RejectReason::QueueTimeout`].
    pub queue_timeout: u64,
}

impl RejectionsByReason {
    /// The count for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        match reason {
            RejectReason::FlagDisabled => self.flag_disabled,
            RejectReason::NotReady => self.not_ready,
            RejectReason::UnknownFlag => self.unknown_flag,
            RejectReason::NoSource => self.no_source,
            RejectReason::SourceError => self.source_error,
            RejectReason::RateLimited => self.rate_limited,
            RejectReason::ConcurrencyLimited => self.concurrency_limited,
            RejectReason::QueueTimeout => self.queue_timeout,
        }
    }

    fn set(&mut self, reason: RejectReason, count: u64) {
        let slot = match reason {
            RejectReason::FlagDisabled => &mut self.flag_disabled,
            RejectReason::NotReady => &mut self.not_ready,
            RejectReason::UnknownFlag => &mut self.unknown_flag,
            RejectReason::NoSource => &mut self.no_source,
            RejectReason::SourceError => &mut self.source_error,
            RejectReason::RateLimited => &mut self.rate_limited,
            RejectReason::ConcurrencyLimited => &mut self.concurrency_limited,
            RejectReason::QueueTimeout => &mut self.queue_timeout,
        };
        *slot = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More threads than owned shards, in waves, so that shards are claimed, given
    /// back at thread exit, claimed again, and shared: no count may be lost.
    #[test]
    fn counts_are_exact_across_owned_and_shared_shards() {
        const THREADS: usize = SHARDS + 9;
        const WAVES: usize = 3;
        const FLOWS: u64 = 2_000;
        let stats = Arc::new(FlagStats::new("counted"));
        let start = Arc::new(std::sync::Barrier::new(THREADS));
        for _ in 0..WAVES {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let stats = Arc::clone(&stats);
                    let start = Arc::clone(&start);
                    std::thread::spawn(move || {
                        // All alive at once: some must share the last shard.
                        start.wait();
                        for i in 0..FLOWS {
                            stats.record_accepted(i % 2 == 0);
                            stats.record_end(if i % 3 == 0 {
                                Ending::Error
                            } else {
                                Ending::Ok
                            });
                        }
                        stats.record_rejected(RejectReason::RateLimited, false);
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
        let counts = stats.snapshot();
        let flows = (THREADS * WAVES) as u64 * FLOWS;
        assert_eq!(counts.accepted, flows);
        assert_eq!(counts.by_fallback, flows / 2);
        assert_eq!(counts.ok + counts.error, flows);
        assert_eq!(counts.error, (THREADS * WAVES) as u64 * FLOWS.div_ceil(3));
        assert_eq!(counts.rejected, (THREADS * WAVES) as u64);
        assert_eq!(counts.in_flight, 0);
    }

    #[test]
    fn registry_returns_one_stats_per_name() {
        let registry = Registry::default();
        let a = registry.flag("a");
        let again = registry.flag("a");
        assert!(Arc::ptr_eq(&a, &again));
        a.record_accepted(false);
        a.record_rejected(RejectReason::NotReady, true);
        let counts = registry.snapshot(Vec::new()).flag("a");
        assert_eq!(counts.accepted, 1);
        assert_eq!(counts.in_flight, 1);
        assert_eq!(counts.rejected_by_reason.get(RejectReason::NotReady), 1);
        assert_eq!(counts.by_fallback, 1);
        a.record_end(Ending::Cancelled);
        assert_eq!(registry.snapshot(Vec::new()).flag("a").in_flight, 0);
    }

    #[test]
    fn concurrent_registration_keeps_a_single_entry() {
        let registry = Arc::new(Registry::default());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let registry = Arc::clone(&registry);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        registry.flag(&format!("cp{i}")).record_accepted(false);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let metrics = registry.snapshot(Vec::new());
        assert_eq!(metrics.iter().count(), 50);
        assert!(metrics.iter().all(|(_, counts)| counts.accepted == 8));
    }
}
