//! A snapshot's flags described for [`crate::inspect`]: each strategy, constraint,
//! variant and dependency in the words [`crate::explain`] uses. Off the gate's path: it
//! allocates, once per inspection.

use super::explain::describe;
use super::model::{Dependency, Feature, Strategy, VariantDef};
use super::Snapshot;
use crate::inspect::{FlagRules, StrategyRules, VariantRules};

impl Snapshot {
    /// The flags with rules, described, sorted by name.
    pub(crate) fn describe(&self) -> Vec<FlagRules> {
        let mut features: Vec<&Feature> = self.features.iter().filter(|f| f.has_rules).collect();
        features.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        features.into_iter().map(describe_feature).collect()
    }
}

fn describe_feature(feature: &Feature) -> FlagRules {
    let mut rules = FlagRules::named(&*feature.name, feature.enabled);
    rules.strategies = feature.strategies.iter().map(describe_strategy).collect();
    rules.variants = describe_variants(&feature.variants);
    rules.dependencies = feature
        .dependencies
        .iter()
        .map(describe_dependency)
        .collect();
    rules.constant = feature.constant;
    rules
}

fn describe_strategy(strategy: &Strategy) -> StrategyRules {
    StrategyRules {
        kind: describe(&strategy.kind),
        constraints: strategy
            .constraints
            .iter()
            .map(|constraint| {
                let operator = constraint.operator.describe();
                let not = if constraint.inverted { "NOT " } else { "" };
                format!("{} {not}{operator}", constraint.field.name())
            })
            .collect(),
        variants: describe_variants(&strategy.variants),
    }
}

fn describe_variants(variants: &[VariantDef]) -> Vec<VariantRules> {
    variants
        .iter()
        .map(|variant| VariantRules {
            name: variant.chosen.name.to_string(),
            weight: variant.weight,
        })
        .collect()
}

fn describe_dependency(dependency: &Dependency) -> String {
    let parent = &dependency.feature;
    match (dependency.enabled, dependency.variants.as_slice()) {
        (false, _) => format!("{parent}=off"),
        (true, []) => parent.to_string(),
        (true, variants) => format!("{parent}:{}", variants.join("|")),
    }
}
