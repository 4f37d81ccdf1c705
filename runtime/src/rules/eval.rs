//! Evaluating a snapshot: is a flag on for a call, and which variant does it get, as
//! Unleash defines both (strategies, constraints, rollout buckets, dependencies, variant
//! weights, overrides and stickiness).
//!
//! Only compares and hashes: no lock, no allocation (a variant handed out is one
//! reference count).

use std::net::IpAddr;

use super::context::{Context, Field};
use super::hash::GroupHash;
use super::model::{Dependency, Feature, Stickiness, Strategy, StrategyKind, VariantDef};
use super::Snapshot;
use crate::memo::{FlagSlot, StateStamp};
use crate::variant::Variant;

/// Which strategy turned a feature on, when one did.
pub(super) enum Resolution<'a> {
    Off,
    On(Option<&'a Strategy>),
}

impl Snapshot {
    /// `None` when the snapshot has no rules for `flag`.
    #[inline]
    pub(crate) fn is_enabled(&self, flag: &str, context: &Context<'_>) -> Option<bool> {
        self.is_feature_enabled(self.features.get(flag)?, context)
    }

    /// As [`is_enabled`](Self::is_enabled), looking where `slot` says first.
    ///
    /// A flag whose answer cannot depend on the call has its answer remembered in
    /// `slot` for this snapshot's `stamp`, with where its evaluations are counted.
    #[inline]
    pub(crate) fn is_enabled_at(
        &self,
        slot: &FlagSlot,
        stamp: StateStamp,
        flag: &str,
        context: &Context<'_>,
    ) -> Option<bool> {
        let feature = self.features.get_at(slot, flag)?;
        if let (Some(answer), true) = (feature.constant, feature.has_rules) {
            match &feature.tally {
                None => slot.remember(stamp, answer),
                // The call site counts the calls it answers in the same table.
                Some(tally) => {
                    if let Some(index) = tally.index {
                        slot.remember_counted(stamp, answer, index);
                    }
                }
            }
        }
        self.is_feature_enabled(feature, context)
    }

    #[inline]
    fn is_feature_enabled(&self, feature: &Feature, context: &Context<'_>) -> Option<bool> {
        if !feature.has_rules {
            return None;
        }
        let enabled = match feature.constant {
            Some(enabled) => enabled,
            None => matches!(self.resolve(feature, context), Resolution::On(_)),
        };
        if let Some(tally) = &feature.tally {
            tally.count(enabled);
        }
        Some(enabled)
    }

    /// `None` when the snapshot has no rules for `flag`.
    pub(crate) fn variant(&self, flag: &str, context: &Context<'_>) -> Option<Variant> {
        let feature = self.features.get(flag).filter(|f| f.has_rules)?;
        let variant = self.variant_of(feature, context);
        if let Some(tally) = &feature.tally {
            tally.count(variant.feature_enabled());
            tally.count_variant(variant.shared_name());
        }
        Some(variant)
    }

    fn variant_of(&self, feature: &Feature, context: &Context<'_>) -> Variant {
        match self.resolve(feature, context) {
            Resolution::Off => Variant::disabled(false),
            Resolution::On(strategy) => {
                let chosen = chosen_variant(feature, strategy, context).map(|(def, _)| def);
                chosen.map_or_else(
                    || Variant::disabled(true),
                    |def| Variant::new(def.handed_out.get(|| (*def.chosen).clone()), true, true),
                )
            }
        }
    }

    pub(super) fn resolve<'s>(
        &'s self,
        feature: &'s Feature,
        context: &Context<'_>,
    ) -> Resolution<'s> {
        if !feature.enabled || !self.dependencies_hold(feature, context) {
            return Resolution::Off;
        }
        if feature.strategies.is_empty() {
            return Resolution::On(None);
        }
        feature
            .strategies
            .iter()
            .find(|s| s.is_enabled(context))
            .map_or(Resolution::Off, |s| Resolution::On(Some(s)))
    }

    fn dependencies_hold(&self, feature: &Feature, context: &Context<'_>) -> bool {
        feature
            .dependencies
            .iter()
            .all(|dependency| self.dependency_holds(dependency, context))
    }

    pub(super) fn dependency_holds(&self, dependency: &Dependency, context: &Context<'_>) -> bool {
        // Unleash allows one level of dependencies: a parent with parents of its own is
        // never satisfied.
        let Some(parent) = self
            .features
            .get(&dependency.feature)
            .filter(|p| p.dependencies.is_empty())
        else {
            return false;
        };
        let parent_on = matches!(self.resolve(parent, context), Resolution::On(_));
        if !dependency.enabled {
            return !parent_on;
        }
        parent_on
            && (dependency.variants.is_empty() || {
                let variant = self.variant_of(parent, context);
                dependency.variants.iter().any(|v| **v == *variant.name())
            })
    }
}

