//! How long flows ran and waited, in fixed buckets, for the Prometheus collector.
//!
//! **Trick.** Like the flow counters (`metrics.rs`), a histogram is sharded per thread:
//! recording adds one to a bucket and to the sum on cache lines no other thread writes,
//! with plain stores; a scrape adds the shards up. Buckets are fixed (0.5 ms to 10 s),
//! so recording is a short scan and never allocates. **Benefit.** No shared write on a
//! gated call even while it is timed. **Cost.** 16 shards of 16 words per histogram
//! (2 KiB), made only for the flags of a client whose timings are collected
//! (`crate::prometheus`): a client nobody scrapes reads no clock and keeps none.

// Read by the Prometheus collector only.
#![cfg_attr(not(feature = "prometheus"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering};

use crate::shards::{bump, shard, SHARDS};

/// The buckets' upper bounds, in seconds (Prometheus's `le`).
pub(crate) const BOUNDS_SECONDS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BOUNDS_SECONDS`] in nanoseconds, the unit recorded.
const BOUNDS_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// One thread's share: a count per bucket (the last is `+Inf`) and the sum.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Buckets {
    counts: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// A sharded histogram of durations; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    shards: Box<[Buckets; SHARDS]>,
}

/// A histogram added up over the shards.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HistogramCounts {
    /// `(upper bound in seconds, observations over the previous bound and at or under
    /// this one)`, the last `+Inf`: not cumulative (`prometheus-client` adds them up).
    pub(crate) buckets: Vec<(f64, u64)>,
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

impl Histogram {
    /// Records a duration of `ns` nanoseconds.
    pub(crate) fn record(&self, ns: u64) {
        let shard = shard();
        let buckets = &self.shards[shard];
        let at = BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(BOUNDS_NS.len());
        bump(&buckets.counts[at], shard, Ordering::Relaxed);
        if shard == crate::shards::SHARED_SHARD {
            buckets.sum_ns.fetch_add(ns, Ordering::Relaxed);
        } else {
            let sum = &buckets.sum_ns;
            sum.store(
                sum.load(Ordering::Relaxed).wrapping_add(ns),
                Ordering::Relaxed,
            );
        }
    }

    pub(crate) fn snapshot(&self) -> HistogramCounts {
        let mut per_bucket = [0_u64; BOUNDS_NS.len() + 1];
        let mut sum_ns: u128 = 0;
        for buckets in self.shards.iter() {
            for (total, count) in per_bucket.iter_mut().zip(&buckets.counts) {
                *total += count.load(Ordering::Relaxed);
            }
            sum_ns += u128::from(buckets.sum_ns.load(Ordering::Relaxed));
        }
        let buckets = BOUNDS_SECONDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(per_bucket)
            .collect();
        #[allow(clippy::cast_precision_loss)] // nanoseconds to seconds, for display
        let sum_seconds = sum_ns as f64 / 1e9;
        HistogramCounts {
            buckets,
            count: per_bucket.iter().sum(),
            sum_seconds,
        }
    }
}

/// The two histograms of a timed flag.
#[derive(Debug, Default)]
pub(crate) struct Timing {
    /// From the decision to the end, for accepted flows.
    pub(crate) duration: Histogram,
    /// From joining a concurrency queue to leaving it, however it left.
    pub(crate) queue_wait: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_add_up_across_threads() {
        let histogram = std::sync::Arc::new(Histogram::default());
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|_| {
                let histogram = std::sync::Arc::clone(&histogram);
                std::thread::spawn(move || {
                    for ns in [0, 500_000, 500_001, 2_000_000_000, u64::MAX / 64] {
                        histogram.record(ns);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let threads = (SHARDS + 3) as u64;
        let counts = histogram.snapshot();
        assert_eq!(counts.count, 5 * threads);
        assert_eq!(counts.buckets.len(), BOUNDS_SECONDS.len() + 1);
        // 0 and exactly 0.5 ms are in the first bucket; 0.5 ms + 1 ns in the second.
        assert_eq!(counts.buckets[0], (0.000_5, 2 * threads));
        assert_eq!(counts.buckets[1], (0.001, threads));
        // 2 s is under 2.5 s; the huge one only under +Inf.
        assert_eq!(counts.buckets[11], (2.5, threads));
        assert_eq!(counts.buckets[14].1, threads);
        let others: u64 = counts.buckets.iter().map(|(_, count)| count).sum();
        assert_eq!(others, 5 * threads, "nothing elsewhere");
        assert!(counts.buckets[14].0.is_infinite());
        #[allow(clippy::cast_precision_loss)]
        let expected = (1_000_001 + 2_000_000_000 + u64::MAX / 64) as f64 * threads as f64 / 1e9;
        assert!((counts.sum_seconds - expected).abs() / expected < 1e-9);
    }
}
