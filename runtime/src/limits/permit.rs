//! A concurrency slot held by a flow, given back when the flow ends (dropped), however
//! it ends.

use std::sync::Arc;

use super::concurrency::ConcurrencyLimiter;

/// A concurrency slot, given back when dropped.
#[derive(Debug)]
pub(crate) enum Permit {
    /// A slot of a limiter a call site keeps alive (see
    /// [`LimitSlot`](super::slot::LimitSlot)): no reference count to touch.
    Kept(&'static ConcurrencyLimiter),
    Shared(Arc<ConcurrencyLimiter>),
}

impl Permit {
    /// Wraps a slot already taken from `limiter`.
    pub(crate) fn taken(limiter: Arc<ConcurrencyLimiter>) -> Self {
        Permit::Shared(limiter)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match self {
            Permit::Kept(limiter) => limiter.release(),
            Permit::Shared(limiter) => limiter.release(),
        }
    }
}
