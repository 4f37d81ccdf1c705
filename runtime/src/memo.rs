//! What a gated call site remembers between calls, so that most calls skip work: where
//! its flag sits in the rules, the flag's answer while the rules stay the same, and
//! whether its flag has limits.
//!
//! **The trick.** Each state of a source (a snapshot of rules, a table of limiters) gets
//! a [`StateStamp`] that no other state in the process ever gets. A call site keeps a
//! fact together with the stamp it holds for, in one atomic word ([`StampedFact`]):
//! `stamp << 24 | fact`. A reader compares the stamp it loads with the current one and
//! uses the fact only on a match, so a fact can never be paired with another state, even
//! while a reload races the read, and no lock or sequence counter is needed.
//!
//! **Benefit.** A gate on a flag whose answer cannot depend on the call (on, off, 100%
//! without constraints) is answered with two loads and a compare: no lookup, no
//! evaluation (192 instructions for a whole gated call, against about 310 without).
//!
//! **Cost.** One relaxed store per call site when the rules change, 16 bytes per call
//! site, and a limit on what can be remembered: facts below 2^24, stamps below 2^40 (a
//! thousand reloads a second for thirty years; later stamps are simply not remembered).
//!
//! The encoding stays in this file: callers get a [`Recall`], not a number.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A number that names one state of one source (one snapshot of its rules, one table
/// of limiters), never given to another state or another source in the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StateStamp(u64);

impl StateStamp {
    /// A stamp no one has had before.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StateStamp(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The stamp as a number (never 0), to keep in an atomic.
    pub(crate) const fn get(self) -> u64 {
        self.0
    }

    /// The stamp `get` returned.
    pub(crate) const fn from_raw(raw: u64) -> Self {
        StateStamp(raw)
    }
}

/// A small fact remembered for one [`StateStamp`]: the stamp and the fact (1 to
/// [`MAX_FACT`](Self::MAX_FACT)) in one word, so that a reader can never pair a fact with
/// another state.
#[derive(Debug)]
pub(crate) struct StampedFact(AtomicU64);

impl StampedFact {
    const FACT_BITS: u32 = 24;
    /// The largest fact.
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
        // Stamps from 2^40 on are not remembered rather than confused.
        if stamp.0 >> (64 - Self::FACT_BITS) == 0 {
            self.0.store(
                stamp.0 << Self::FACT_BITS | (fact & Self::MAX_FACT),
                Ordering::Relaxed,
            );
        }
    }
}

/// What a [`FlagSlot`] remembers of its flag for one state of the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recall {
    /// Nothing: evaluate.
    Nothing,
    /// The flag's answer, the same for every call.
    Answer(bool),
    /// The same, for a flag whose evaluations are counted (Unleash usage).
    Counted(Counted),
}

/// A remembered answer to count (see [`Recall::Counted`]), read out where it is
/// counted, out of the gate's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counted(u64);

impl Counted {
    /// The flag's answer.
    pub(crate) fn answer(self) -> bool {
        self.0 & 3 == 2
    }

    /// Where the source's tally counts it.
    pub(crate) fn index(self) -> u32 {
        #[allow(clippy::cast_possible_truncation)] // below 2^22
        let index = ((self.0 >> 2) - 1) as u32;
        index
    }
}

/// A gated call site's memo for its flag: where the rules keep the flag, and the
/// flag's answer when it does not depend on the call.
#[derive(Debug)]
pub(crate) struct FlagSlot {
    position: AtomicU32,
    /// For the state of that stamp, in the low two bits 1: off, 2: on; above them,
    /// when the flag's evaluations are counted, 1 + where they are counted.
    answer: StampedFact,
}

impl FlagSlot {
    const EMPTY: u32 = u32::MAX;
    /// The largest tally index a remembered answer can carry.
    const MAX_INDEX: u64 = (StampedFact::MAX_FACT >> 2) - 1;

    /// A slot that remembers nothing yet.
    pub(crate) const fn new() -> Self {
        Self {
            position: AtomicU32::new(Self::EMPTY),
            answer: StampedFact::new(),
        }
    }

