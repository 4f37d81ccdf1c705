//! The compiled rule model: features, strategies, variants and dependencies, as both
//! sources build them (the rules file and Unleash's feature states), with the pieces
//! both build the same way.
//!
//! Everything that can be worked out once is worked out when a feature is built:
//! regexes, versions, dates and networks are parsed, values lower-cased, the hash state
//! of each rollout's and variant group's prefix computed, and the answer of a feature
//! that cannot depend on the call found ([`Feature::seal`]).

use std::sync::Arc;

use super::context::Field;
use super::hash::{GroupHash, VARIANT_SEED};
use super::operators::{Constraint, Network};
use super::tally::Tally;
use crate::shards::PerShard;
use crate::variant::{Variant, VariantData, VariantPayload};

#[derive(Debug)]
pub(crate) struct Feature {
    pub(crate) name: Arc<str>,
    pub(crate) enabled: bool,
    /// Empty: on for everyone while `enabled`.
    pub(crate) strategies: Vec<Strategy>,
    pub(crate) variants: Vec<VariantDef>,
    /// The variants' weights added up (0: none to choose); set by [`Feature::seal`].
    pub(crate) variant_total: u32,
    /// The group the feature's variants hash in (its name).
    pub(crate) variant_group: GroupHash,
    pub(crate) dependencies: Vec<Dependency>,
    /// `false` for a flag that is only declared: the source has no decision for it.
    pub(crate) has_rules: bool,
    /// Where its evaluations are counted, for sources that report usage (Unleash).
    pub(crate) tally: Option<Arc<Tally>>,
    /// The answer, when it does not depend on the call: set by [`Feature::seal`].
    pub(crate) constant: Option<bool>,
}

impl Feature {
    /// A feature called `name` with nothing decided yet: on, no strategies, no variants.
    pub(crate) fn new(name: &str) -> Self {
        let name: Arc<str> = Arc::from(name);
        Feature {
            variant_group: GroupHash::new(&name, VARIANT_SEED),
            name,
            enabled: true,
            strategies: Vec::new(),
            variants: Vec::new(),
            variant_total: 0,
            dependencies: Vec::new(),
            has_rules: true,
            tally: None,
            constant: None,
        }
    }

    /// Works out what can be known before any call; done when the feature joins a
    /// snapshot.
    pub(crate) fn seal(&mut self) {
        self.constant = self.constant_answer();
        self.variant_total = total_weight(&self.variants);
        for strategy in &mut self.strategies {
            strategy.variant_total = total_weight(&strategy.variants);
        }
    }

    fn constant_answer(&self) -> Option<bool> {
        if !self.enabled {
            return Some(false);
        }
        if !self.dependencies.is_empty() {
            return None;
        }
        let unconditional = |strategy: &Strategy| {
            strategy.constraints.is_empty()
                && match &strategy.kind {
                    StrategyKind::Default | StrategyKind::Constant(true) => true,
                    // A call without the field is never in a rollout on that field.
                    StrategyKind::Rollout {
                        percentage,
                        stickiness,
                        ..
                    } => *percentage >= 100 && !matches!(stickiness, Stickiness::Field(_)),
                    _ => false,
                }
        };
        (self.strategies.is_empty() || self.strategies.iter().any(unconditional)).then_some(true)
    }

    /// The names of every variant the feature can hand out, `disabled` first.
    pub(crate) fn variant_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = vec![disabled_name()];
        let all = self
            .variants
            .iter()
            .chain(self.strategies.iter().flat_map(|s| s.variants.iter()));
        for variant in all {
            if !names.contains(&variant.chosen.name) {
                names.push(Arc::clone(&variant.chosen.name));
            }
        }
        names
    }
}

#[derive(Debug)]
pub(crate) struct Dependency {
    pub(crate) feature: Box<str>,
    pub(crate) enabled: bool,
    pub(crate) variants: Vec<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct Strategy {
    pub(crate) kind: StrategyKind,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) variants: Vec<VariantDef>,
    /// The variants' weights added up (0: none to choose).
    pub(crate) variant_total: u32,
    /// The group the strategy's variants hash in.
    pub(crate) variant_group: GroupHash,
}

