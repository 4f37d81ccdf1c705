//! The rule keys of `flowgate.toml`, read into the shared rule model.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::decision::{Fallback, VariantData, VariantPayload};
use crate::limits::{
    parse_duration, ConcurrencySpec, Keyed, LimitSpec, RateSpec, DEFAULT_MAX_KEYS,
};
use crate::unleash::features::compile_operator;

use super::model::{
    Constraint, Feature, Field, GroupHash, Operator, Snapshot, Stickiness, Strategy, StrategyKind,
    VariantDef, VariantOverride, VARIANT_SEED,
};

pub(crate) const STRING_ORIGIN: &str = "<string>";

/// The operators a constraint may use.
const OPERATORS: [&str; 19] = [
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
    "REGEX",
    "IN_CIDR",
];

/// Operators that compare against one `value` rather than a list of `values`.
fn takes_single_value(operator: &str) -> bool {
    operator.starts_with("NUM_")
        || operator.starts_with("DATE_")
        || operator.starts_with("SEMVER_")
        || operator == "REGEX"
}

/// A mistake in a rules file or document, with where it is.
///
/// ```text
/// flowgate.toml:7:11: flag `NewCheckout`, key `rollout`: must be between 0 and 100, got 140
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    line: usize,
    column: usize,
    flag: Option<String>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    pub(crate) fn at(origin: &str, line: usize, column: usize, message: String) -> Self {
        Self {
            origin: origin.to_owned(),
            line,
            column,
            flag: None,
            key: None,
            message,
        }
    }

    fn in_text(text: &str, origin: &str, span: Option<&Range<usize>>, message: String) -> Self {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        let flag = span.and_then(|s| enclosing_flag(text, s.start));
        Self {
            flag,
            ..Self::at(origin, line, column, message)
        }
    }

    fn io(origin: &str, error: &std::io::Error) -> Self {
        Self::at(origin, 0, 0, format!("cannot read the file: {error}"))
    }

    fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn with_flag(mut self, flag: &str) -> Self {
        self.flag = Some(flag.to_owned());
        self
    }

    /// The file (or `<string>`) the error is in.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based line of the mistake (0 when the file could not be read).
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column of the mistake.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The flag the mistake is in, when it is in one.
    pub fn flag(&self) -> Option<&str> {
        self.flag.as_deref()
    }

    /// The key the mistake is at, when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        match (&self.flag, &self.key) {
            (Some(flag), Some(key)) => write!(f, "flag `{flag}`, key `{key}`: ")?,
            (Some(flag), None) => write!(f, "flag `{flag}`: ")?,
            (None, Some(key)) => write!(f, "key `{key}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The `[flags.NAME]` table that `offset` falls in, read from the headers above it.
fn enclosing_flag(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    // The header line itself counts when the offset is on it (a duplicate table).
    let upto = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    text[..upto].lines().rev().find_map(|line| {
        let header = line.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
        let name = header.strip_prefix("flags.")?.trim();
        Some(name.trim_matches('"').to_owned())
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) flags: BTreeMap<String, RawFlag>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlag {
    #[serde(default)]
    #[allow(dead_code)] // for people
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) fallback: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) rollout: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) stickiness: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) constraints: Option<Vec<Spanned<RawConstraint>>>,
    #[serde(default)]
    pub(super) variants: Option<Vec<Spanned<RawVariant>>>,
    #[serde(default)]
    pub(super) rate_limit: Option<Spanned<RawRateLimit>>,
    #[serde(default)]
    pub(super) concurrency: Option<Spanned<RawConcurrency>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub(super) limit: Spanned<i64>,
    pub(super) per: Spanned<String>,
    #[serde(default)]
    pub(super) burst: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) by: Option<String>,
    #[serde(default)]
    pub(super) max_keys: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConcurrency {
    pub(super) max: Spanned<i64>,
    #[serde(default)]
    pub(super) queue: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) by: Option<String>,
    #[serde(default)]
    pub(super) max_keys: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConstraint {
    pub(super) label: Spanned<String>,
    pub(super) operator: Spanned<String>,
    #[serde(default)]
    pub(super) values: Option<Spanned<Vec<toml::Value>>>,
    #[serde(default)]
    pub(super) value: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) inverted: bool,
    #[serde(default)]
    pub(super) case_insensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) weight: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) payload: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) stickiness: Option<String>,
    #[serde(default)]
    pub(super) overrides: Option<Vec<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) label: String,
    pub(super) values: Vec<String>,
}