    /// Where the flag was found last time, if anywhere. The same call site may run
    /// against several sources: whoever reads it must check that it finds its flag
    /// there.
    #[inline]
    pub(crate) fn position(&self) -> Option<usize> {
        match self.position.load(Ordering::Relaxed) {
            Self::EMPTY => None,
            at => Some(at as usize),
        }
    }

    /// Remembers where the flag was found (positions beyond `u32::MAX - 1` are not).
    #[inline]
    pub(crate) fn set_position(&self, position: usize) {
        let position = u32::try_from(position).unwrap_or(Self::EMPTY);
        self.position.store(position, Ordering::Relaxed);
    }

    /// What is remembered for the state `stamp`.
    #[inline]
    pub(crate) fn recall(&self, stamp: StateStamp) -> Recall {
        match self.answer.get(stamp) {
            0 => Recall::Nothing,
            fact @ 1..=3 => Recall::Answer(fact == 2),
            fact => Recall::Counted(Counted(fact)),
        }
    }

    /// Remembers that the flag's answer is `answer` for every call while the rules are
    /// in the state `stamp`. A slot remembers one answer: the last one given.
    #[inline]
    pub(crate) fn remember(&self, stamp: StateStamp, answer: bool) {
        self.answer.set(stamp, 1 + u64::from(answer));
    }

    /// As [`remember`](Self::remember), for an answer whose evaluations are counted under
    /// `index`. Indices above 2^22 - 2 are not remembered.
    #[inline]
    pub(crate) fn remember_counted(&self, stamp: StateStamp, answer: bool, index: u32) {
        if u64::from(index) <= Self::MAX_INDEX {
            let counted = u64::from(index) + 1;
            self.answer
                .set(stamp, counted << 2 | (1 + u64::from(answer)));
        }
    }
}

impl Default for FlagSlot {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_answers_only_for_the_state_it_remembered() {
        let slot = FlagSlot::new();
        let (first, second) = (StateStamp::next(), StateStamp::next());
        assert_ne!(first, second, "stamps are never given twice");
        assert_eq!(slot.recall(first), Recall::Nothing);
        slot.remember(first, true);
        assert_eq!(slot.recall(first), Recall::Answer(true));
        assert_eq!(slot.recall(second), Recall::Nothing);
        slot.remember(second, false);
        assert_eq!(slot.recall(second), Recall::Answer(false));
        assert_eq!(
            slot.recall(first),
            Recall::Nothing,
            "one answer: the last one"
        );
    }

    #[test]
    fn counted_answers_keep_their_index_up_to_the_largest() {
        let slot = FlagSlot::new();
        let stamp = StateStamp::next();
        for (answer, index) in [(true, 0), (false, 7), (true, 4_194_302)] {
            slot.remember_counted(stamp, answer, index);
            let Recall::Counted(counted) = slot.recall(stamp) else {
                panic!("a counted answer")
            };
            assert_eq!((counted.answer(), counted.index()), (answer, index));
        }
        slot.remember(stamp, false);
        slot.remember_counted(stamp, true, 4_194_303);
        assert_eq!(
            slot.recall(stamp),
            Recall::Answer(false),
            "too large: not remembered"
        );
    }

    #[test]
    fn positions_are_remembered_within_range() {
        let slot = FlagSlot::new();
        assert_eq!(slot.position(), None);
        slot.set_position(42);
        assert_eq!(slot.position(), Some(42));
        slot.set_position(usize::MAX);
        assert_eq!(slot.position(), None);
    }

    #[test]
    fn late_stamps_are_not_remembered() {
        let fact = StampedFact::new();
        let late = StateStamp::from_raw(1 << 40);
        fact.set(late, 1);
        assert_eq!(fact.get(late), 0);
        let early = StateStamp::from_raw(5);
        fact.set(early, 3);
        assert_eq!(fact.get(early), 3);
        assert_eq!(fact.get(StateStamp::from_raw(6)), 0);
    }
}
