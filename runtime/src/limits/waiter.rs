//! A flow waiting in a concurrency limit's queue: its state, settled once, and how to
//! wake it (a parked thread or an async task).
//!
//! A waiter is granted a slot, refused one, or abandoned (timed out, dropped), never two: each is a
//! compare-and-swap from `WAITING`, and whichever comes first wins. The queue's lock is
//! held by the limiter around both, so a slot is never lost and never given twice.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const ABANDONED: u8 = 2;
const REFUSED: u8 = 3;

/// One queued flow.
#[derive(Debug)]
pub(super) struct Waiter {
    state: AtomicU8,
    wake: Mutex<Option<Wake>>,
}

/// How to wake a queued flow.
#[derive(Debug)]
pub(super) enum Wake {
    Thread(std::thread::Thread),
    Task(Waker),
}

impl Waiter {
    pub(super) fn new(wake: Wake) -> Arc<Self> {
        Arc::new(Self {
            state: AtomicU8::new(WAITING),
            wake: Mutex::new(Some(wake)),
        })
    }

    pub(super) fn is_granted(&self) -> bool {
        self.state.load(Ordering::Acquire) == GRANTED
    }

    /// Gives the waiter its slot and wakes it. `false` if it was abandoned first: the
    /// slot is still the caller's.
    pub(super) fn grant(&self) -> bool {
        let granted = self
            .state
            .compare_exchange(WAITING, GRANTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if granted {
            self.wake();
        }
        granted
    }

    /// Whether the waiter was sent away (see [`refuse`](Self::refuse)).
    pub(super) fn is_refused(&self) -> bool {
        self.state.load(Ordering::Acquire) == REFUSED
    }

    /// Sends the waiter away without a slot and wakes it (a global limit whose store
    /// says the fleet is full, with more waiting than `queue`). `false` if it was
    /// granted or abandoned first.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn refuse(&self) -> bool {
        let refused = self
            .state
            .compare_exchange(WAITING, REFUSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if refused {
            self.wake();
        }
        refused
    }

    /// Stops waiting. `false` if the waiter was granted a slot first: it holds one.
    pub(super) fn abandon(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The task to wake from now on (a task may move between polls).
    pub(super) fn wake_task(&self, waker: &Waker) {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = Some(Wake::Task(waker.clone()));
    }

    fn wake(&self) {
        let wake = self
            .wake
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match wake {
            Some(Wake::Thread(thread)) => thread.unpark(),
            Some(Wake::Task(waker)) => waker.wake(),
            None => {}
        }
    }
}
