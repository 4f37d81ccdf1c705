//! A token bucket as GCRA: one atomic word of state, no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `limit` flows per `per`, with up to `burst` at once. All times are nanoseconds of
/// [`now_ns`](super::clock::now_ns).
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
    fn interval(&self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        (per / self.limit.max(1)).max(1)
    }

    fn tolerance(&self) -> u64 {
        self.interval()
            .saturating_mul(self.burst.max(1).saturating_sub(1))
    }
}

impl RateLimiter {
    pub(crate) fn new(spec: RateSpec) -> Self {
        Self {
            interval: AtomicU64::new(spec.interval()),
            tolerance: AtomicU64::new(spec.tolerance()),
            theoretical_arrival: AtomicU64::new(0),
        }
    }

    /// Applies new parameters; the bucket's level carries over.
    pub(crate) fn update(&self, spec: RateSpec) {
        self.interval.store(spec.interval(), Ordering::Relaxed);
        self.tolerance.store(spec.tolerance(), Ordering::Relaxed);
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
        limiter.update(RateSpec {
            limit: 1,
            per: Duration::from_secs(1),
            burst: 3,
        });
        assert_eq!(admitted(&limiter, 10, SECOND), 2);
        assert!(limiter.is_idle(10 * SECOND));
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
