//! What a reload hands over when it reshapes a flag's concurrency limit (a `by` added,
//! removed or changed): the flows still running under the limit it replaces.
//!
//! A reload that keeps a limit's shape updates its limiters in place, and nothing here
//! is involved. A reshaped limit gets new limiters; the flows in flight keep their slots
//! in the old ones, and until they end they **count against every new limiter**: a new
//! flow is admitted only while its limiter's flows plus the old flows are below the new
//! `max`. So in flight never exceeds the new `max` for new admissions, whatever the old
//! flows' label values were (keyed by another label, they could belong to any new key).
//! When an old flow ends, the new limiters' waiters are woken.
//!
//! The cost on the gate's path: one pointer load when a slot is given back, and, only in
//! limiters that replaced others, reading the old flows' count when a slot is taken.

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// What the limiters of one concurrency limit share.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Flows in flight over all the limit's keys (keyed limits only: an unkeyed limit's
    /// one limiter counts its own).
    keyed_total: Option<AtomicUsize>,
    /// Flows waiting for a slot over all the limit's keys (keyed limits only).
    keyed_waiting: Option<AtomicIsize>,
    /// Replaced by a reload: limiters made from here on start retired.
    retired: AtomicBool,
    /// The newest limit of the flag while this one still has flows: woken when one of
    /// them ends or stops waiting. (Read only once the group is retired.)
    successor: Mutex<Option<Weak<dyn Successor>>>,
    /// Told when a flow starts waiting, for a limit whose slots come from elsewhere (a
    /// global limit's keeper fetches more from the store): off the gate's fast path.
    #[cfg(feature = "redis")]
    pub(crate) demand: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
}

/// A limit that replaced another, woken when one of the old flows ends.
pub(crate) trait Successor: Send + Sync + 'static {
    fn wake(&self);
}

/// A limit whose flows may still be running.
pub(crate) trait Predecessor: Send + Sync + 'static {
    /// Its flows holding a slot, or waiting for one (they will hold one).
    fn in_flight(&self) -> usize;
    /// Whether no flow holds or waits for a slot: a retired limit that has settled never
    /// gets one again (a flow that races its retirement gives back what it took).
    fn settled(&self) -> bool;
    /// Names the newest limit, to wake when one of its flows ends.
    fn hand_over(&self, successor: Weak<dyn Successor>);
    /// Hands free slots to its own waiters (who may have waited for older flows).
    fn wake_own(&self);
}

/// The replaced limits whose flows a new limiter counts.
#[derive(Default)]
pub(crate) struct Carried(Vec<Arc<dyn Predecessor>>);

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Carried").field(&self.in_flight()).finish()
    }
}

impl Group {
    pub(crate) fn new(keyed: bool) -> Self {
        Self {
            keyed_total: keyed.then(|| AtomicUsize::new(0)),
            keyed_waiting: keyed.then(|| AtomicIsize::new(0)),
            retired: AtomicBool::new(false),
            successor: Mutex::new(None),
            #[cfg(feature = "redis")]
            demand: std::sync::OnceLock::new(),
        }
    }

    /// Says a flow started waiting (see `demand`).
    #[inline]
    #[cfg_attr(not(feature = "redis"), allow(clippy::unused_self))]
    pub(crate) fn wants_more(&self) {
        #[cfg(feature = "redis")]
        if let Some(demand) = self.demand.get() {
            demand.notify_one();
        }
    }

    /// Flows holding or waiting for a slot over all keys, for a keyed limit.
    pub(crate) fn keyed_occupied(&self) -> Option<usize> {
        let waiting = self.keyed_waiting.as_ref()?.load(Ordering::SeqCst);
        let total = self.keyed_total.as_ref()?.load(Ordering::SeqCst);
        Some(total + usize::try_from(waiting).unwrap_or(0))
    }

    /// Counts `change` more flows waiting (keyed limits only).
    pub(crate) fn waits(&self, change: isize) {
        if let Some(waiting) = &self.keyed_waiting {
            waiting.fetch_add(change, Ordering::SeqCst);
        }
    }

    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    #[inline]
    pub(crate) fn took(&self) {
        if let Some(total) = &self.keyed_total {
            total.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[inline]
    pub(crate) fn gave_back(&self) {
        if let Some(total) = &self.keyed_total {
            total.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Names the newest limit of the flag, to wake when a flow of this one ends.
    pub(crate) fn hand_over(&self, successor: Weak<dyn Successor>) {
        *self
            .successor
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(successor);
    }

    /// Whether the group counts keys (a keyed limit).
    pub(crate) fn is_keyed(&self) -> bool {
        self.keyed_total.is_some()
    }

    /// Wakes the newest limit of the flag, if this one was replaced.
    #[cold]
    pub(crate) fn wake_successor(&self) {
        let successor = self
            .successor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade);
        if let Some(successor) = successor {
            successor.wake();
        }
    }
}

impl Carried {
    /// `predecessor`, just retired, and what it carried itself that has not settled.
    /// The predecessor is kept whatever its count: a flow may be taking a slot there
    /// right now, which it keeps if it took it before the retirement.
    pub(crate) fn after(
        predecessor: Arc<dyn Predecessor>,
        carried_before: Option<&Carried>,
    ) -> Arc<Self> {
        let mut all: Vec<Arc<dyn Predecessor>> = carried_before
            .map(|carried| carried.0.clone())
            .unwrap_or_default();
        all.retain(|limit| !limit.settled());
        all.push(predecessor);
        Arc::new(Carried(all))
    }

    /// The old flows still running.
    #[inline]
    pub(crate) fn in_flight(&self) -> usize {
        self.0.iter().map(|limit| limit.in_flight()).sum()
    }

    /// Wakes the waiters of every limit carried.
    pub(crate) fn wake(&self) {
        for limit in &self.0 {
            limit.wake_own();
        }
    }

    /// Names `successor` to every limit carried, as the one to wake.
    pub(crate) fn hand_over(&self, successor: &Weak<dyn Successor>) {
        for limit in &self.0 {
            limit.hand_over(successor.clone());
        }
    }
}