/// The weights of `variants` added up, once per snapshot; 0 (no variant is chosen) when
/// they overflow 32 bits together, as only a broken or hostile state makes them.
fn total_weight(variants: &[VariantDef]) -> u32 {
    variants
        .iter()
        .try_fold(0_u32, |total, variant| total.checked_add(variant.weight))
        .unwrap_or(0)
}

impl Strategy {
    /// A strategy whose variants hash in `group` (the feature's name, or the strategy's
    /// `groupId`).
    pub(crate) fn new(
        kind: StrategyKind,
        constraints: Vec<Constraint>,
        variants: Vec<VariantDef>,
        group: &str,
    ) -> Self {
        Strategy {
            kind,
            constraints,
            variant_total: total_weight(&variants),
            variants,
            variant_group: GroupHash::new(group, VARIANT_SEED),
        }
    }
}

#[derive(Debug)]
#[cfg_attr(not(feature = "unleash"), allow(dead_code))] // the last three: Unleash only
pub(crate) enum StrategyKind {
    /// On for everyone (who passes the constraints).
    Default,
    /// On for `percentage` of the values of `stickiness`, bucketed in `group`.
    Rollout {
        percentage: u32,
        stickiness: Stickiness,
        group: GroupHash,
    },
    /// On for these user ids.
    UserIds(Vec<Box<str>>),
    /// On for calls from these addresses or networks.
    RemoteAddresses(Vec<Network>),
    /// Decided when the snapshot was built (e.g. this host's name).
    Constant(bool),
}

impl StrategyKind {
    /// A rollout of `percentage` on `stickiness`, bucketed in `group`.
    pub(crate) fn rollout(percentage: u32, stickiness: Stickiness, group: &str) -> Self {
        StrategyKind::Rollout {
            percentage,
            stickiness,
            group: GroupHash::new(group, 0),
        }
    }
}

/// What a rollout or a variant choice is sticky on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stickiness {
    /// `userId`, else `sessionId` (else `remoteAddress` for variants), else random.
    Default,
    Random,
    /// A context field; a call without it is not in the rollout.
    Field(Field),
}

impl Stickiness {
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "" | "default" => Stickiness::Default,
            "random" => Stickiness::Random,
            field => Stickiness::Field(Field::parse(field)),
        }
    }
}

#[derive(Debug)]
pub(crate) struct VariantDef {
    /// The name and payload every call that gets this variant shares.
    pub(crate) chosen: Arc<VariantData>,
    /// `chosen` again, one `Arc` per thread shard: what calls are handed.
    pub(crate) handed_out: PerShard<VariantData>,
    pub(crate) weight: u32,
    pub(crate) stickiness: Stickiness,
    pub(crate) overrides: Vec<VariantOverride>,
}

impl VariantDef {
    /// A variant as both sources describe one: overrides as (label, values).
    pub(crate) fn new(
        name: &str,
        weight: u32,
        payload: Option<(&str, &str)>,
        stickiness: Stickiness,
        overrides: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Self {
        VariantDef {
            chosen: Arc::new(VariantData {
                name: Arc::from(name),
                payload: payload.map(|(kind, value)| VariantPayload {
                    kind: Arc::from(kind),
                    value: Arc::from(value),
                }),
            }),
            handed_out: PerShard::default(),
            weight,
            stickiness,
            overrides: overrides
                .into_iter()
                .map(|(label, values)| VariantOverride {
                    field: Field::parse(&label),
                    values: values.into_iter().map(String::into_boxed_str).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct VariantOverride {
    pub(crate) field: Field,
    pub(crate) values: Vec<Box<str>>,
}

/// The name every disabled call gets.
pub(crate) fn disabled_name() -> Arc<str> {
    Arc::clone(Variant::disabled(false).shared_name())
}
