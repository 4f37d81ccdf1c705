//! The compiled rule model, shared by the embedded engine's file format and by Unleash.
//!
//! Everything that can be parsed once is parsed when a snapshot is built (regexes,
//! versions, dates, networks, lower-cased values), so evaluating a flag only compares:
//! it takes no lock and allocates nothing.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::decision::{Fallback, Variant, VariantData};
use crate::labels::Labels;

pub(crate) use super::hash::{GroupHash, VARIANT_SEED};

/// A compiled set of flags, swapped in whole on every reload.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) features: super::features::Features,
    /// Rate and concurrency limits per flag (from `flowgate.toml`).
    pub(crate) limits: HashMap<Box<str>, crate::limits::LimitSpec>,
}

crate::published::per_thread_cache!(Snapshot);

#[derive(Debug)]
pub(crate) struct Feature {
    pub(crate) name: Arc<str>,
    pub(crate) enabled: bool,
    pub(crate) fallback: Option<Fallback>,
    /// Empty: on for everyone while `enabled`.
    pub(crate) strategies: Vec<Strategy>,
    pub(crate) variants: Vec<VariantDef>,
    /// The group the feature's variants hash in (its name).
    pub(crate) variant_group: GroupHash,
    pub(crate) dependencies: Vec<Dependency>,
    /// `false` for a flag that is only declared: the source has no decision for it.
    pub(crate) has_rules: bool,
    /// Usage counters, for sources that report metrics (Unleash).
    pub(crate) usage: Option<Arc<super::usage::Usage>>,
    /// The answer, when it does not depend on the call: set by [`Feature::seal`].
    pub(crate) constant: Option<bool>,
}

impl Feature {
    /// Works out what can be known before any call; done when the feature joins a
    /// snapshot.
    pub(crate) fn seal(&mut self) {
        self.constant = self.constant_answer();
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
    /// The group the strategy's variants hash in.
    pub(crate) variant_group: GroupHash,
}

#[derive(Debug)]
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

/// A context field, as constraints and stickiness name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    UserId,
    SessionId,
    RemoteAddress,
    Environment,
    AppName,
    CurrentTime,
    Property(Box<str>),
}

impl Field {
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "userId" | "user_id" => Field::UserId,
            "sessionId" | "session_id" => Field::SessionId,
            "remoteAddress" | "remote_address" => Field::RemoteAddress,
            "environment" => Field::Environment,
            "appName" | "app_name" => Field::AppName,
            "currentTime" | "current_time" => Field::CurrentTime,
            other => Field::Property(other.into()),
        }
    }
}

/// The labels of one call, read as an Unleash context.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    labels: &'a Labels,
    defaults: &'a ContextDefaults,
}

/// Context fields a source fills in when a call's labels do not (an Unleash client's
/// `appName` and `environment`).
#[derive(Debug, Default, Clone)]
pub(crate) struct ContextDefaults {
    pub(crate) app_name: Option<Box<str>>,
    pub(crate) environment: Option<Box<str>>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(labels: &'a Labels, defaults: &'a ContextDefaults) -> Self {
        Self { labels, defaults }
    }

