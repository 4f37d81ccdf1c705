//! Whether the store answers, as the global limits see it: up or down, each change
//! logged once (not once per flow) and counted, with the counts for inspection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The store's health; see the module documentation.
#[derive(Debug)]
pub(crate) struct Health {
    down: AtomicBool,
    /// Requests that failed or timed out.
    failures: AtomicU64,
    /// Times the store went down, and came back.
    went_down: AtomicU64,
    came_back: AtomicU64,
    /// Bumped each time the store comes back: what was learnt from it before (a bucket
    /// found empty) may be gone with its state.
    epoch: AtomicU64,
    /// Flows decided by `on_store_error` while the store was down.
    by_policy: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The store's URL without its password.
    shown: String,
}

/// The state of the store global limits are kept in, at one time: see
/// [`Client::store_stats`](crate::Client::store_stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Whether the store answers now (as far as the last request knows).
    pub up: bool,
    /// Requests that failed or timed out.
    pub failures: u64,
    /// Times the store went down.
    pub went_down: u64,
    /// Times it came back.
    pub came_back: u64,
    /// Flow-control decisions made by `on_store_error` while it was down.
    pub decided_by_policy: u64,
    /// The last failure, in words (never with the URL).
    pub last_error: Option<String>,
}

impl Health {
    pub(crate) fn new(shown: String) -> Self {
        Self {
            down: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            went_down: AtomicU64::new(0),
            came_back: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            by_policy: AtomicU64::new(0),
            last_error: Mutex::new(None),
            shown,
        }
    }

    /// Whether the last request failed (flows then do not wait on the store).
    #[inline]
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// How many times the store came back.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            self.came_back.fetch_add(1, Ordering::Relaxed);
            self.epoch.fetch_add(1, Ordering::Release);
            tracing::info!(target: "flowgate", store = %self.shown, "the store answers again: global limits are shared again");
        }
    }

    pub(crate) fn failed(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.to_owned());
        if !self.down.swap(true, Ordering::Relaxed) {
            self.went_down.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "flowgate",
                store = %self.shown,
                error,
                "the store does not answer: global limits follow `on_store_error` until it does"
            );
        }
    }

    /// A flow-control decision made by `on_store_error`.
    pub(crate) fn decided_by_policy(&self) {
        self.by_policy.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            up: !self.is_down(),
            failures: self.failures.load(Ordering::Relaxed),
            went_down: self.went_down.load(Ordering::Relaxed),
            came_back: self.came_back.load(Ordering::Relaxed),
            decided_by_policy: self.by_policy.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_counted_once_each() {
        let health = Health::new("redis://***@cache:6379".into());
        for _ in 0..100 {
            health.failed("connection refused");
        }
        health.succeeded();
        health.succeeded();
        health.failed("timed out");
        let stats = health.stats();
        assert_eq!(
            (stats.failures, stats.went_down, stats.came_back),
            (101, 2, 1)
        );
        assert!(!stats.up);
        assert_eq!(stats.last_error.as_deref(), Some("timed out"));
    }
}