/// Reads a rules file.
pub(crate) fn load(path: &Path) -> Result<Snapshot, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(&origin, &e))?;
    parse(&text, &origin)
}

/// A TOML-level mistake (syntax, unknown key, wrong type, a table twice), placed.
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or_default();
    let mut config = ConfigError::in_text(
        text,
        origin,
        Some(&span),
        error.message().trim_end().to_owned(),
    );
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let in_header = text[line_start..].trim_start().starts_with('[');
    if in_header && error.message().contains("duplicate key") {
        // `[flags.A]` twice.
        "declared more than once".clone_into(&mut config.message);
    } else if let Some(key) = text
        .get(span)
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        config = config.with_key(key);
    }
    config
}

/// Reads the text of a rules file; `origin` names it in errors.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Snapshot, ConfigError> {
    let raw = match super::plain_toml::read(text) {
        Some(raw) => {
            #[cfg(debug_assertions)]
            if let Ok(full) = toml::from_str::<RawFile>(text) {
                // Both readers must agree, spans included, on every file the plain one
                // accepts: every test's rules go through this check.
                assert_eq!(format!("{raw:?}"), format!("{full:?}"), "for {text:?}");
            } else {
                panic!("the plain reader accepted what `toml` rejects: {text:?}");
            }
            raw
        }
        None => toml::from_str(text).map_err(|error| syntax_error(text, origin, &error))?,
    };
    let mut features = super::features::Features::with_capacity(raw.flags.len());
    let mut limits = std::collections::HashMap::new();
    for (name, flag) in raw.flags {
        let error = |span: Range<usize>, key: &str, message: String| {
            ConfigError::in_text(text, origin, Some(&span), message)
                .with_flag(&name)
                .with_key(key)
        };
        let spec = compile_limits(&flag, &error)?;
        if spec != LimitSpec::default() {
            limits.insert(Box::from(name.as_str()), spec);
        }
        let feature = compile_flag(&name, &flag, text, origin)?;
        features.insert(feature);
    }
    Ok(Snapshot { features, limits })
}

fn compile_flag(
    name: &str,
    raw: &RawFlag,
    text: &str,
    origin: &str,
) -> Result<Feature, ConfigError> {
    let error = |span: Range<usize>, key: &str, message: String| {
        ConfigError::in_text(text, origin, Some(&span), message)
            .with_flag(name)
            .with_key(key)
    };
    let fallback = match &raw.fallback {
        None => None,
        Some(f) => Some(match f.get_ref().as_str() {
            "accept" => Fallback::Accept,
            "reject" => Fallback::Reject,
            other => {
                return Err(error(
                    f.span(),
                    "fallback",
                    format!("expected \"accept\" or \"reject\", got {other:?}"),
                ))
            }
        }),
    };
    let has_rules = raw.enabled.is_some()
        || raw.rollout.is_some()
        || raw.stickiness.is_some()
        || raw.constraints.is_some()
        || raw.variants.is_some()
        || raw.rate_limit.is_some()
        || raw.concurrency.is_some();
    let percentage = match &raw.rollout {
        None => 100,
        Some(rollout) => u32::try_from(*rollout.get_ref())
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| {
                error(
                    rollout.span(),
                    "rollout",
                    format!(
                        "a rollout is a percentage from 0 to 100, got {}",
                        rollout.get_ref()
                    ),
                )
            })?,
    };
    let stickiness = raw
        .stickiness
        .as_ref()
        .map_or(Stickiness::Default, |s| Stickiness::parse(s.get_ref()));
    let constraints = raw
        .constraints
        .iter()
        .flatten()
        .map(|c| compile_constraint(c, &error))
        .collect::<Result<Vec<_>, _>>()?;
    let variants = compile_variants(
        raw.variants.as_deref().unwrap_or_default(),
        &stickiness,
        &error,
    )?;
    let name: Arc<str> = Arc::from(name);
    let kind = if percentage == 100 && stickiness == Stickiness::Default {
        StrategyKind::Default
    } else {
        StrategyKind::Rollout {
            percentage,
            stickiness,
            group: GroupHash::new(&name, 0),
        }
    };
    Ok(Feature {
        strategies: vec![Strategy {
            kind,
            constraints,
            variants: Vec::new(),
            variant_group: GroupHash::new(&name, VARIANT_SEED),
        }],
        variants,
        variant_group: GroupHash::new(&name, VARIANT_SEED),
        dependencies: Vec::new(),
        enabled: raw.enabled.unwrap_or(true),
        fallback,
        has_rules,
        usage: None,
        constant: None,
        name,
    })
}

