//! The clock rate limits read on every flow, and timed flows (histograms) twice.
//!
//! **Trick.** With the `quanta` feature (on by default), time is read from the CPU's
//! time-stamp counter where it is usable, as `governor` does: several times cheaper than
//! `clock_gettime`, and a rate limit reads the clock on every flow. Raw counter values
//! are scaled once, as a difference, with no `Duration` in between. **Cost.** The
//! `quanta` dependency, and a calibration at first use. Without the feature, the clock
//! is `std::time::Instant`.

/// Nanoseconds on a monotonic clock that starts with the process's first use.
#[cfg(feature = "quanta")]
#[inline]
pub(crate) fn now_ns() -> u64 {
    use std::sync::OnceLock;
    static CLOCK: OnceLock<(quanta::Clock, u64)> = OnceLock::new();
    let (clock, start) = CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        (clock, start)
    });
    clock.delta_as_nanos(*start, clock.raw())
}

/// Nanoseconds on a monotonic clock that starts with the process's first use.
#[cfg(not(feature = "quanta"))]
#[inline]
pub(crate) fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_never_goes_back() {
        let mut last = super::now_ns();
        for _ in 0..10_000 {
            let now = super::now_ns();
            assert!(now >= last);
            last = now;
        }
    }
}
