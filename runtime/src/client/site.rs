//! A gated function's call site: its flag and fallback, fixed at compile time, and what
//! it remembers between calls (where its flag is, its answer, its limits, its
//! counters), so that a gated call needs no lookup by name.
//!
//! **Counters of up to [`KEPT_CLIENTS`] clients kept per call site.** A flow counts on
//! its flag's counters; finding them by name takes a map read and a reference count
//! that every thread touches (two threads on a gate then run ~30 times slower than
//! one). So a call site keeps a `&'static` to the counters of the first
//! [`KEPT_CLIENTS`] clients it serves (a test suite's clients, a service that swapped
//! its client). **Cost**: those counters live until the process ends (about 2 KiB
//! per flag and client kept); a call site serving more clients than that counts
//! through the map.

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
    /// The gate's fallback; `None`: the client's for the flag (a layer's default).
    pub(crate) fallback: Option<Fallback>,
    /// Whether `fallback` was declared (in the attribute, in `flowgate.toml`, on a
    /// layer) rather than the default: a per-flow source asks for ramp mode only for a
    /// declared `reject`.
    pub(crate) declared: bool,
    pub(crate) slot: FlagSlot,
    pub(crate) limits: LimitSlot,
    kept: [OnceLock<(u64, &'static FlagStats)>; KEPT_CLIENTS],
}

/// How many clients' counters a call site keeps (see the module's comment).
pub(crate) const KEPT_CLIENTS: usize = 4;

impl CallSite {
    /// A call site with the default fallback, `fallback`.
    #[doc(hidden)]
    pub const fn new(flag: &'static str, fallback: Fallback) -> Self {
        let mut site = Self::with_fallback(flag, Some(fallback));
        site.declared = false;
        site
    }

    /// A call site whose fallback was declared.
    #[doc(hidden)]
    pub const fn declared(flag: &'static str, fallback: Fallback) -> Self {
        Self::with_fallback(flag, Some(fallback))
    }

    /// A call site whose fallback is `fallback` (declared), or the client's for the
    /// flag.
    pub(crate) const fn with_fallback(flag: &'static str, fallback: Option<Fallback>) -> Self {
        Self {
            flag,
            fallback,
            declared: fallback.is_some(),
            slot: FlagSlot::new(),
            limits: LimitSlot::new(),
            kept: [const { OnceLock::new() }; KEPT_CLIENTS],
        }
    }

    /// The counters of this call site's flag on `client`.
    #[inline]
    pub(crate) fn stats(&self, client: &Client) -> StatsRef {
        if let Some((id, stats)) = self.kept[0].get() {
            if *id == client.inner.id {
                return StatsRef::Static(stats);
            }
        }
        self.stats_by_name(client)
    }

    #[cold]
    fn stats_by_name(&self, client: &Client) -> StatsRef {
        let id = client.inner.id;
        for slot in &self.kept {
            match slot.get() {
                Some((kept_id, stats)) if *kept_id == id => return StatsRef::Static(stats),
                Some(_) => {}
                None => {
                    let stats = client.inner.registry.flag(self.flag);
                    // One reference per call site and client, kept for the life of the
                    // process, so that its flows touch no reference count.
                    let kept: &'static FlagStats = Box::leak(Box::new(Arc::clone(&stats)));
                    if slot.set((id, kept)).is_ok() {
                        return StatsRef::Static(kept);
                    }
                    // Another thread kept a client here first: it may be this one.
                    if let Some((kept_id, stats)) = slot.get() {
                        if *kept_id == id {
                            return StatsRef::Static(stats);
                        }
                    }
                }
            }
        }
        StatsRef::Shared(client.inner.registry.flag(self.flag))
    }
}
