//! A concurrency limit with a FIFO queue that blocking threads and async tasks share.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use super::group::{Carried, Group};
use super::waiter::{Waiter, Wake};

/// At most `max` flows hold a slot; up to `queue` more wait for one, first come first
/// served, each until its own deadline.
///
/// A free slot is taken with one compare-and-swap. The queue's lock is touched only
/// by flows that must wait and by releases while someone waits. Every way a waiter can
/// stop waiting (granted, timed out, dropped) is settled under that lock, so a slot is
/// never lost and never given twice.
///
/// A limiter belongs to a [`Group`] (the limiters of one limit of one flag), and one
/// that replaced another limit counts that limit's flows still running ([`Carried`]).
///
/// Retirement is a bit of the slot count itself ([`RETIRED`]), not a flag beside it:
/// the gate's path then pays nothing for it. A retired count compares above any `max`,
/// so the fast path's compare-and-swap cannot take a slot once the limiter is retired,
/// and one that raced the retirement fails, its value having changed; the release's
/// subtraction returns the bit with the old count. The cost: every reader of the count
/// masks the bit, and the queue's grants, which must still serve the flows that waited
/// before the retirement, compare the count without it.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimiter {
    max: AtomicUsize,
    queue_max: AtomicUsize,
    /// Slots held, plus [`RETIRED`] once the limiter is replaced by a reload.
    in_flight: AtomicUsize,
    /// Mirrors the queue's length, so that the fast paths can tell without the lock.
    waiting: AtomicUsize,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// The group's counts, for a keyed limit (`None`: unkeyed, nothing more to count).
    keyed: Option<Arc<Group>>,
    pub(crate) group: Arc<Group>,
    carried: Option<Arc<Carried>>,
}

/// Concurrency parameters, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConcurrencySpec {
    pub(crate) max: usize,
    pub(crate) queue: usize,
}

/// The bit of the slot count that says the limiter was replaced by a reload (see
/// `group.rs`). No count of slots comes near it.
const RETIRED: usize = 1 << (usize::BITS - 1);

/// Why a flow was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The queue was full.
    QueueFull,
    /// The flow waited until its deadline.
    TimedOut,
}

enum Entry {
    Admitted,
    Queued(Arc<Waiter>),
}

impl ConcurrencyLimiter {
    /// A limiter alone in its group, replacing nothing.
    #[cfg(test)]
    pub(crate) fn new(spec: ConcurrencySpec) -> Self {
        Self::in_group(spec, Arc::default(), None)
    }

    /// A limiter of `group`, counting the `carried` flows of the limits it replaced.
    pub(crate) fn in_group(
        spec: ConcurrencySpec,
        group: Arc<Group>,
        carried: Option<Arc<Carried>>,
    ) -> Self {
        Self {
            max: AtomicUsize::new(spec.max),
            queue_max: AtomicUsize::new(spec.queue),
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
            keyed: group.is_keyed().then(|| Arc::clone(&group)),
            group,
            carried,
        }
    }

    /// Marks the limiter retired, and waits for anyone inside its queue's lock to leave
    /// it: whoever takes the lock after sees the mark.
    pub(crate) fn retire(&self) {
        self.in_flight.fetch_or(RETIRED, Ordering::SeqCst);
        drop(self.queue.lock().unwrap_or_else(PoisonError::into_inner));
    }

