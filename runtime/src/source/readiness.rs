//! A one-way "state has loaded" signal that gates wait on, blocking or async, up to
//! their timeout.
//!
//! Checking it is one atomic load; the locks and wakers inside are touched only by
//! waiters and by [`Readiness::mark_ready`], never on the hot path of a ready source.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A one-way "state has loaded" signal that gates can wait on, blocking or async.
///
/// Checking it is one atomic load; the locks and wakers inside are touched only by
/// waiters and by [`Readiness::mark_ready`], never on the hot path of a ready source.
pub struct Readiness {
    ready: AtomicBool,
    waiting: AtomicUsize,
    // Blocking waiters park on the condvar; the mutex only orders them with
    // `mark_ready` so that a wake-up cannot be lost.
    lock: Mutex<()>,
    condvar: Condvar,
    notify: tokio::sync::Notify,
}

impl Readiness {
    /// A signal that has not fired yet.
    pub fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// Whether the source has its state.
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Fires the signal and wakes every waiter. Idempotent.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
        self.condvar.notify_all();
        self.notify.notify_waiters();
    }

    /// How many gates are waiting for the signal right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Blocks the thread until the signal fires or `timeout` passes. Returns whether it
    /// fired.
    pub fn wait_blocking(&self, timeout: Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        let _waiting = WaitingGuard::enter(&self.waiting);
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, _) = self
            .condvar
            .wait_timeout_while(guard, timeout, |()| !self.is_ready())
            .unwrap_or_else(PoisonError::into_inner);
        self.is_ready()
    }

    /// Waits without blocking the thread until the signal fires or `timeout` passes.
    /// Returns whether it fired.
    ///
    /// The timeout uses tokio's timer. Outside a tokio runtime there is nothing to
    /// wait with, so it returns at once.
    pub async fn wait(&self, timeout: Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        if timeout.is_zero() || tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        let _waiting = WaitingGuard::enter(&self.waiting);
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Register before the second check, so a `mark_ready` between the two still
        // wakes this waiter.
        notified.as_mut().enable();
        if self.is_ready() {
            return true;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.is_ready()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("ready", &self.is_ready())
            .field("waiting", &self.waiting())
            .finish()
    }
}

struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        WaitingGuard(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn blocking_wait_wakes_on_mark_ready() {
        let readiness = Arc::new(Readiness::new());
        let waiter = {
            let readiness = Arc::clone(&readiness);
            std::thread::spawn(move || readiness.wait_blocking(Duration::from_secs(3600)))
        };
        while readiness.waiting() == 0 {
            std::thread::yield_now();
        }
        readiness.mark_ready();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn blocking_wait_times_out_unready() {
        let readiness = Readiness::new();
        assert!(!readiness.wait_blocking(Duration::from_millis(1)));
        assert!(!readiness.wait_blocking(Duration::ZERO));
        assert_eq!(readiness.waiting(), 0);
    }

    #[tokio::test]
    async fn async_wait_wakes_on_mark_ready() {
        let readiness = Arc::new(Readiness::new());
        let waiter = {
            let readiness = Arc::clone(&readiness);
            tokio::spawn(async move { readiness.wait(Duration::from_secs(3600)).await })
        };
        while readiness.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        readiness.mark_ready();
        assert!(waiter.await.unwrap());
        assert_eq!(readiness.waiting(), 0);
    }

    #[test]
    fn async_wait_outside_tokio_returns_at_once() {
        let readiness = Readiness::new();
        let fired = futures_lite_block_on(readiness.wait(Duration::from_secs(3600)));
        assert!(!fired);
    }

    /// Polls a future to completion on this thread without any runtime.
    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::yield_now();
        }
    }
}