impl Strategy {
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(super) fn is_enabled(&self, context: &Context<'_>) -> bool {
        self.constraints.iter().all(|c| c.matches(context)) && self.kind.is_enabled(context)
    }
}

impl StrategyKind {
    /// Always inlined, as `rollout_bucket` is.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(super) fn is_enabled(&self, context: &Context<'_>) -> bool {
        match self {
            StrategyKind::Default => true,
            StrategyKind::Constant(on) => *on,
            StrategyKind::Rollout {
                percentage,
                stickiness,
                group,
            } => {
                if *percentage == 0 {
                    return false;
                }
                rollout_bucket(stickiness, group, context)
                    .is_some_and(|(_, bucket)| bucket <= *percentage)
            }
            StrategyKind::UserIds(ids) => context
                .get(&Field::UserId)
                .is_some_and(|user| ids.iter().any(|id| **id == *user)),
            StrategyKind::RemoteAddresses(networks) => context
                .get(&Field::RemoteAddress)
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| networks.iter().any(|n| n.contains(&ip))),
        }
    }
}

/// The bucket (1 to 100) a call falls in for a rollout, with the value hashed (`None`:
/// a random bucket); `None` when the call has no value of the field the rollout sticks
/// to, and so is not in it.
///
/// Always inlined: `explain.rs` calls it too, and with two callers the compiler made
/// it a call of its own on the gate's path (measured: +4.6% instructions on
/// `labels-4`).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(super) fn rollout_bucket<'c>(
    stickiness: &Stickiness,
    group: &GroupHash,
    context: &Context<'c>,
) -> Option<(Option<&'c str>, u32)> {
    match stickiness {
        Stickiness::Random => Some((None, random_bucket(100))),
        Stickiness::Default => Some(
            match context
                .get(&Field::UserId)
                .or_else(|| context.get(&Field::SessionId))
            {
                Some(value) => (Some(value), group.bucket(value, 100)),
                None => (None, random_bucket(100)),
            },
        ),
        Stickiness::Field(field) => context
            .get(field)
            .map(|value| (Some(value), group.bucket(value, 100))),
    }
}

/// How a variant was chosen.
pub(super) enum Choice {
    /// An override on a label.
    Override,
    /// By the bucket (1 to the weights' total) of a value.
    Bucket(u32),
    /// At random: no value to hash.
    Random,
}

/// The variant a call of `feature` gets when `strategy` turned it on: the strategy's
/// variants when it has some, else the feature's.
pub(super) fn chosen_variant<'f>(
    feature: &'f Feature,
    strategy: Option<&'f Strategy>,
    context: &Context<'_>,
) -> Option<(&'f VariantDef, Choice)> {
    match strategy.filter(|s| !s.variants.is_empty()) {
        Some(strategy) => choose_variant(
            &strategy.variants,
            strategy.variant_total,
            &strategy.variant_group,
            context,
        ),
        None => choose_variant(
            &feature.variants,
            feature.variant_total,
            &feature.variant_group,
            context,
        ),
    }
}

fn random_bucket(normalizer: u32) -> u32 {
    fastrand::u32(1..=normalizer)
}

/// The variant of `variants` (whose weights add up to `total`, 0 when they cannot be
/// chosen) a call gets, and how.
fn choose_variant<'v>(
    variants: &'v [VariantDef],
    total: u32,
    group: &GroupHash,
    context: &Context<'_>,
) -> Option<(&'v VariantDef, Choice)> {
    if total == 0 {
        return None;
    }
    if let Some(overridden) = variants.iter().find(|v| {
        v.overrides.iter().any(|o| {
            context
                .get(&o.field)
                .is_some_and(|value| o.values.iter().any(|x| **x == *value))
        })
    }) {
        return Some((overridden, Choice::Override));
    }
    let stickiness = &variants[0].stickiness;
    let value = match stickiness {
        Stickiness::Default => context
            .get(&Field::UserId)
            .or_else(|| context.get(&Field::SessionId))
            .or_else(|| context.get(&Field::RemoteAddress)),
        Stickiness::Random => None,
        Stickiness::Field(field) => context.get(field),
    };
    let (target, choice) = match value {
        Some(value) => {
            let bucket = group.bucket(value, total);
            (bucket, Choice::Bucket(bucket))
        }
        None => (random_bucket(total), Choice::Random),
    };
    let mut counter = 0_u32;
    let chosen = variants.iter().find(|v| {
        if v.weight == 0 {
            return false;
        }
        // Cannot overflow: the weights add up to `total`, a `u32`.
        counter += v.weight;
        counter >= target
    })?;
    Some((chosen, choice))
}
