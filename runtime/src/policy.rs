//! What a rules file says about a flag's flows beyond its rules: the fallback a gate
//! takes when no decision can be made in time, and the rate and concurrency limits.
//!
//! A client owns its policy and applies it over whichever source decides the flags
//! (the rules file's own engine, Unleash, any source); sources never see it. Whoever
//! reads a rules file (the engine, or a client watching a file for an Unleash source)
//! hands each version to [`Policy::apply`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

use crate::limits::{LimitSpec, Limits};
use crate::reject::Fallback;

/// Fallbacks and limits per flag; see the module documentation.
#[derive(Default)]
pub(crate) struct Policy {
    /// Read only when a source cannot decide and the call site does not say (calls by
    /// name): off the gate's path.
    fallbacks: ArcSwap<FxHashMap<Box<str>, Fallback>>,
    limits: Limits,
    /// The limits as configured, for inspection (off the gate's path).
    specs: ArcSwap<BTreeMap<Box<str>, LimitSpec>>,
}

impl Policy {
    /// Applies a new version of the rules file: fallbacks are replaced, limits updated
    /// in place (flows in flight keep their slots).
    pub(crate) fn apply(&self, document: &flowgate_config::Document) {
        let fallbacks = document
            .flags
            .iter()
            .filter_map(|flag| Some((flag.name.as_str().into(), Fallback::from(flag.fallback?))))
            .collect();
        self.fallbacks.store(std::sync::Arc::new(fallbacks));
        let limits: HashMap<Box<str>, LimitSpec> = document
            .flags
            .iter()
            .filter(|flag| !flag.limits.is_empty())
            .map(|flag| {
                (
                    flag.name.as_str().into(),
                    LimitSpec::from_config(&flag.limits),
                )
            })
            .collect();
        self.limits.apply(&limits);
        self.specs
            .store(std::sync::Arc::new(limits.into_iter().collect()));
    }

    /// The flags with limits, and their limits as configured.
    pub(crate) fn limit_specs(&self) -> std::sync::Arc<BTreeMap<Box<str>, LimitSpec>> {
        self.specs.load_full()
    }

    /// The flags with a fallback in the rules file.
    pub(crate) fn fallbacks(&self) -> std::sync::Arc<FxHashMap<Box<str>, Fallback>> {
        self.fallbacks.load_full()
    }

    /// The fallback declared for `flag`, if any.
    pub(crate) fn fallback(&self, flag: &str) -> Option<Fallback> {
        self.fallbacks.load().get(flag).copied()
    }

    #[inline]
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl From<flowgate_config::Fallback> for Fallback {
    fn from(fallback: flowgate_config::Fallback) -> Self {
        match fallback {
            flowgate_config::Fallback::Accept => Fallback::Accept,
            flowgate_config::Fallback::Reject => Fallback::Reject,
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("fallbacks", &self.fallbacks.load().len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
