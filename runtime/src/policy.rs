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

use flowgate_config::ConfigError;

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
    /// Where global limits are kept, once a rules file has one.
    #[cfg(feature = "redis")]
    store: std::sync::Mutex<Option<std::sync::Arc<crate::limits::global::Store>>>,
}

impl Policy {
    /// Applies a new version of the rules file: fallbacks are replaced, limits updated
    /// in place (flows in flight keep their slots).
    ///
    /// # Errors
    /// A global limit with no store to keep it in (or without the `redis` feature):
    /// nothing is applied, the policy in force stays.
    pub(crate) fn apply(
        &self,
        document: &flowgate_config::Document,
        origin: &str,
    ) -> Result<(), ConfigError> {
        let store = self.store_for(document, origin)?;
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
        #[cfg(feature = "redis")]
        self.limits.apply(&limits, store.as_ref());
        #[cfg(not(feature = "redis"))]
        {
            let _: Option<()> = store;
            self.limits.apply(&limits, None);
        }
        self.specs
            .store(std::sync::Arc::new(limits.into_iter().collect()));
        Ok(())
    }

    /// The store for `document`'s global limits: the one in use when it is the same,
    /// else a new one; `None` when no limit is global.
    #[cfg(feature = "redis")]
    fn store_for(
        &self,
        document: &flowgate_config::Document,
        origin: &str,
    ) -> Result<Option<std::sync::Arc<crate::limits::global::Store>>, ConfigError> {
        let Some(flag) = first_global(document) else {
            return Ok(None);
        };
        let config = document.store.clone().unwrap_or_default();
        let mut current = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = current.as_ref().filter(|store| store.is_for(&config)) {
            return Ok(Some(std::sync::Arc::clone(store)));
        }
        let store = crate::limits::global::Store::open(&config, origin, flag)?;
        *current = Some(std::sync::Arc::clone(&store));
        Ok(Some(store))
    }

    /// Without the `redis` feature, a global limit is an error that says so.
    #[cfg(not(feature = "redis"))]
    #[allow(clippy::unused_self)]
    fn store_for(
        &self,
        document: &flowgate_config::Document,
        origin: &str,
    ) -> Result<Option<()>, ConfigError> {
        match first_global(document) {
            None => Ok(None),
            Some(flag) => Err(ConfigError::new(
                origin,
                "a limit with `scope = \"global\"` is kept in Redis: enable flowgate's \
                 `redis` feature, or make it `scope = \"local\"`",
            )
            .at(flag.line, 1)
            .in_flag(flag.name.as_str())
            .at_key("scope")),
        }
    }

    /// The store's counts, when global limits use one.
    #[cfg(feature = "redis")]
    pub(crate) fn store_stats(&self) -> Option<crate::limits::global::StoreStats> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|store| store.health.stats())
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

/// The first flag with a global limit.
fn first_global(document: &flowgate_config::Document) -> Option<&flowgate_config::Flag> {
    use flowgate_config::Scope::Global;
    document.flags.iter().find(|flag| {
        flag.limits
            .rate
            .as_ref()
            .is_some_and(|rate| rate.scope == Global)
            || flag
                .limits
                .concurrency
                .as_ref()
                .is_some_and(|concurrency| concurrency.scope == Global)
    })
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
