//! The source a client decides with, kept so that the built-in sources take their fast
//! path without widening the public [`DecisionSource`] trait.
//!
//! **Trick.** [`Client::new`](super::Client::new) takes any source, and recognises the
//! built-in ones (by type, through `Any`) to keep a direct handle on their rules beside
//! the boxed source. **Benefit.** A gate on a built-in source evaluates its rules
//! directly (inlined, no virtual call) and passes its call site's [`FlagSlot`], so a flag
//! whose answer cannot depend on the call is answered from the call site. **Cost.** One
//! branch per gated call; a source of another type is asked through
//! [`DecisionSource::evaluate`] only. Calls by name go through the box, as they would for
//! any source.
//!
//! Every decision passes here, so this is also where a test's flag overrides win over
//! the source (`testing` feature only; see `overrides.rs`).

use std::any::Any;
use std::sync::Arc;

use crate::engine::Engine;
use crate::labels::Labels;
use crate::memo::FlagSlot;
use crate::policy::Policy;
use crate::rules::RuleStore;
use crate::source::{DecisionSource, Evaluation, Readiness};
#[cfg(feature = "unleash")]
use crate::unleash::{Unleash, UnleashHandle};
use crate::variant::Variant;

/// See the module documentation.
pub(crate) struct Source {
    boxed: Box<dyn DecisionSource>,
    /// The rules of a built-in source, for gates.
    rules: Option<Arc<RuleStore>>,
    /// The policy of the source's own rules file (an engine's).
    policy: Option<Arc<Policy>>,
    /// Stops an Unleash source's background work.
    #[cfg(feature = "unleash")]
    unleash: Option<UnleashHandle>,
}

/// `source` as a `T`, if it is one.
fn downcast<T: 'static, S: 'static>(source: S) -> Result<T, S> {
    let mut source = Some(source);
    match (&mut source as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(found) => Ok(found.take().expect("taken once")),
        None => Err(source.expect("not taken")),
    }
}

impl Source {
    pub(crate) fn new(source: impl DecisionSource) -> Self {
        let source = match downcast::<Engine, _>(source) {
            Ok(engine) => {
                return Self {
                    rules: Some(engine.store()),
                    policy: Some(engine.policy()),
                    #[cfg(feature = "unleash")]
                    unleash: None,
                    boxed: Box::new(engine),
                }
            }
            Err(source) => source,
        };
        #[cfg(feature = "unleash")]
        let source = match downcast::<Unleash, _>(source) {
            Ok(unleash) => {
                return Self {
                    rules: Some(unleash.store()),
                    policy: None,
                    unleash: Some(unleash.handle()),
                    boxed: Box::new(unleash),
                }
            }
            Err(source) => source,
        };
        let boxed = match downcast::<Box<dyn DecisionSource>, _>(source) {
            Ok(boxed) => boxed,
            Err(source) => Box::new(source),
        };
        Self {
            boxed,
            rules: None,
            policy: None,
            #[cfg(feature = "unleash")]
            unleash: None,
        }
    }

    /// Evaluates at a gated call site; see the module documentation.
    #[inline]
    pub(crate) fn evaluate_at(
        &self,
        flag: &str,
        slot: &FlagSlot,
        labels: &Labels<'_>,
    ) -> Evaluation {
        #[cfg(feature = "testing")]
        if let Some(on) = crate::overrides::overridden(flag) {
            return Evaluation::from(on);
        }
        match &self.rules {
            Some(rules) => rules.evaluate_at(flag, slot, labels),
            None => self.boxed.evaluate(flag, labels),
        }
    }

    /// The rules of a built-in source.
    pub(crate) fn rules(&self) -> Option<&Arc<RuleStore>> {
        self.rules.as_ref()
    }

    /// The source, for everything else.
    #[inline]
    pub(crate) fn get(&self) -> &dyn DecisionSource {
        &*self.boxed
    }

    #[inline]
    pub(crate) fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        #[cfg(feature = "testing")]
        if let Some(on) = crate::overrides::overridden(flag) {
            return Evaluation::from(on);
        }
        self.boxed.evaluate(flag, labels)
    }

    /// An overridden flag has no variant of the source's: the client answers a
    /// `disabled` variant with the override's `enabled`.
    pub(crate) fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        #[cfg(feature = "testing")]
        if crate::overrides::overridden(flag).is_some() {
            return None;
        }
        self.boxed.variant(flag, labels)
    }

    pub(crate) fn readiness(&self) -> Option<&Readiness> {
        self.boxed.readiness()
    }

    /// The policy that comes with the source (an engine's file), if any.
    pub(crate) fn policy(&self) -> Option<Arc<Policy>> {
        self.policy.clone()
    }

    /// Stops the source's background work, flushing what must be flushed.
    #[cfg_attr(not(feature = "unleash"), allow(clippy::unused_self))]
    pub(crate) fn shutdown(&self) {
        #[cfg(feature = "unleash")]
        if let Some(unleash) = &self.unleash {
            unleash.shutdown();
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.boxed.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::EmptySource;

    #[test]
    fn built_in_sources_keep_their_rules_and_boxes_are_not_boxed_twice() {
        let engine = Engine::from_toml_str("[flags.A]\nenabled = true\n").unwrap();
        let source = Source::new(engine);
        assert!(source.rules.is_some() && source.policy.is_some());
        assert!(Source::new(EmptySource).rules.is_none());
        let boxed: Box<dyn DecisionSource> = Box::new(EmptySource);
        let again = Source::new(boxed);
        assert_eq!(
            again.get().name(),
            "flowgate.empty",
            "the box itself, not a box of it"
        );
    }
}
