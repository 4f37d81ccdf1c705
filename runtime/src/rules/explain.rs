//! A decision told step by step ([`crate::explain`]): the strategies, constraints,
//! rollout buckets and variant a flag's evaluation goes through for one call.
//!
//! It calls what evaluation calls (`Constraint::matches`, `rollout_bucket`,
//! `dependency_holds`, `chosen_variant`, each strategy kind's own check) in the order
//! `eval.rs` does, stopping where it stops, so the answer it reaches is the gate's; it
//! only writes down what it saw. Off the hot path: it allocates, and it counts no usage.

use super::context::Context;
use super::eval::{chosen_variant, rollout_bucket, Choice, Resolution};
use super::model::{Feature, Stickiness, StrategyKind};
use super::Snapshot;
use crate::explain::{Explanation, Step};

impl Snapshot {
    /// `None` when the snapshot has no rules for `flag`.
    pub(crate) fn explain(&self, flag: &str, context: &Context<'_>) -> Option<Explanation> {
        let feature = self.features.get(flag).filter(|f| f.has_rules)?;
        let mut steps = Vec::new();
        let turned_on = match self.explain_resolve(feature, context, &mut steps) {
            Resolution::Off => None,
            Resolution::On(strategy) => Some(strategy),
        };
        let variant = turned_on.and_then(|strategy| {
            let (def, choice) = chosen_variant(feature, strategy, context)?;
            let name = def.chosen.name.to_string();
            steps.push(Step::Variant {
                name: name.clone(),
                overridden: matches!(choice, Choice::Override),
                bucket: match choice {
                    Choice::Bucket(bucket) => Some(bucket),
                    Choice::Override | Choice::Random => None,
                },
                total: match strategy.filter(|s| !s.variants.is_empty()) {
                    Some(strategy) => strategy.variant_total,
                    None => feature.variant_total,
                },
            });
            Some(name)
        });
        Some(Explanation {
            flag: feature.name.to_string(),
            enabled: turned_on.is_some(),
            variant,
            steps,
        })
    }

    /// `resolve`, told.
    fn explain_resolve<'s>(
        &'s self,
        feature: &'s Feature,
        context: &Context<'_>,
        steps: &mut Vec<Step>,
    ) -> Resolution<'s> {
        if !feature.enabled {
            steps.push(Step::Disabled);
            return Resolution::Off;
        }
        for dependency in &feature.dependencies {
            let held = self.dependency_holds(dependency, context);
            steps.push(Step::Dependency {
                parent: dependency.feature.to_string(),
                parent_enabled: dependency.enabled,
                variants: dependency
                    .variants
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                held,
            });
            if !held {
                return Resolution::Off;
            }
        }
        if feature.strategies.is_empty() {
            steps.push(Step::NoStrategies);
            return Resolution::On(None);
        }
        for (index, strategy) in feature.strategies.iter().enumerate() {
            let at = steps.len();
            steps.push(Step::Strategy {
                number: index + 1,
                kind: describe(&strategy.kind),
                matched: false,
            });
            let mut constraints_hold = true;
            for constraint in &strategy.constraints {
                let matched = constraint.matches(context);
                let operator = constraint.operator.describe();
                steps.push(Step::Constraint {
                    label: constraint.field.name().to_owned(),
                    operator: if constraint.inverted {
                        format!("NOT {operator}")
                    } else {
                        operator
                    },
                    value: context.get(&constraint.field).map(str::to_owned),
                    matched,
                });
                if !matched {
                    constraints_hold = false;
                    break;
                }
            }
            let matched = constraints_hold && explain_kind(&strategy.kind, context, steps);
            if let Step::Strategy { matched: slot, .. } = &mut steps[at] {
                *slot = matched;
            }
            if matched {
                return Resolution::On(Some(strategy));
            }
        }
        Resolution::Off
    }
}

/// A strategy kind's own check, with a rollout's bucket written down.
fn explain_kind(kind: &StrategyKind, context: &Context<'_>, steps: &mut Vec<Step>) -> bool {
    let StrategyKind::Rollout {
        percentage,
        stickiness,
        group,
    } = kind
    else {
        return kind.is_enabled(context);
    };
    let bucket = rollout_bucket(stickiness, group, context);
    steps.push(Step::Rollout {
        stickiness: stickiness_name(stickiness).to_owned(),
        value: bucket.and_then(|(value, _)| value.map(str::to_owned)),
        bucket: bucket.map(|(_, bucket)| bucket),
        percentage: *percentage,
    });
    *percentage != 0 && bucket.is_some_and(|(_, bucket)| bucket <= *percentage)
}

fn stickiness_name(stickiness: &Stickiness) -> &str {
    match stickiness {
        Stickiness::Default => "default",
        Stickiness::Random => "random",
        Stickiness::Field(field) => field.name(),
    }
}

pub(super) fn describe(kind: &StrategyKind) -> String {
    match kind {
        StrategyKind::Default => "default".to_owned(),
        StrategyKind::Rollout {
            percentage,
            stickiness,
            ..
        } => format!("rollout {percentage}% by {}", stickiness_name(stickiness)),
        StrategyKind::UserIds(ids) => format!("user ids ({})", ids.len()),
        StrategyKind::RemoteAddresses(networks) => format!("remote addresses ({})", networks.len()),
        StrategyKind::Constant(on) => {
            format!("decided at load: {}", if *on { "on" } else { "off" })
        }
    }
}
