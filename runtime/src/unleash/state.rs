//! Unleash's feature state (`GET /client/features`, delta events, backups), compiled
//! into the shared rule model.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::decision::{VariantData, VariantPayload};
use crate::engine::model::{
    parse_number, parse_semver, parse_time, Constraint, Dependency, Feature, Field, GroupHash,
    Network, Operator, Snapshot, Stickiness, StrMatch, Strategy, StrategyKind, VariantDef,
    VariantOverride, VARIANT_SEED,
};
use crate::engine::ConfigError;

/// The body of `GET /client/features`, or a delta document (`events`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeatureState {
    #[serde(default)]
    pub(crate) features: Vec<RawFeature>,
    #[serde(default)]
    pub(crate) segments: Vec<RawSegment>,
    #[serde(default)]
    events: Vec<DeltaEvent>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawFeature {
    pub(crate) name: String,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    strategies: Vec<RawStrategy>,
    #[serde(default)]
    variants: Option<Vec<RawVariant>>,
    #[serde(default)]
    dependencies: Option<Vec<RawDependency>>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawStrategy {
    name: String,
    #[serde(default)]
    parameters: Option<RawParameters>,
    #[serde(default)]
    constraints: Option<Vec<RawConstraint>>,
    #[serde(default)]
    segments: Option<Vec<u64>>,
    #[serde(default)]
    variants: Option<Vec<RawVariant>>,
}

/// The strategy parameters the standard strategies read; others are skipped. (A struct
/// rather than a map: a large state has one per strategy, and maps cost.)
#[derive(Deserialize, Clone, Default)]
struct RawParameters {
    #[serde(default, rename = "groupId")]
    group_id: Option<Value>,
    #[serde(default)]
    rollout: Option<Value>,
    #[serde(default)]
    percentage: Option<Value>,
    #[serde(default)]
    stickiness: Option<Value>,
    #[serde(default, rename = "userIds")]
    user_ids: Option<Value>,
    #[serde(default, rename = "IPs")]
    ips: Option<Value>,
    #[serde(default, rename = "hostNames")]
    host_names: Option<Value>,
}

impl RawParameters {
    fn get(&self, key: &str) -> Option<&Value> {
        match key {
            "groupId" => self.group_id.as_ref(),
            "rollout" => self.rollout.as_ref(),
            "percentage" => self.percentage.as_ref(),
            "stickiness" => self.stickiness.as_ref(),
            "userIds" => self.user_ids.as_ref(),
            "IPs" => self.ips.as_ref(),
            "hostNames" => self.host_names.as_ref(),
            _ => None,
        }
    }
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawConstraint {
    context_name: String,
    operator: String,
    #[serde(default)]
    values: Option<Vec<Value>>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    inverted: bool,
    #[serde(default)]
    case_insensitive: bool,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawVariant {
    name: String,
    #[serde(default)]
    weight: Option<Value>,
    #[serde(default)]
    payload: Option<RawPayload>,
    #[serde(default)]
    stickiness: Option<String>,
    #[serde(default)]
    overrides: Option<Vec<RawOverride>>,
}

#[derive(Deserialize, Clone)]
struct RawPayload {
    #[serde(rename = "type")]
    kind: String,
    value: Value,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawOverride {
    context_name: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct RawDependency {
    feature: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    variants: Option<Vec<String>>,
}

#[derive(Deserialize, Clone)]
pub(crate) struct RawSegment {
    id: u64,
    #[serde(default)]
    constraints: Vec<RawConstraint>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum DeltaEvent {
    Hydration {
        #[serde(default)]
        features: Vec<RawFeature>,
        #[serde(default)]
        segments: Vec<RawSegment>,
    },
    FeatureUpdated {
        feature: RawFeature,
    },
    #[serde(rename_all = "camelCase")]
    FeatureRemoved {
        feature_name: String,
    },
    SegmentUpdated {
        segment: RawSegment,
    },
    SegmentRemoved {
        id: u64,
    },
}

impl FeatureState {
    /// Parses a features document; `origin` names it in errors.
    pub(crate) fn parse(json: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut state: FeatureState = serde_json::from_str(json).map_err(|error| {
            ConfigError::at(origin, error.line(), error.column(), error.to_string())
        })?;
        state.apply_events();
        Ok(state)
    }

    /// Folds delta events into plain features and segments, in order.
    fn apply_events(&mut self) {
        for event in std::mem::take(&mut self.events) {
            match event {
                DeltaEvent::Hydration { features, segments } => {
                    self.features = features;
                    self.segments = segments;
                }
                DeltaEvent::FeatureUpdated { feature } => {
                    self.features.retain(|f| f.name != feature.name);
                    self.features.push(feature);
                }
                DeltaEvent::FeatureRemoved { feature_name } => {
                    self.features.retain(|f| f.name != feature_name);
                }
                DeltaEvent::SegmentUpdated { segment } => {
                    self.segments.retain(|s| s.id != segment.id);
                    self.segments.push(segment);
                }
                DeltaEvent::SegmentRemoved { id } => self.segments.retain(|s| s.id != id),
            }
        }
    }

    /// Compiles the state. Nothing Unleash may send is an error here: what cannot be
    /// read (a bad regex, an unknown strategy or operator) evaluates to off, as Unleash
    /// SDKs do.
    pub(crate) fn compile(&self) -> Snapshot {
        let segments: HashMap<u64, &RawSegment> = self.segments.iter().map(|s| (s.id, s)).collect();
        let hostname = hostname();
        let features = self
            .features
            .iter()
            .map(|raw| compile_feature(raw, &segments, &hostname))
            .collect();
        Snapshot {
            features,
            limits: HashMap::new(),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
}

fn compile_feature(
    raw: &RawFeature,
    segments: &HashMap<u64, &RawSegment>,
    hostname: &str,
) -> Feature {
    let name: Arc<str> = Arc::from(raw.name.as_str());
    Feature {
        strategies: raw
            .strategies
            .iter()
            .map(|s| compile_strategy(s, &name, segments, hostname))
            .collect(),
        variants: compile_variants(
            raw.variants.as_deref().unwrap_or_default(),
            &Stickiness::Default,
        ),
        variant_group: GroupHash::new(&name, VARIANT_SEED),
        dependencies: raw
            .dependencies
            .iter()
            .flatten()
            .map(|d| Dependency {
                feature: d.feature.as_str().into(),
                enabled: d.enabled.unwrap_or(true),
                variants: d
                    .variants
                    .iter()
                    .flatten()
                    .map(|v| v.as_str().into())
                    .collect(),
            })
            .collect(),
        enabled: raw.enabled,
        fallback: None,
        has_rules: true,
        usage: None,
        constant: None,
        name,
    }
}

fn compile_strategy(
    raw: &RawStrategy,
    feature: &Arc<str>,
    segments: &HashMap<u64, &RawSegment>,
    hostname: &str,
) -> Strategy {
    let empty = RawParameters::default();
    let parameters = raw.parameters.as_ref().unwrap_or(&empty);
    let text = |key: &str| parameters.get(key).map(value_text).unwrap_or_default();
    let group_id: Arc<str> = match text("groupId") {
        g if g.is_empty() => Arc::clone(feature),
        g => Arc::from(g),
    };
    let percentage = |key: &str| {
        parse_number(&text(key)).map_or(0, |p| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let p = p.clamp(0.0, 100.0) as u32;
            p
        })
    };
    let rollout = |key: &str, stickiness: Stickiness| StrategyKind::Rollout {
        percentage: percentage(key),
        stickiness,
        group: GroupHash::new(&group_id, 0),
    };
    let list = |key: &str| -> Vec<String> {
        text(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut kind = match raw.name.as_str() {
        "default" => StrategyKind::Default,
        "flexibleRollout" => rollout("rollout", Stickiness::parse(&text("stickiness"))),
        "gradualRolloutUserId" => rollout("percentage", Stickiness::Field(Field::UserId)),
        "gradualRolloutSessionId" => rollout("percentage", Stickiness::Field(Field::SessionId)),
        "gradualRolloutRandom" => rollout("percentage", Stickiness::Random),
        "userWithId" => {
            StrategyKind::UserIds(list("userIds").into_iter().map(Into::into).collect())
        }
        "remoteAddress" => StrategyKind::RemoteAddresses(
            list("IPs")
                .iter()
                .filter_map(|ip| Network::parse(ip))
                .collect(),
        ),
        "applicationHostname" => StrategyKind::Constant(
            list("hostNames")
                .iter()
                .any(|h| h.eq_ignore_ascii_case(hostname)),
        ),
        // Unknown (custom) strategies are off, as in every Unleash SDK.
        _ => StrategyKind::Constant(false),
    };

    let mut constraints = Vec::new();
    for id in raw.segments.iter().flatten() {
        match segments.get(id) {
            Some(segment) => constraints.extend(segment.constraints.iter().map(compile_constraint)),
            // A strategy that names a segment we do not have cannot be evaluated.
            None => kind = StrategyKind::Constant(false),
        }
    }
    constraints.extend(raw.constraints.iter().flatten().map(compile_constraint));

    Strategy {
        kind,
        constraints,
        // Strategy variants without a stickiness of their own follow the strategy's.
        variants: compile_variants(
            raw.variants.as_deref().unwrap_or_default(),
            &Stickiness::parse(&text("stickiness")),
        ),
        variant_group: GroupHash::new(&group_id, VARIANT_SEED),
    }
}

/// A JSON value as the text Unleash compares: strings as they are, numbers and
/// booleans printed.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn compile_constraint(raw: &RawConstraint) -> Constraint {
    let values: Vec<String> = raw.values.iter().flatten().map(value_text).collect();
    let value = raw.value.as_ref().map(value_text).unwrap_or_default();
    let operator = compile_operator(&raw.operator, &values, &value, raw.case_insensitive);
    Constraint {
        field: Field::parse(&raw.context_name),
        operator,
        inverted: raw.inverted,
    }
}

/// Compiles one operator; `values` serves the list operators, `value` the single ones.
/// What cannot be read becomes [`Operator::Never`].
pub(crate) fn compile_operator(
    operator: &str,
    values: &[String],
    value: &str,
    case_insensitive: bool,
) -> Operator {
    let cleaned = || -> Vec<Box<str>> {
        values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(Into::into)
            .collect()
    };
    let string = |kind| Operator::Str {
        kind,
        values: values
            .iter()
            .map(|v| {
                if case_insensitive {
                    v.to_lowercase().into()
                } else {
                    v.as_str().into()
                }
            })
            .collect(),
        case_insensitive,
    };
    let number = |ordering, or_equal| {
        parse_number(value).map_or(Operator::Never, |n| Operator::Num(ordering, or_equal, n))
    };
    let semver = |ordering, or_equal| {
        parse_semver(value).map_or(Operator::Never, |v| Operator::Semver(ordering, or_equal, v))
    };
    match operator {
        "IN" => Operator::In {
            values: cleaned(),
            case_insensitive,
        },
        "NOT_IN" => Operator::NotIn {
            values: cleaned(),
            case_insensitive,
        },
        "STR_CONTAINS" => string(StrMatch::Contains),
        "STR_STARTS_WITH" => string(StrMatch::StartsWith),
        "STR_ENDS_WITH" => string(StrMatch::EndsWith),
        "NUM_EQ" => number(std::cmp::Ordering::Equal, false),
        "NUM_GT" => number(std::cmp::Ordering::Greater, false),
        "NUM_GTE" => number(std::cmp::Ordering::Greater, true),
        "NUM_LT" => number(std::cmp::Ordering::Less, false),
        "NUM_LTE" => number(std::cmp::Ordering::Less, true),
        "DATE_AFTER" => parse_time(value).map_or(Operator::Never, Operator::DateAfter),
        "DATE_BEFORE" => parse_time(value).map_or(Operator::Never, Operator::DateBefore),
        "SEMVER_EQ" => semver(std::cmp::Ordering::Equal, false),
        "SEMVER_GT" => semver(std::cmp::Ordering::Greater, false),
        "SEMVER_GTE" => semver(std::cmp::Ordering::Greater, true),
        "SEMVER_LT" => semver(std::cmp::Ordering::Less, false),
        "SEMVER_LTE" => semver(std::cmp::Ordering::Less, true),
        "REGEX" => {
            let pattern = if value.is_empty() {
                values.first().map_or("", String::as_str)
            } else {
                value
            };
            regex::RegexBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .build()
                .map_or(Operator::Never, Operator::Regex)
        }
        "IN_CIDR" => Operator::InCidr(values.iter().filter_map(|v| Network::parse(v)).collect()),
        _ => Operator::Never,
    }
}

fn compile_variants(raw: &[RawVariant], inherited: &Stickiness) -> Vec<VariantDef> {
    raw.iter()
        .map(|v| VariantDef {
            chosen: Arc::new(VariantData {
                name: Arc::from(v.name.as_str()),
                payload: v.payload.as_ref().map(|p| VariantPayload {
                    kind: Arc::from(p.kind.as_str()),
                    value: Arc::from(value_text(&p.value)),
                }),
            }),
            weight: v
                .weight
                .as_ref()
                .and_then(|w| parse_number(&value_text(w)))
                .map_or(0, |w| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let w = w.max(0.0) as u32;
                    w
                }),
            stickiness: v
                .stickiness
                .as_deref()
                .map_or_else(|| inherited.clone(), Stickiness::parse),
            overrides: v
                .overrides
                .iter()
                .flatten()
                .map(|o| VariantOverride {
                    field: Field::parse(&o.context_name),
                    values: o.values.iter().map(|s| s.as_str().into()).collect(),
                })
                .collect(),
        })
        .collect()
}
