//! Unleash's feature state (`GET /client/features`, delta events, backups), read from
//! JSON and compiled into the rule model.
//!
//! Nothing Unleash may send is an error once the JSON reads: what cannot be evaluated
//! (an unknown strategy or operator, a bad regex) is off, as in every Unleash SDK.

use std::collections::HashMap;

use flowgate_config::values::number;
use flowgate_config::ConfigError;
use serde::Deserialize;
use serde_json::Value;

use crate::rules::{
    Constraint, Dependency, Feature, Field, Network, Operator, Snapshot, Stickiness, Strategy,
    StrategyKind, VariantDef,
};

/// The body of `GET /client/features`, or a delta document (`events`), with the delta
/// events folded in.
#[derive(Default)]
pub(crate) struct FeatureState {
    features: Vec<RawFeature>,
    segments: Vec<RawSegment>,
}

/// What a reply holds, as written. A feature state has a `features` list (an empty one
/// is a real, empty state) or, as a delta document, `events`; anything else (`{}`, `[]`,
/// `{"error": ...}`) is not a state.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawState {
    #[serde(default)]
    features: Option<Vec<RawFeature>>,
    #[serde(default)]
    segments: Option<Vec<RawSegment>>,
    #[serde(default)]
    events: Option<Vec<DeltaEvent>>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RawFeature {
    name: String,
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
struct RawConstraint {
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
struct RawSegment {
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
        check_nesting(json, origin)?;
        let raw: RawState = serde_json::from_str(json).map_err(|error| {
            // serde_json counts an empty document's column from 0.
            ConfigError::new(origin, format!("not a feature state: {error}"))
                .at(error.line().max(1), error.column().max(1))
        })?;
        if raw.features.is_none() && raw.events.is_none() {
            return Err(ConfigError::new(
                origin,
                "not a feature state: it has no `features` list (nor delta `events`)",
            )
            .at(1, 1));
        }
        let mut state = FeatureState {
            features: raw.features.unwrap_or_default(),
            segments: raw.segments.unwrap_or_default(),
        };
        state.apply_events(raw.events.unwrap_or_default());
        Ok(state)
    }

    /// How many features the state has.
    pub(crate) fn len(&self) -> usize {
        self.features.len()
    }

    /// Folds delta events into plain features and segments, in order. Each event finds
    /// its feature or segment through an index: a document of many events costs in
    /// proportion to its size, not to events times features.
    fn apply_events(&mut self, events: Vec<DeltaEvent>) {
        if events.is_empty() {
            return;
        }
        let mut features = Keyed::new(std::mem::take(&mut self.features), |f| f.name.clone());
        let mut segments = Keyed::new(std::mem::take(&mut self.segments), |s| s.id);
        for event in events {
            match event {
                DeltaEvent::Hydration {
                    features: all_features,
                    segments: all_segments,
                } => {
                    features = Keyed::new(all_features, |f| f.name.clone());
                    segments = Keyed::new(all_segments, |s| s.id);
                }
                DeltaEvent::FeatureUpdated { feature } => {
                    features.put(feature.name.clone(), feature);
                }
                DeltaEvent::FeatureRemoved { feature_name } => features.remove(&feature_name),
                DeltaEvent::SegmentUpdated { segment } => segments.put(segment.id, segment),
                DeltaEvent::SegmentRemoved { id } => segments.remove(&id),
            }
        }
        self.features = features.into_list();
        self.segments = segments.into_list();
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
        Snapshot { features }
    }
}

/// How deeply a feature state may nest arrays and objects. Unleash's own nest seven
/// levels deep (features, strategies, constraints, values); custom strategy parameters
/// may add a few.
const MAX_DEPTH: usize = 32;

/// Refuses a document nested deeper than [`MAX_DEPTH`], before it is read: `serde_json`
/// stops at 128 levels itself, but reads each level with a recursive call, and 128
/// levels of a debug build overflow a thread with a small stack. This is a loop over the
/// bytes (strings skipped), so no document can overflow any thread's stack.
fn check_nesting(json: &str, origin: &str) -> Result<(), ConfigError> {
    let bytes = json.as_bytes();
    let (mut depth, mut at, mut line, mut line_start) = (0_usize, 0, 1, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
            }
            b'\n' => {
                line += 1;
                line_start = at + 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let column = json[line_start..at].chars().count() + 1;
                    return Err(ConfigError::new(
                        origin,
                        format!("not a feature state: nested more than {MAX_DEPTH} levels deep"),
                    )
                    .at(line, column));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

/// A list kept in order with an index by key: an update replaces in place (an updated
/// feature keeps its place), a removal leaves a hole filled when the list is taken.
struct Keyed<K, T> {
    list: Vec<Option<T>>,
    index: HashMap<K, usize>,
}

impl<K: std::hash::Hash + Eq, T> Keyed<K, T> {
    fn new(items: Vec<T>, key: impl Fn(&T) -> K) -> Self {
        let mut keyed = Self {
            list: Vec::with_capacity(items.len()),
            index: HashMap::with_capacity(items.len()),
        };
        for item in items {
            keyed.put(key(&item), item);
        }
        keyed
    }

    fn put(&mut self, key: K, item: T) {
        if let Some(&at) = self.index.get(&key) {
            self.list[at] = Some(item);
        } else {
            self.index.insert(key, self.list.len());
            self.list.push(Some(item));
        }
    }

    fn remove(&mut self, key: &K) {
        if let Some(at) = self.index.remove(key) {
            self.list[at] = None;
        }
    }

    fn into_list(self) -> Vec<T> {
        self.list.into_iter().flatten().collect()
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
    let mut feature = Feature::new(&raw.name);
    feature.strategies = raw
        .strategies
        .iter()
        .map(|s| compile_strategy(s, &raw.name, segments, hostname))
        .collect();
    feature.variants = compile_variants(
        raw.variants.as_deref().unwrap_or_default(),
        &Stickiness::Default,
    );
    feature.dependencies = raw
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
        .collect();
    feature.enabled = raw.enabled;
    feature
}

fn compile_strategy(
    raw: &RawStrategy,
    feature: &str,
    segments: &HashMap<u64, &RawSegment>,
    hostname: &str,
) -> Strategy {
    let empty = RawParameters::default();
    let parameters = raw.parameters.as_ref().unwrap_or(&empty);
    let text = |key: &str| parameters.get(key).map(value_text).unwrap_or_default();
    let group_id = match text("groupId") {
        g if g.is_empty() => feature.to_owned(),
        g => g,
    };
    let percentage = |key: &str| {
        number(&text(key)).map_or(0, |p| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let p = p.clamp(0.0, 100.0) as u32;
            p
        })
    };
    let rollout = |key: &str, stickiness: Stickiness| {
        StrategyKind::rollout(percentage(key), stickiness, &group_id)
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

    // Strategy variants without a stickiness of their own follow the strategy's.
    let variants = compile_variants(
        raw.variants.as_deref().unwrap_or_default(),
        &Stickiness::parse(&text("stickiness")),
    );
    Strategy::new(kind, constraints, variants, &group_id)
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

fn compile_constraint(raw: &RawConstraint) -> Constraint {
    let values: Vec<String> = raw.values.iter().flatten().map(value_text).collect();
    let value = raw.value.as_ref().map(value_text).unwrap_or_default();
    Constraint {
        field: Field::parse(&raw.context_name),
        operator: Operator::compile_lenient(&raw.operator, values, &value, raw.case_insensitive),
        inverted: raw.inverted,
    }
}

fn compile_variants(raw: &[RawVariant], inherited: &Stickiness) -> Vec<VariantDef> {
    raw.iter()
        .map(|v| {
            let weight = v
                .weight
                .as_ref()
                .and_then(|w| number(&value_text(w)))
                .map_or(0, |w| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let w = w.max(0.0) as u32;
                    w
                });
            let payload = v
                .payload
                .as_ref()
                .map(|p| (p.kind.clone(), value_text(&p.value)));
            VariantDef::new(
                &v.name,
                weight,
                payload
                    .as_ref()
                    .map(|(kind, value)| (kind.as_str(), value.as_str())),
                v.stickiness
                    .as_deref()
                    .map_or_else(|| inherited.clone(), Stickiness::parse),
                v.overrides
                    .iter()
                    .flatten()
                    .map(|o| (o.context_name.clone(), o.values.clone())),
            )
        })
        .collect()
}
