//! A gated function's call site: its flag and fallback, fixed at compile time, and what
//! it remembers between calls (where its flag is, its answer, its limits, its
//! counters), so that a gated call needs no lookup by name.

use std::sync::{Arc, OnceLock};

use super::Client;
use crate::limits::LimitSlot;
use crate::memo::FlagSlot;
use crate::metrics::{FlagStats, StatsRef};
use crate::reject::Fallback;

/// The static description of one gated function, with its counters for the client it
/// first ran on.
#[derive(Debug)]
pub struct CallSite {
    pub(crate) flag: &'static str,
    pub(crate) fallback: Fallback,
    pub(crate) slot: FlagSlot,
    pub(crate) limits: LimitSlot,
    cached: OnceLock<(u64, &'static FlagStats)>,
}

impl CallSite {
    #[doc(hidden)]
    pub const fn new(flag: &'static str, fallback: Fallback) -> Self {
        Self {
            flag,
            fallback,
            slot: FlagSlot::new(),
            limits: LimitSlot::new(),
            cached: OnceLock::new(),
        }
    }

    /// The counters of this call site's flag on `client`.
    #[inline]
    pub(crate) fn stats(&self, client: &Client) -> StatsRef {
        if let Some((id, stats)) = self.cached.get() {
            if *id == client.inner.id {
                return StatsRef::Static(stats);
            }
        }
        self.stats_by_name(client)
    }

    #[cold]
    fn stats_by_name(&self, client: &Client) -> StatsRef {
        let stats = client.inner.registry.flag(self.flag);
        if self.cached.get().is_none() {
            // One reference per gated function, kept for the life of the process, so
            // that its flows touch no reference count.
            let kept: &'static FlagStats = Box::leak(Box::new(Arc::clone(&stats)));
            if self.cached.set((client.inner.id, kept)).is_ok() {
                return StatsRef::Static(kept);
            }
        }
        StatsRef::Shared(stats)
    }
}
