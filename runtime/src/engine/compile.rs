//! A checked rules file ([`flowgate_config::Document`]) compiled into the rule model:
//! each flag one feature with one strategy (its rollout and constraints) and its
//! variants.

use flowgate_config::{ConfigError, Document, Flag};

use crate::rules::{
    Constraint, Feature, Features, Field, Operator, Snapshot, Stickiness, Strategy, StrategyKind,
    VariantDef,
};

/// Compiles `document`; `origin` names it in errors.
///
/// # Errors
/// Only for what this build cannot evaluate: a `REGEX` constraint without the `regex`
/// feature.
pub(crate) fn snapshot(document: &Document, origin: &str) -> Result<Snapshot, ConfigError> {
    let mut features = Features::with_capacity(document.flags.len());
    for flag in &document.flags {
        features.insert(feature(flag, origin)?);
    }
    Ok(Snapshot { features })
}

fn feature(flag: &Flag, origin: &str) -> Result<Feature, ConfigError> {
    let mut feature = Feature::new(&flag.name);
    let Some(rules) = &flag.rules else {
        // Declared only: the source has no decision for it, its fallback decides.
        feature.has_rules = false;
        return Ok(feature);
    };
    let stickiness = Stickiness::parse(&rules.stickiness);
    let constraints = rules
        .constraints
        .iter()
        .map(|constraint| {
            if !cfg!(feature = "regex") && constraint.operator == flowgate_config::Operator::Regex {
                return Err(ConfigError::new(
                    origin,
                    "REGEX constraints need flowgate's `regex` feature (on by default)",
                )
                .at(flag.line, 1)
                .in_flag(&flag.name)
                .at_key("operator"));
            }
            Ok(Constraint {
                field: Field::parse(&constraint.label),
                operator: Operator::compile(
                    constraint.operator,
                    &constraint.comparand,
                    constraint.case_insensitive,
                ),
                inverted: constraint.inverted,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kind = if rules.rollout == 100 && stickiness == Stickiness::Default {
        StrategyKind::Default
    } else {
        StrategyKind::rollout(rules.rollout, stickiness.clone(), &flag.name)
    };
    feature.strategies = vec![Strategy::new(kind, constraints, Vec::new(), &flag.name)];
    feature.variants = rules
        .variants
        .iter()
        .map(|variant| {
            VariantDef::new(
                &variant.name,
                variant.weight,
                variant
                    .payload
                    .as_ref()
                    .map(|p| (p.kind.as_str(), p.value.as_str())),
                variant
                    .stickiness
                    .as_deref()
                    .map_or_else(|| stickiness.clone(), Stickiness::parse),
                variant
                    .overrides
                    .iter()
                    .map(|o| (o.label.clone(), o.values.clone())),
            )
        })
        .collect();
    feature.enabled = rules.enabled;
    Ok(feature)
}

#[cfg(test)]
mod tests {
    /// A build without the regex engine refuses a rule it could not evaluate, rather than
    /// evaluating it to off.
    #[cfg(not(feature = "regex"))]
    #[test]
    fn regex_rules_need_the_regex_feature() {
        let document = flowgate_config::parse(
            "[flags.A]\nconstraints = [{ label = \"e\", operator = \"REGEX\", value = \"^a\" }]\n",
            "flowgate.toml",
        )
        .unwrap();
        let error = super::snapshot(&document, "flowgate.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "flowgate.toml:1:1: flag `A`, key `operator`: REGEX constraints need flowgate's \
             `regex` feature (on by default)"
        );
    }

    /// With it, a regex rule evaluates.
    #[cfg(feature = "regex")]
    #[test]
    fn regex_rules_evaluate_with_the_regex_feature() {
        let engine = crate::engine::Engine::from_toml_str(
            "[flags.A]\nconstraints = [{ label = \"e\", operator = \"REGEX\", value = \"^a\" }]\n",
        )
        .unwrap();
        let client = crate::Client::new(engine);
        assert!(client.is_enabled("A", &crate::labels! { "e" => "abc" }));
        assert!(!client.is_enabled("A", &crate::labels! { "e" => "cab" }));
    }
}
