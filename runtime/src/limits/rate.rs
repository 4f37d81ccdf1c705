//! A token bucket as GCRA: one atomic word of state, no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `limit` flows per `per`, with up to `burst` at once. All times are nanoseconds of
/// [`now_ns`](crate::clock::now_ns).
///
/// GCRA keeps the "theoretical arrival time" of the next flow: each admitted flow pushes
/// it one emission interval (`per / limit`) ahead, and a flow is admitted while it is no
/// more than `burst - 1` intervals ahead of now. That is exactly a token bucket of
/// `burst` tokens refilled at `limit` per `per`, starting full.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: AtomicU64,
    tolerance: AtomicU64,
    theoretical_arrival: AtomicU64,
}

/// Rate limit parameters, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateSpec {
    pub(crate) limit: u64,
    pub(crate) per: Duration,
    pub(crate) burst: u64,
}

impl RateSpec {
    pub(crate) fn interval(&self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        (per / self.limit.max(1)).max(1)
    }

    fn tolerance(&self) -> u64 {
        self.interval()
            .saturating_mul(self.burst.max(1).saturating_sub(1))
    }
}

impl RateLimiter {
    /// A limiter whose bucket starts full.
    #[cfg(test)]
    pub(crate) fn new(spec: RateSpec) -> Self {
        Self::continuing(spec, 0)
    }

    /// A limiter whose bucket starts as empty as one whose next flow was due at
    /// `arrival` (0: full): a limit that replaces another starts where it stood, so a
    /// reload never refills a bucket.
    pub(crate) fn continuing(spec: RateSpec, arrival: u64) -> Self {
        Self {
            interval: AtomicU64::new(spec.interval()),
            tolerance: AtomicU64::new(spec.tolerance()),
            theoretical_arrival: AtomicU64::new(arrival),
        }
    }

    /// When the next flow is due if the bucket were kept as it stands.
    pub(crate) fn arrival(&self) -> u64 {
        self.theoretical_arrival.load(Ordering::Relaxed)
    }

    /// Applies new parameters. The tokens already used stay used: the time the bucket
    /// owes is rescaled to the new interval, so a reload never gives tokens back (a
    /// larger `burst` makes the bucket larger, not fuller). Of the two steps, the one
    /// that restricts more goes first, so a flow that races the update sees either the
    /// old limit or a stricter one.
    pub(crate) fn update(&self, spec: RateSpec, now_ns: u64) {
        let (old, new) = (self.interval.load(Ordering::Relaxed), spec.interval());
        if new >= old {
            self.rescale(old, new, now_ns);
        }
        self.interval.store(new, Ordering::Relaxed);
        self.tolerance.store(spec.tolerance(), Ordering::Relaxed);
        if new < old {
            self.rescale(old, new, now_ns);
        }
    }

    /// Rescales the time the bucket owes at `now_ns` from `old` intervals to `new` ones.
    fn rescale(&self, old: u64, new: u64, now_ns: u64) {
        if old == new {
            return;
        }
        let _ =
            self.theoretical_arrival
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |arrival| {
                    let owed = arrival.saturating_sub(now_ns);
                    // Rounded up: a bucket never owes less than it did.
                    let rescaled =
                        (u128::from(owed) * u128::from(new)).div_ceil(u128::from(old.max(1)));
                    Some(now_ns.saturating_add(u64::try_from(rescaled).unwrap_or(u64::MAX)))
                });
    }

    /// Takes a token at `now_ns`, or says when one is due.
    pub(crate) fn try_acquire(&self, now_ns: u64) -> Result<(), Duration> {
        let interval = self.interval.load(Ordering::Relaxed);
        let tolerance = self.tolerance.load(Ordering::Relaxed);
        let mut arrival = self.theoretical_arrival.load(Ordering::Relaxed);
        loop {
            let earliest = arrival.saturating_sub(tolerance);
            if now_ns < earliest {
                return Err(Duration::from_nanos(earliest - now_ns));
            }
            let next = arrival.max(now_ns).saturating_add(interval);
            match self.theoretical_arrival.compare_exchange_weak(
                arrival,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => arrival = current,
            }
        }
    }

    /// Whether the bucket is full again, so forgetting it changes nothing.
    pub(crate) fn is_idle(&self, now_ns: u64) -> bool {
        self.theoretical_arrival.load(Ordering::Relaxed) <= now_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn limiter(limit: u64, per_secs: u64, burst: u64) -> RateLimiter {
        RateLimiter::new(RateSpec {
            limit,
            per: Duration::from_secs(per_secs),
            burst,
        })
    }

    fn admitted(limiter: &RateLimiter, flows: usize, at: u64) -> usize {
        (0..flows)
            .filter(|_| limiter.try_acquire(at).is_ok())
            .count()
    }

    #[test]
    fn a_burst_admits_exactly_the_bucket() {
        let limiter = limiter(100, 1, 20);
        let start = 5 * SECOND;
        assert_eq!(admitted(&limiter, 50, start), 20);
        // 10 ms later, one token (every 10 ms) has come back.
        assert_eq!(admitted(&limiter, 50, start + 10_000_000), 1);
        // A second later, the bucket is full again: 20, not 100.
        assert_eq!(admitted(&limiter, 500, start + 2 * SECOND), 20);
    }

    #[test]
    fn retry_after_is_when_the_next_token_is_due() {
        let limiter = limiter(2, 1, 1);
        assert!(limiter.try_acquire(SECOND).is_ok());
        assert_eq!(limiter.try_acquire(SECOND), Err(Duration::from_millis(500)));
        assert_eq!(
            limiter.try_acquire(SECOND + 200_000_000),
            Err(Duration::from_millis(300))
        );
        assert!(limiter.try_acquire(SECOND + 500_000_000).is_ok());
    }

    #[test]
    fn a_steady_rate_is_admitted_in_full() {
        let limiter = limiter(10, 1, 1);
        let admitted = (0..100)
            .filter(|i| limiter.try_acquire(SECOND + i * 100_000_000).is_ok())
            .count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn updates_apply_to_the_next_flow_and_idleness_is_a_full_bucket() {
        let limiter = limiter(1, 1, 1);
        assert!(limiter.try_acquire(SECOND).is_ok());
        assert!(!limiter.is_idle(SECOND));
        limiter.update(
            RateSpec {
                limit: 1,
                per: Duration::from_secs(1),
                burst: 3,
            },
            SECOND,
        );
        assert_eq!(admitted(&limiter, 10, SECOND), 2);
        assert!(limiter.is_idle(10 * SECOND));
    }

    /// A bucket used up stays used up whatever its new rate: the time it owes is counted
    /// in tokens, not in seconds.
    #[test]
    fn a_new_rate_keeps_the_tokens_used() {
        let limiter = limiter(1, 3600, 3);
        assert_eq!(admitted(&limiter, 10, SECOND), 3);
        for (limit, per) in [(2, 3600), (1, 7200), (10, 60), (1, 3600)] {
            let spec = RateSpec {
                limit,
                per: Duration::from_secs(per),
                burst: 3,
            };
            limiter.update(spec, SECOND);
            assert_eq!(admitted(&limiter, 10, SECOND), 0, "{limit} per {per} s");
        }
    }

    #[test]
    fn threads_never_take_more_than_the_bucket() {
        let limiter = std::sync::Arc::new(limiter(1, 3600, 1000));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let limiter = std::sync::Arc::clone(&limiter);
                std::thread::spawn(move || admitted(&limiter, 1000, SECOND))
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1000);
    }
}
