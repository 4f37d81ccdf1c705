//! A slot held by a flow, given back when the flow ends (dropped), however it ends: a
//! concurrency slot of the client's own limits, or tokens a remote decider (an
//! Aperture agent) lent the flow, given back by the value's own `Drop`.

use std::any::Any;
use std::sync::Arc;

use super::concurrency::ConcurrencyLimiter;

/// A slot, given back when dropped.
///
/// The remote case is boxed twice so that a permit stays two words, as the local ones
/// need: a flow is moved on every gated call and must stay within two cache lines.
#[derive(Debug)]
pub(crate) enum Permit {
    /// A slot of a limiter a call site keeps alive (see
    /// [`LimitSlot`](super::slot::LimitSlot)): no reference count to touch.
    Kept(&'static ConcurrencyLimiter),
    Shared(Arc<ConcurrencyLimiter>),
    /// Something held elsewhere, given back by its own `Drop` (a remote decider's
    /// tokens; those and a local slot together).
    Held(#[allow(dead_code)] Box<Box<dyn Any + Send + Sync>>),
}

impl Permit {
    /// Wraps a slot already taken from `limiter`.
    pub(crate) fn taken(limiter: Arc<ConcurrencyLimiter>) -> Self {
        Permit::Shared(limiter)
    }

    /// Wraps a value that gives something back when dropped.
    pub(crate) fn held(value: impl Any + Send + Sync) -> Self {
        Permit::Held(Box::new(Box::new(value)))
    }

    /// Both permits, given back together.
    pub(crate) fn and(self, other: Permit) -> Self {
        Permit::held((self, other))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match self {
            Permit::Kept(limiter) => limiter.release(),
            Permit::Shared(limiter) => limiter.release(),
            Permit::Held(_) => {}
        }
    }
}