    fn label(&self, camel: &str, snake: &str) -> Option<&'a str> {
        self.labels
            .get(camel)
            .or_else(|| self.labels.get(snake))
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn get(&self, field: &Field) -> Option<&'a str> {
        match field {
            Field::UserId => self.label("userId", "user_id"),
            Field::SessionId => self.label("sessionId", "session_id"),
            Field::RemoteAddress => self.label("remoteAddress", "remote_address"),
            Field::Environment => self
                .labels
                .get("environment")
                .or(self.defaults.environment.as_deref()),
            Field::AppName => self
                .label("appName", "app_name")
                .or(self.defaults.app_name.as_deref()),
            Field::CurrentTime => self.label("currentTime", "current_time"),
            Field::Property(name) => self.labels.get(name),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Constraint {
    pub(crate) field: Field,
    pub(crate) operator: Operator,
    pub(crate) inverted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrMatch {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug)]
pub(crate) enum Operator {
    In {
        values: Vec<Box<str>>,
        case_insensitive: bool,
    },
    NotIn {
        values: Vec<Box<str>>,
        case_insensitive: bool,
    },
    Str {
        kind: StrMatch,
        /// Lower-cased already when `case_insensitive`.
        values: Vec<Box<str>>,
        case_insensitive: bool,
    },
    Num(Ordering, bool, f64),
    DateAfter(jiff::Timestamp),
    DateBefore(jiff::Timestamp),
    Semver(Ordering, bool, semver::Version),
    Regex(regex::Regex),
    InCidr(Vec<Network>),
    /// A constraint whose value could not be read: it matches nothing.
    Never,
}

/// An address or a network, as `IN_CIDR` and the remote address strategy list them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Network(ipnet::IpNet);

impl Network {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(net) = text.parse::<ipnet::IpNet>() {
            return Some(Network(net));
        }
        text.parse::<IpAddr>().ok().map(|ip| Network(ip.into()))
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl Constraint {
    fn matches(&self, context: &Context<'_>) -> bool {
        self.operator.matches(context.get(&self.field), context) != self.inverted
    }
}

impl Operator {
    fn matches(&self, value: Option<&str>, context: &Context<'_>) -> bool {
        match self {
            Operator::In {
                values,
                case_insensitive,
            } => value.is_some_and(|v| contains_value(values, v, *case_insensitive)),
            Operator::NotIn {
                values,
                case_insensitive,
            } => value.is_none_or(|v| !contains_value(values, v, *case_insensitive)),
            Operator::Str {
                kind,
                values,
                case_insensitive,
            } => value.is_some_and(|v| {
                values
                    .iter()
                    .any(|needle| str_matches(*kind, v, needle, *case_insensitive))
            }),
            Operator::Num(ordering, or_equal, target) => value
                .and_then(parse_number)
                .and_then(|v| v.partial_cmp(target))
                .is_some_and(|o| o == *ordering || (*or_equal && o == Ordering::Equal)),
            Operator::DateAfter(target) => now_or(context).is_some_and(|now| now > *target),
            Operator::DateBefore(target) => now_or(context).is_some_and(|now| now < *target),
            Operator::Semver(ordering, or_equal, target) => value
                .and_then(parse_semver)
                .map(|v| v.cmp_precedence(target))
                .is_some_and(|o| o == *ordering || (*or_equal && o == Ordering::Equal)),
            Operator::Regex(regex) => value.is_some_and(|v| regex.is_match(v)),
            Operator::InCidr(networks) => value
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| networks.iter().any(|n| n.contains(&ip))),
            Operator::Never => false,
        }
    }
}

fn contains_value(values: &[Box<str>], value: &str, case_insensitive: bool) -> bool {
    if case_insensitive {
        values.iter().any(|v| eq_ignore_case(v, value))
    } else {
        values.iter().any(|v| **v == *value)
    }
}

/// `value` read as a number the way Unleash reads one (surrounding spaces allowed).
pub(crate) fn parse_number(value: &str) -> Option<f64> {
    value.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A version as Unleash reads one: strict semver (`v2.0.0` is not one).
pub(crate) fn parse_semver(value: &str) -> Option<semver::Version> {
    semver::Version::parse(value.trim()).ok()
}

/// A point in time: RFC 3339 with any offset, or a plain date (midnight UTC).
pub(crate) fn parse_time(value: &str) -> Option<jiff::Timestamp> {
    let value = value.trim();
    if let Ok(timestamp) = value.parse::<jiff::Timestamp>() {
        return Some(timestamp);
    }
    if let Ok(date) = value.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    None
}

fn now_or(context: &Context<'_>) -> Option<jiff::Timestamp> {
    match context.get(&Field::CurrentTime) {
        Some(given) => parse_time(given),
        None => Some(jiff::Timestamp::now()),
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether `haystack` starts with `needle`, comparing lower-cased characters; `needle`
/// is lower-cased already.
fn starts_with_lowercase(haystack: &str, needle: &str) -> bool {
    let mut hay = haystack.chars().flat_map(char::to_lowercase);
    needle.chars().all(|n| hay.next() == Some(n))
}

fn str_matches(kind: StrMatch, value: &str, needle: &str, case_insensitive: bool) -> bool {
    if !case_insensitive {
        return match kind {
            StrMatch::Contains => value.contains(needle),
            StrMatch::StartsWith => value.starts_with(needle),
            StrMatch::EndsWith => value.ends_with(needle),
        };
    }
    if value.is_ascii() && needle.is_ascii() {
        let (value, needle) = (value.as_bytes(), needle.as_bytes());
        return match kind {
            StrMatch::Contains => {
                needle.is_empty()
                    || value
                        .windows(needle.len())
                        .any(|w| w.eq_ignore_ascii_case(needle))
            }
            StrMatch::StartsWith => {
                value.len() >= needle.len() && value[..needle.len()].eq_ignore_ascii_case(needle)
            }
            StrMatch::EndsWith => {
                value.len() >= needle.len()
                    && value[value.len() - needle.len()..].eq_ignore_ascii_case(needle)
            }
        };
    }
    match kind {
        StrMatch::StartsWith => starts_with_lowercase(value, needle),
        StrMatch::Contains => value
            .char_indices()
            .any(|(i, _)| starts_with_lowercase(&value[i..], needle)),
        StrMatch::EndsWith => value
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(value.len()))
            .any(|i| {
                let tail = &value[i..];
                tail.chars().flat_map(char::to_lowercase).eq(needle.chars())
            }),
    }
}

#[derive(Debug)]
pub(crate) struct VariantDef {
    /// The name and payload every call that gets this variant shares.
    pub(crate) chosen: Arc<VariantData>,
    pub(crate) weight: u32,
    pub(crate) stickiness: Stickiness,
    pub(crate) overrides: Vec<VariantOverride>,
}

#[derive(Debug)]
pub(crate) struct VariantOverride {
    pub(crate) field: Field,
    pub(crate) values: Vec<Box<str>>,
}

impl Strategy {
    fn is_enabled(&self, context: &Context<'_>) -> bool {
        self.constraints.iter().all(|c| c.matches(context)) && self.kind.is_enabled(context)
    }
}

impl StrategyKind {
    fn is_enabled(&self, context: &Context<'_>) -> bool {
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
                let bucket = match stickiness {
                    Stickiness::Random => random_bucket(100),
                    Stickiness::Default => match context
                        .get(&Field::UserId)
                        .or_else(|| context.get(&Field::SessionId))
                    {
                        Some(value) => group.bucket(value, 100),
                        None => random_bucket(100),
                    },
                    Stickiness::Field(field) => match context.get(field) {
                        Some(value) => group.bucket(value, 100),
                        None => return false,
                    },
                };
                bucket <= *percentage
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

fn random_bucket(normalizer: u32) -> u32 {
    fastrand::u32(1..=normalizer)
}

/// What every call that gets no variant shares.
fn disabled_variant() -> Arc<VariantData> {
    static DISABLED: std::sync::OnceLock<Arc<VariantData>> = std::sync::OnceLock::new();
    Arc::clone(DISABLED.get_or_init(|| {
        Arc::new(VariantData {
            name: Arc::from("disabled"),
            payload: None,
        })
    }))
}

/// The name every disabled call gets.
pub(crate) fn disabled_name() -> Arc<str> {
    Arc::clone(&disabled_variant().name)
}

impl Variant {
    pub(crate) fn disabled(feature_enabled: bool) -> Self {
        Variant::new(disabled_variant(), false, feature_enabled)
    }
}

/// Which strategy turned a feature on, when one did.
enum Resolution<'a> {
    Off,
    On(Option<&'a Strategy>),
}

impl Snapshot {
    /// `None` when the snapshot has no rules for `flag`.
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
        slot: &crate::source::FlagSlot,
        stamp: crate::source::StateStamp,
        flag: &str,
        context: &Context<'_>,
    ) -> Option<bool> {
        let feature = self.features.get_at(slot, flag)?;
        if let (Some(answer), true) = (feature.constant, feature.has_rules) {
            match &feature.usage {
                None => slot.remember_answer(stamp, answer),
                // The call site counts the calls it answers in the same table.
                Some(usage) => {
                    if let Some(index) = usage.index {
                        slot.remember_counted_answer(stamp, answer, index);
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
        if let Some(usage) = &feature.usage {
            usage.count(enabled);
        }
        Some(enabled)
    }

    /// `None` when the snapshot has no rules for `flag`.
    pub(crate) fn variant(&self, flag: &str, context: &Context<'_>) -> Option<Variant> {
        let feature = self.features.get(flag).filter(|f| f.has_rules)?;
        let variant = self.variant_of(feature, context);
        if let Some(usage) = &feature.usage {
            usage.count(variant.feature_enabled());
            usage.count_variant(variant.shared_name());
        }
        Some(variant)
    }

    pub(crate) fn fallback(&self, flag: &str) -> Option<Fallback> {
        self.features.get(flag).and_then(|f| f.fallback)
    }

    fn variant_of(&self, feature: &Feature, context: &Context<'_>) -> Variant {
        match self.resolve(feature, context) {
            Resolution::Off => Variant::disabled(false),
            Resolution::On(strategy) => {
                let chosen = match strategy.filter(|s| !s.variants.is_empty()) {
                    Some(strategy) => {
                        choose_variant(&strategy.variants, &strategy.variant_group, context)
                    }
                    None => choose_variant(&feature.variants, &feature.variant_group, context),
                };
                chosen.map_or_else(
                    || Variant::disabled(true),
                    |def| Variant::new(Arc::clone(&def.chosen), true, true),
                )
            }
        }
    }

    fn resolve<'s>(&'s self, feature: &'s Feature, context: &Context<'_>) -> Resolution<'s> {
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
        feature.dependencies.iter().all(|dependency| {
            // Unleash allows one level of dependencies: a parent with parents of its
            // own is never satisfied.
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
        })
    }
}

fn choose_variant<'v>(
    variants: &'v [VariantDef],
    group: &GroupHash,
    context: &Context<'_>,
) -> Option<&'v VariantDef> {
    let total: u32 = variants.iter().map(|v| v.weight).sum();
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
        return Some(overridden);
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
    let target = match value {
        Some(value) => group.bucket(value, total),
        None => random_bucket(total),
    };
    let mut counter = 0;
    variants.iter().find(|v| {
        if v.weight == 0 {
            return false;
        }
        counter += v.weight;
        counter >= target
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_string_matching_without_allocation_paths() {
        use StrMatch::{Contains, EndsWith, StartsWith};
        assert!(str_matches(Contains, "Hello World", "o w", true));
        assert!(!str_matches(Contains, "Hello World", "o w", false));
        assert!(str_matches(StartsWith, "ÉCOLE", "éc", true));
        assert!(!str_matches(EndsWith, "Straße", "sse", false));
        assert!(str_matches(EndsWith, "GRÜN", "ün", true));
        assert!(str_matches(Contains, "abc", "", true));
        assert!(!str_matches(StartsWith, "ab", "abc", true));
        assert!(eq_ignore_case("ÄBC", "äbc"));
    }

    #[test]
    fn versions_numbers_and_times() {
        assert!(parse_semver("1.2.3-beta.1").is_some());
        assert!(parse_semver("v1.2.3").is_none());
        assert!(parse_semver("1.2").is_none());
        assert_eq!(parse_number(" 12.5 "), Some(12.5));
        assert_eq!(parse_number("twelve"), None);
        let utc = parse_time("2024-01-01T12:00:00Z").unwrap();
        assert_eq!(parse_time("2024-01-01T13:00:00+01:00"), Some(utc));
        assert_eq!(
            parse_time("2024-01-01"),
            parse_time("2024-01-01T00:00:00.000Z")
        );
    }
}
