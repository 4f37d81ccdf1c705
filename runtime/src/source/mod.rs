//! Decision sources: where a client's flag decisions come from.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::decision::{Fallback, RejectReason, Variant};
use crate::labels::Labels;
use crate::limits::Limits;

/// Answers "is this flag on for these labels?" from local state.
///
/// A source evaluates synchronously and must not block or do I/O in
/// [`evaluate`](DecisionSource::evaluate): it sits on every gated call. Sources that load
/// their state in the background (a file, a server) report [`Undecided::NotReady`] until
/// they have it and expose a [`Readiness`] that gates wait on, up to their timeout.
///
/// ```
/// use flowgate::{Client, DecisionSource, Evaluation, Labels};
///
/// /// Everything is on for staff.
/// #[derive(Debug)]
/// struct StaffOnly;
///
/// impl DecisionSource for StaffOnly {
///     fn evaluate(&self, _flag: &str, labels: &Labels) -> Evaluation {
///         Evaluation::from(labels.get("role") == Some("staff"))
///     }
/// }
///
/// let client = Client::new(StaffOnly);
/// assert!(client.is_enabled("AnyFlag", &flowgate::labels! { "role" => "staff" }));
/// assert!(!client.is_enabled("AnyFlag", &flowgate::Labels::new()));
/// ```
pub trait DecisionSource: fmt::Debug + Send + Sync + 'static {
    /// Evaluates `flag` for `labels`.
    fn evaluate(&self, flag: &str, labels: &Labels) -> Evaluation;

    /// Evaluates `flag` for `labels` at a gated call site, as
    /// [`evaluate`](DecisionSource::evaluate) does (the default calls it).
    ///
    /// `slot` belongs to the call site and is never shared with another flag: a source
    /// that keeps its flags in a list may remember in it where it found `flag`, and
    /// look there first next time (it must still check that what it finds there is
    /// `flag`: the same call site may run against several sources). A flag whose
    /// answer cannot depend on the call may have that answer remembered for the
    /// source's current [`StateStamp`] ([`FlagSlot::remember_answer`]), and answered
    /// from the slot while the stamp stays.
    fn evaluate_at(&self, flag: &str, slot: &FlagSlot, labels: &Labels) -> Evaluation {
        let _ = slot;
        self.evaluate(flag, labels)
    }

    /// The variant of `flag` for `labels`; `None` when the source cannot decide (or
    /// has no variants).
    fn variant(&self, flag: &str, labels: &Labels) -> Option<Variant> {
        let _ = (flag, labels);
        None
    }

    /// Stops the source's background work (polling, reporting), flushing what must be
    /// flushed. The default does nothing.
    fn shutdown(&self) {}

    /// The rate and concurrency limits that apply to flows this source accepts.
    fn limits(&self) -> Option<&Limits> {
        None
    }

    /// The readiness signal of a source that loads its state in the background.
    /// `None` (the default) means the source is always ready.
    fn readiness(&self) -> Option<&Readiness> {
        None
    }

    /// The fallback the source's configuration declares for `flag`, used when the call
    /// site does not say (the attribute always does). `None` means [`Fallback::Reject`].
    fn fallback(&self, flag: &str) -> Option<Fallback> {
        let _ = flag;
        None
    }
}

/// A number that names one state of one decision source (one snapshot of its rules),
/// never given to another state or another source in the same process.
///
/// A source takes a new stamp with every change of its rules; a [`FlagSlot`] remembers
/// an answer for one stamp, so that an answer can never outlive the state it was
/// computed on, whichever source the call site runs against.
///
/// ```
/// use flowgate::{FlagSlot, StateStamp};
///
/// let slot = FlagSlot::new();
/// let rules = StateStamp::next();
/// slot.remember_answer(rules, true);
/// assert_eq!(slot.answer(rules), Some(true));
///
/// let reloaded = StateStamp::next();
/// assert_eq!(slot.answer(reloaded), None, "remembered for the old rules only");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateStamp(u64);

impl StateStamp {
    /// A stamp no one has had before.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StateStamp(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The stamp as a number (never 0).
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The stamp `get` returned.
    pub(crate) const fn from_raw(raw: u64) -> Self {
        StateStamp(raw)
    }
}

/// A small fact remembered for one [`StateStamp`]: the stamp and the fact (below
/// 2^24) in one word, `stamp << 24 | fact`, so that a reader can never pair a fact with
/// another state. Call sites keep their flag's answer and their limits memo this way.
#[derive(Debug)]
pub(crate) struct StampedFact(AtomicU64);

impl StampedFact {
    const FACT_BITS: u32 = 24;
    /// The largest fact, and the mask of a fact's bits.
    pub(crate) const MAX_FACT: u64 = (1 << Self::FACT_BITS) - 1;

    /// Remembers nothing (no state has stamp 0).
    pub(crate) const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// The fact remembered for `stamp`: 0 when there is none.
    #[inline]
    pub(crate) fn get(&self, stamp: StateStamp) -> u64 {
        let word = self.0.load(Ordering::Relaxed);
        if word >> Self::FACT_BITS == stamp.0 {
            word & Self::MAX_FACT
        } else {
            0
        }
    }

    /// Remembers `fact` (1 to [`MAX_FACT`](Self::MAX_FACT)) for `stamp`, in place of
    /// what was remembered.
    #[inline]
    pub(crate) fn set(&self, stamp: StateStamp, fact: u64) {
        debug_assert!((1..=Self::MAX_FACT).contains(&fact));
        // Stamps from 2^40 on (a thousand reloads a second for thirty years) are not
        // remembered rather than confused.
        if stamp.0 >> (64 - Self::FACT_BITS) == 0 {
            self.0.store(
                stamp.0 << Self::FACT_BITS | (fact & Self::MAX_FACT),
                Ordering::Relaxed,
            );
        }
    }
}