fn compile_constraint(
    raw: &Spanned<RawConstraint>,
    error: &impl Fn(Range<usize>, &str, String) -> ConfigError,
) -> Result<Constraint, ConfigError> {
    let constraint = raw.get_ref();
    let operator_name = constraint.operator.get_ref().as_str();
    let span = constraint.operator.span();
    if !OPERATORS.contains(&operator_name) {
        return Err(error(
            span,
            "operator",
            format!(
                "unknown operator {operator_name:?}; expected one of {}",
                OPERATORS.join(", ")
            ),
        ));
    }
    let text_of = |value: &toml::Value| match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (values, value) = if takes_single_value(operator_name) {
        let Some(value) = &constraint.value else {
            let at = constraint.values.as_ref().map_or(raw.span(), Spanned::span);
            return Err(error(
                at,
                "value",
                format!("{operator_name} compares against one `value = ...`, not a list"),
            ));
        };
        (Vec::new(), (text_of(value.get_ref()), value.span()))
    } else {
        let Some(values) = &constraint.values else {
            let at = constraint.value.as_ref().map_or(raw.span(), Spanned::span);
            return Err(error(
                at,
                "values",
                format!("{operator_name} takes a list: `values = [...]`"),
            ));
        };
        (
            values.get_ref().iter().map(text_of).collect(),
            (String::new(), values.span()),
        )
    };
    let operator = compile_operator(
        operator_name,
        &values,
        &value.0,
        constraint.case_insensitive,
    );
    if let Operator::Never = operator {
        let problem = match operator_name {
            o if o.starts_with("NUM_") => "is not a number",
            o if o.starts_with("DATE_") => {
                "is not a date (RFC 3339, e.g. \"2025-01-31T12:00:00Z\", or \"2025-01-31\")"
            }
            o if o.starts_with("SEMVER_") => "is not a semantic version (e.g. \"2.1.0\")",
            _ => "is not a valid regular expression",
        };
        let detail = if operator_name == "REGEX" {
            regex::Regex::new(&value.0)
                .err()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        return Err(error(
            value.1,
            "value",
            format!("{:?} {problem}{detail}", value.0),
        ));
    }
    if operator_name == "IN_CIDR"
        && values
            .iter()
            .any(|v| super::model::Network::parse(v).is_none())
    {
        return Err(error(
            value.1,
            "values",
            "IN_CIDR takes addresses or networks such as \"10.0.0.0/8\" or \"::1\"".to_owned(),
        ));
    }
    Ok(Constraint {
        field: Field::parse(constraint.label.get_ref()),
        operator,
        inverted: constraint.inverted,
    })
}

fn compile_variants(
    raw: &[Spanned<RawVariant>],
    flag_stickiness: &Stickiness,
    error: &impl Fn(Range<usize>, &str, String) -> ConfigError,
) -> Result<Vec<VariantDef>, ConfigError> {
    let mut variants: Vec<VariantDef> = Vec::with_capacity(raw.len());
    for spanned in raw {
        let variant = spanned.get_ref();
        let name = variant.name.get_ref();
        if name.is_empty() {
            return Err(error(
                variant.name.span(),
                "name",
                "a variant needs a name".into(),
            ));
        }
        if variants.iter().any(|v| &*v.chosen.name == name.as_str()) {
            return Err(error(
                variant.name.span(),
                "name",
                format!("duplicate variant {name:?}"),
            ));
        }
        let weight = match &variant.weight {
            None => 1,
            Some(w) => u32::try_from(*w.get_ref()).map_err(|_| {
                error(
                    w.span(),
                    "weight",
                    format!("a weight is a whole number from 0 up, got {}", w.get_ref()),
                )
            })?,
        };
        let payload =
            match &variant.payload {
                None => None,
                Some(payload) => Some(match payload.get_ref() {
                    toml::Value::String(s) => VariantPayload {
                        kind: Arc::from("string"),
                        value: Arc::from(s.as_str()),
                    },
                    toml::Value::Table(table) => {
                        let field = |key: &str| table.get(key).and_then(toml::Value::as_str);
                        match (field("type"), field("value")) {
                            (Some(kind), Some(value)) if table.len() == 2 => VariantPayload {
                                kind: Arc::from(kind),
                                value: Arc::from(value),
                            },
                            _ => return Err(error(
                                payload.span(),
                                "payload",
                                "a payload is a string, or { type = \"json\", value = \"...\" }"
                                    .into(),
                            )),
                        }
                    }
                    _ => {
                        return Err(error(
                            payload.span(),
                            "payload",
                            "a payload is a string, or { type = \"json\", value = \"...\" }".into(),
                        ))
                    }
                }),
            };
        variants.push(VariantDef {
            chosen: Arc::new(VariantData {
                name: Arc::from(name.as_str()),
                payload,
            }),
            weight,
            stickiness: variant
                .stickiness
                .as_deref()
                .map_or_else(|| flag_stickiness.clone(), Stickiness::parse),
            overrides: variant
                .overrides
                .iter()
                .flatten()
                .map(|o| VariantOverride {
                    field: Field::parse(&o.label),
                    values: o.values.iter().map(|v| v.as_str().into()).collect(),
                })
                .collect(),
        });
    }
    if !variants.is_empty() && variants.iter().all(|v| v.weight == 0) {
        let span = raw[0].span();
        return Err(error(span, "variants", "every variant has weight 0".into()));
    }
    Ok(variants)
}

/// A whole number within `range`, or an error at it.
fn count(
    value: &Spanned<i64>,
    key: &str,
    minimum: u64,
    what: &str,
    error: &impl Fn(Range<usize>, &str, String) -> ConfigError,
) -> Result<u64, ConfigError> {
    u64::try_from(*value.get_ref())
        .ok()
        .filter(|n| *n >= minimum)
        .ok_or_else(|| {
            error(
                value.span(),
                key,
                format!(
                    "{what} is a whole number from {minimum} up, got {}",
                    value.get_ref()
                ),
            )
        })
}

fn compile_limits(
    raw: &RawFlag,
    error: &impl Fn(Range<usize>, &str, String) -> ConfigError,
) -> Result<LimitSpec, ConfigError> {
    let max_keys = |value: Option<&Spanned<i64>>| -> Result<usize, ConfigError> {
        value.map_or(Ok(DEFAULT_MAX_KEYS), |v| {
            count(v, "max_keys", 1, "`max_keys`", error)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        })
    };
    let rate = match &raw.rate_limit {
        None => None,
        Some(rate) => {
            let rate = rate.get_ref();
            let limit = count(&rate.limit, "limit", 1, "a rate `limit`", error)?;
            let per = parse_duration(rate.per.get_ref())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    error(
                        rate.per.span(),
                        "per",
                        format!(
                            "{:?} is not a duration; write e.g. \"1s\", \"100ms\", \"1m\" or \"1h30m\"",
                            rate.per.get_ref()
                        ),
                    )
                })?;
            let burst = match &rate.burst {
                None => limit,
                Some(burst) => count(burst, "burst", 1, "a `burst`", error)?,
            };
            Some(Keyed {
                spec: RateSpec { limit, per, burst },
                by: rate.by.as_deref().map(Into::into),
                max_keys: max_keys(rate.max_keys.as_ref())?,
            })
        }
    };
    let concurrency = match &raw.concurrency {
        None => None,
        Some(concurrency) => {
            let concurrency = concurrency.get_ref();
            let max = count(&concurrency.max, "max", 1, "a concurrency `max`", error)?;
            let queue = match &concurrency.queue {
                None => 0,
                Some(queue) => count(queue, "queue", 0, "a `queue`", error)?,
            };
            Some(Keyed {
                spec: ConcurrencySpec {
                    max: usize::try_from(max).unwrap_or(usize::MAX),
                    queue: usize::try_from(queue).unwrap_or(usize::MAX),
                },
                by: concurrency.by.as_deref().map(Into::into),
                max_keys: max_keys(concurrency.max_keys.as_ref())?,
            })
        }
    };
    Ok(LimitSpec { rate, concurrency })
}
