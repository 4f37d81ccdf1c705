//! The rule model both built-in sources decide with: features, strategies,
//! constraints, variants and dependencies as Unleash defines them, compiled once per
//! load into a [`Snapshot`] that gates read without locks.
//!
//! The file source ([`crate::engine`]) and Unleash ([`crate::unleash`]) each turn their
//! own format into this model and keep it in a [`RuleStore`]; they never import each
//! other. Inside: the types ([`model`]), the context a call is read as ([`context`]),
//! the operators ([`operators`]) and the value sets of `IN` ([`value_set`]), Unleash's bucketing hash ([`hash`]), the index by
//! name ([`index`]), evaluation ([`eval`]) and its step-by-step account (`explain`), usage counts ([`tally`]) and the store.

mod context;
mod eval;
mod explain;
mod hash;
mod index;
mod inspect;
mod model;
mod operators;
mod store;
mod tally;
mod value_set;

pub(crate) use context::{ContextDefaults, Field};
pub(crate) use index::Features;
pub(crate) use model::{Feature, Stickiness, Strategy, StrategyKind, VariantDef};
pub(crate) use operators::{Constraint, Operator};
// What only Unleash's feature states have: dependencies, address strategies.
pub(crate) use store::RuleStore;
#[cfg(feature = "unleash")]
pub(crate) use {model::Dependency, operators::Network};

/// A compiled set of flags, swapped in whole on every load.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) features: Features,
}

crate::published::per_thread_cache!(Snapshot);