    #[inline]
    pub(crate) fn is_retired(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) & RETIRED != 0
    }

    /// Applies new parameters. Flows holding slots keep them; a larger `max` admits
    /// waiters at once.
    pub(crate) fn update(&self, spec: ConcurrencySpec) {
        self.max.store(spec.max, Ordering::SeqCst);
        self.queue_max.store(spec.queue, Ordering::SeqCst);
        self.grant_waiters();
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst) & !RETIRED
    }

    /// Flows holding a slot or waiting for one.
    pub(crate) fn occupied(&self) -> usize {
        // Waiting first: a waiter granted between the two loads counts twice, never
        // not at all.
        let waiting = self.waiting();
        self.in_flight() + waiting
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight() == 0 && self.waiting() == 0
    }

    /// Takes a free slot for a new flow: never once the limiter is retired (the count,
    /// with its bit, is then above any `max`).
    #[inline]
    fn try_take_slot(&self) -> bool {
        self.take_slot_below(0)
    }

    /// Takes a free slot for a flow that was waiting in the queue, retired or not.
    fn try_grant_slot(&self) -> bool {
        self.take_slot_below(RETIRED)
    }

    /// Takes a slot if the count, `ignored` bits masked, is below the limit. Always
    /// inlined: the gate's path (`try_take_slot`) must not pay a call for it.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn take_slot_below(&self, ignored: usize) -> bool {
        let mut max = self.max.load(Ordering::SeqCst);
        if let Some(carried) = &self.carried {
            max = max.saturating_sub(carried.in_flight());
        }
        let mut current = self.in_flight.load(Ordering::SeqCst);
        while current & !ignored < max {
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    if let Some(group) = &self.keyed {
                        group.took();
                    }
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
        false
    }

    fn start_waiting(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if let Some(group) = &self.keyed {
            group.waits(1);
        }
    }

    fn stop_waiting(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if let Some(group) = &self.keyed {
            group.waits(-1);
        }
    }

    /// Gives a slot back to the count (not to a waiter). Returns whether the limiter
    /// is retired.
    #[inline]
    fn give_slot_back(&self) -> bool {
        let before = self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(group) = &self.keyed {
            group.gave_back();
        }
        before & RETIRED != 0
    }

    /// After a flow of a retired limiter ended or stopped waiting, outside any lock:
    /// that may make room in the newest limit.
    fn made_room(&self) {
        self.group.wake_successor();
    }

    /// Hands free slots to waiters, if any wait: after a replaced limit's flow ended.
    pub(crate) fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.grant_waiters();
        }
    }

    /// A slot at once, if one is free and nobody is waiting for it first. A retired
    /// limiter (replaced by a reload) gives none: its successor counts only the slots
    /// taken before it was retired, so a slot taken while it is retired is given back.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) == 0 && self.try_take_slot()
    }

    /// Gives a slot back, handing it to the first waiter if there is one.
    pub(crate) fn release(&self) {
        let retired = self.give_slot_back();
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.grant_waiters();
        }
        if retired {
            self.made_room();
        }
    }

    /// Sends away the waiters beyond the first `keep`, newest first: a global limit's
    /// store said the fleet is full, and only `queue` flows may wait for a slot then.
    #[cfg(feature = "redis")]
    pub(crate) fn refuse_beyond(&self, keep: usize) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while queue.len() > keep {
            let waiter = queue.pop_back().expect("longer than keep");
            // Waiting (grants and abandons happen under this lock, and leave the queue).
            if waiter.refuse() {
                self.stop_waiting();
            }
        }
    }

    /// Hands free slots to the waiters, first come first served. Takes the queue's
    /// lock: never called with it held, nor from a wake-up (see `group.rs`) that may
    /// come from inside it.
    fn grant_waiters(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let mut freed = false;
        while !queue.is_empty() && self.try_grant_slot() {
            let waiter = queue.pop_front().expect("not empty");
            self.stop_waiting();
            if !waiter.grant() {
                // Abandoned waiters leave the queue themselves; give the slot back.
                freed |= self.give_slot_back();
            }
        }
        drop(queue);
        if freed {
            self.made_room();
        }
    }

    /// Joins the queue, or takes a slot if one came free meanwhile. A retired limiter
    /// (replaced by a reload) takes no one new: its successor counts only the flows that
    /// held or waited for its slots when it was retired.
    fn enter(&self, wake: Wake) -> Result<Entry, Refusal> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_retired() {
            return Err(Refusal::QueueFull);
        }
        if queue.len() >= self.queue_max.load(Ordering::SeqCst) {
            // Even with no room to wait, a slot freed just now is still a slot.
            return if queue.is_empty() && self.try_take_slot() {
                Ok(Entry::Admitted)
            } else {
                Err(Refusal::QueueFull)
            };
        }
        // Counted as waiting before looking for a slot: a release that misses this
        // waiter has already freed the slot this check then finds.
        self.start_waiting();
        if queue.is_empty() && self.try_take_slot() {
            self.stop_waiting();
            return Ok(Entry::Admitted);
        }
        let waiter = Waiter::new(wake);
        queue.push_back(Arc::clone(&waiter));
        self.group.wants_more();
        Ok(Entry::Queued(waiter))
    }

    /// Stops waiting. Returns whether the waiter was granted a slot after all (then
    /// the caller holds it).
    fn leave(&self, waiter: &Arc<Waiter>) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if !waiter.abandon() {
            return waiter.is_granted();
        }
        if let Some(position) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(position);
            self.stop_waiting();
        }
        drop(queue);
        if self.is_retired() {
            self.made_room();
        }
        false
    }

    /// Takes a slot, blocking the thread until `deadline` at most.
    pub(crate) fn acquire_blocking(&self, deadline: Instant) -> Result<(), Refusal> {
        if self.try_acquire() {
            return Ok(());
        }
        let waiter = match self.enter(Wake::Thread(std::thread::current()))? {
            Entry::Admitted => return Ok(()),
            Entry::Queued(waiter) => waiter,
        };
        loop {
            if waiter.is_granted() {
                return Ok(());
            }
            if waiter.is_refused() {
                return Err(Refusal::QueueFull);
            }
            let now = Instant::now();
            if now >= deadline {
                return if self.leave(&waiter) {
                    Ok(())
                } else {
                    Err(Refusal::TimedOut)
                };
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Takes a slot, waiting without blocking the thread until `deadline` at most. If
    /// the future is dropped while waiting, its place (or the slot it was just given)
    /// is handed on.
    pub(crate) async fn acquire(self: &Arc<Self>, deadline: Instant) -> Result<(), Refusal> {
        if self.try_acquire() {
            return Ok(());
        }
        let mut wait = QueuedWait {
            limiter: self,
            waiter: None,
        };
        // Outside a tokio runtime there is no timer to wait with.
        if tokio::runtime::Handle::try_current().is_err() {
            return match self.enter(Wake::Thread(std::thread::current()))? {
                Entry::Admitted => Ok(()),
                Entry::Queued(waiter) => {
                    wait.waiter = Some(waiter);
                    wait.give_up()
                }
            };
        }
        let granted = tokio::time::timeout_at(deadline.into(), &mut wait).await;
        match granted {
            Ok(result) => result,
            Err(_elapsed) => wait.give_up(),
        }
    }
}

/// The future of a queued async flow. Dropped while queued, it leaves the queue and
/// hands on a slot it may have been given.
struct QueuedWait<'a> {
    limiter: &'a ConcurrencyLimiter,
    waiter: Option<Arc<Waiter>>,
}

impl QueuedWait<'_> {
    fn give_up(&mut self) -> Result<(), Refusal> {
        match self.waiter.take() {
            Some(waiter) if !self.limiter.leave(&waiter) => Err(Refusal::TimedOut),
            _ => Ok(()),
        }
    }
}