/// A gated call site's memo for its decision source: where the source found the call
/// site's flag last time, and the flag's answer when it does not depend on the call.
/// See [`DecisionSource::evaluate_at`].
#[derive(Debug)]
pub struct FlagSlot {
    position: AtomicU32,
    /// For the state of that stamp, in the low two bits 1: off, 2: on; above them,
    /// when the source counts the flag's evaluations, 1 + where it counts them.
    answer: StampedFact,
}

impl FlagSlot {
    const EMPTY: u32 = u32::MAX;

    /// A slot that remembers nothing yet.
    pub const fn new() -> Self {
        Self {
            position: AtomicU32::new(Self::EMPTY),
            answer: StampedFact::new(),
        }
    }

    /// The position remembered, if any.
    #[inline]
    pub fn get(&self) -> Option<usize> {
        match self.position.load(Ordering::Relaxed) {
            Self::EMPTY => None,
            at => Some(at as usize),
        }
    }

    /// Remembers `position` (positions beyond `u32::MAX - 1` are not remembered).
    #[inline]
    pub fn set(&self, position: usize) {
        let position = u32::try_from(position).unwrap_or(Self::EMPTY);
        self.position.store(position, Ordering::Relaxed);
    }

    /// The answer remembered for the state `stamp`, if any (see
    /// [`remember_answer`](Self::remember_answer)).
    #[inline]
    pub fn answer(&self, stamp: StateStamp) -> Option<bool> {
        match self.answer.get(stamp) & 3 {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    /// What is remembered for the state `stamp`, as a number: 0, nothing; 1, off;
    /// 2, on; from 4 on, an answer whose evaluations are counted (see
    /// [`counted_answer`](Self::counted_answer)). A number, not an enum: the fast path
    /// tests it in two compares.
    #[inline]
    pub(crate) fn remembered(&self, stamp: StateStamp) -> u64 {
        self.answer.get(stamp)
    }

    /// The answer and the usage index of a counted answer (a remembered number from 4
    /// on).
    pub(crate) fn counted_answer(remembered: u64) -> (bool, u32) {
        debug_assert!(remembered > 3);
        #[allow(clippy::cast_possible_truncation)] // below 2^22
        let index = ((remembered >> 2) - 1) as u32;
        (remembered & 3 == 2, index)
    }

    /// Remembers `answer` for the state `stamp`, as an answer whose evaluations the
    /// source counts under `index`. Indices from `2^22 - 1` on are not remembered.
    #[inline]
    pub(crate) fn remember_counted_answer(&self, stamp: StateStamp, answer: bool, index: u32) {
        let counted = u64::from(index) + 1;
        if counted <= StampedFact::MAX_FACT >> 2 {
            self.answer
                .set(stamp, counted << 2 | (1 + u64::from(answer)));
        }
    }

    /// Remembers that the flag's answer is `answer` for every call while its source is
    /// in the state `stamp`. A slot remembers one answer: the last one given.
    #[inline]
    pub fn remember_answer(&self, stamp: StateStamp, answer: bool) {
        self.answer.set(stamp, 1 + u64::from(answer));
    }
}

impl Default for FlagSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// A source's answer for one flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Evaluation {
    /// The flag is on for these labels.
    Enabled,
    /// The flag is off for these labels.
    Disabled,
    /// The source cannot decide; the gate applies its fallback.
    Undecided(Undecided),
}

impl From<bool> for Evaluation {
    fn from(enabled: bool) -> Self {
        if enabled {
            Evaluation::Enabled
        } else {
            Evaluation::Disabled
        }
    }
}

/// Why a source could not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undecided {
    /// No state loaded yet; a gate waits on the source's [`Readiness`].
    NotReady,
    /// The source has state, but not for this flag.
    UnknownFlag,
    /// There is no source (see [`EmptySource`]).
    NoSource,
    /// Evaluation failed.
    Error,
}

impl From<Undecided> for RejectReason {
    fn from(undecided: Undecided) -> Self {
        match undecided {
            Undecided::NotReady => RejectReason::NotReady,
            Undecided::UnknownFlag => RejectReason::UnknownFlag,
            Undecided::NoSource => RejectReason::NoSource,
            Undecided::Error => RejectReason::SourceError,
        }
    }
}

/// The source used when nothing is configured: it decides nothing, so every flag takes
/// its fallback (reason [`RejectReason::NoSource`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmptySource;

impl DecisionSource for EmptySource {
    fn evaluate(&self, _flag: &str, _labels: &Labels) -> Evaluation {
        Evaluation::Undecided(Undecided::NoSource)
    }
}

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
    /// A fresh slot, its answers only for the state it remembered.
    #[test]
    fn a_slot_answers_only_for_the_state_it_remembered() {
        let slot = super::FlagSlot::new();
        let (first, second) = (super::StateStamp::next(), super::StateStamp::next());
        assert_ne!(first, second, "stamps are never given twice");
        assert_eq!(slot.answer(first), None, "nothing remembered");
        slot.remember_answer(first, true);
        assert_eq!(slot.answer(first), Some(true));
        assert_eq!(slot.answer(second), None);
        slot.remember_answer(second, false);
        assert_eq!(slot.answer(second), Some(false));
        assert_eq!(slot.answer(first), None, "one answer: the last one");
    }

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
