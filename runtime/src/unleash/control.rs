//! What an Unleash source's handle and its background thread share: the stop signal,
//! the statistics of the work done, with a signal for each fetch, and which state is
//! being served.
//!
//! Stopping is a flag and a wake-up: every wait of the thread (a sleep, a request, a
//! body being read) races the wake-up, so a stop is seen at once, even while a request
//! hangs. The last `Unleash` clone to go stops the thread the same way (`Alive`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::UnleashStats;
use crate::source::Serving;

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Control {
    stop: AtomicBool,
    wake: tokio::sync::Notify,
    stats: Mutex<UnleashStats>,
    fetched: Condvar,
    /// Read by readiness checks, written at start and at the first fetch.
    serving: Mutex<Serving>,
}

impl Default for Control {
    fn default() -> Self {
        Self::serving(Serving::Fallback)
    }
}

impl Control {
    pub(super) fn serving(serving: Serving) -> Self {
        Self {
            stop: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            stats: Mutex::default(),
            fetched: Condvar::new(),
            serving: Mutex::new(serving),
        }
    }

    pub(super) fn now_serving(&self) -> Serving {
        self.serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves the source's own state from now on; what was served before.
    pub(super) fn serve_live(&self) -> Serving {
        std::mem::replace(
            &mut self.serving.lock().unwrap_or_else(PoisonError::into_inner),
            Serving::Live,
        )
    }

    /// Asks the thread to stop (it sends its last metrics first). Does not wait.
    pub(super) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // One waiter at most, the thread: `notify_one` keeps the wake-up for it if it is
        // not waiting right now.
        self.wake.notify_one();
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Returns once a stop is asked for.
    pub(super) async fn stopped(&self) {
        while !self.stopping() {
            self.wake.notified().await;
        }
    }

    /// `work`'s output, or `None` if a stop is asked for first.
    pub(super) async fn unless_stopped<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        tokio::select! {
            output = work => Some(output),
            () = self.stopped() => None,
        }
    }

    pub(super) fn stats(&self) -> UnleashStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut UnleashStats)) {
        change(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(super) fn fetch_done(&self, backoff: u32) {
        self.update(|s| {
            s.fetches += 1;
            s.backoff = backoff;
        });
        self.fetched.notify_all();
    }

    pub(super) fn wait_for_fetch(&self, fetches: u64, timeout: Duration) -> UnleashStats {
        let stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let (stats, _) = self
            .fetched
            .wait_timeout_while(stats, timeout, |s| s.fetches <= fetches)
            .unwrap_or_else(PoisonError::into_inner);
        stats.clone()
    }
}

/// Held by every clone of an `Unleash` source (not by its handles or its thread): when
/// the last clone goes, the background work is told to stop.
#[derive(Debug)]
pub(super) struct Alive(pub(super) Arc<Control>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}