impl Future for QueuedWait<'_> {
    type Output = Result<(), Refusal>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(waiter) = &this.waiter else {
            return match this.limiter.enter(Wake::Task(cx.waker().clone())) {
                Err(refusal) => Poll::Ready(Err(refusal)),
                Ok(Entry::Admitted) => Poll::Ready(Ok(())),
                Ok(Entry::Queued(waiter)) => {
                    this.waiter = Some(waiter);
                    Poll::Pending
                }
            };
        };
        if waiter.is_granted() {
            this.waiter = None;
            return Poll::Ready(Ok(()));
        }
        if waiter.is_refused() {
            this.waiter = None;
            return Poll::Ready(Err(Refusal::QueueFull));
        }
        waiter.wake_task(cx.waker());
        // Settled between the check and storing the waker: the grant found no waker.
        if waiter.is_granted() {
            this.waiter = None;
            return Poll::Ready(Ok(()));
        }
        if waiter.is_refused() {
            this.waiter = None;
            return Poll::Ready(Err(Refusal::QueueFull));
        }
        Poll::Pending
    }
}

impl Drop for QueuedWait<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if self.limiter.leave(&waiter) {
                self.limiter.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(max: usize, queue: usize) -> Arc<ConcurrencyLimiter> {
        Arc::new(ConcurrencyLimiter::new(ConcurrencySpec { max, queue }))
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// A thread waiting in `limiter`'s queue (returned once it is counted there).
    fn blocked_in_queue(
        limiter: &Arc<ConcurrencyLimiter>,
    ) -> std::thread::JoinHandle<Result<(), Refusal>> {
        let waiter = {
            let limiter = Arc::clone(limiter);
            std::thread::spawn(move || limiter.acquire_blocking(soon()))
        };
        while limiter.waiting() == 0 {
            std::thread::yield_now();
        }
        waiter
    }

    #[test]
    fn slots_then_queue_then_refusal() {
        let limiter = limiter(2, 0);
        assert!(limiter.try_acquire());
        assert!(limiter.try_acquire());
        assert!(!limiter.try_acquire());
        assert_eq!(limiter.acquire_blocking(soon()), Err(Refusal::QueueFull));
        limiter.release();
        assert_eq!(limiter.acquire_blocking(soon()), Ok(()));
        assert_eq!(limiter.in_flight(), 2);
    }

    #[test]
    fn a_blocked_thread_gets_the_released_slot() {
        let limiter = limiter(1, 1);
        assert!(limiter.try_acquire());
        let waiter = blocked_in_queue(&limiter);
        limiter.release();
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!((limiter.in_flight(), limiter.waiting()), (1, 0));
    }

    #[test]
    fn timing_out_leaves_the_queue_without_a_slot() {
        let limiter = limiter(1, 4);
        assert!(limiter.try_acquire());
        assert_eq!(
            limiter.acquire_blocking(Instant::now() + Duration::from_millis(1)),
            Err(Refusal::TimedOut)
        );
        assert_eq!((limiter.in_flight(), limiter.waiting()), (1, 0));
        limiter.release();
        assert!(limiter.is_idle());
    }

    #[tokio::test]
    async fn a_dropped_waiting_future_leaves_no_trace() {
        let limiter = limiter(1, 4);
        assert!(limiter.try_acquire());
        let task = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire(soon()).await })
        };
        while limiter.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!((limiter.in_flight(), limiter.waiting()), (1, 0));
        limiter.release();
        assert!(limiter.is_idle());
    }

    #[test]
    fn raising_max_admits_waiters() {
        let limiter = limiter(1, 4);
        assert!(limiter.try_acquire());
        let waiter = blocked_in_queue(&limiter);
        limiter.update(ConcurrencySpec { max: 2, queue: 4 });
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!(limiter.in_flight(), 2);
    }
}
