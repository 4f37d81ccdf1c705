//! What a client can tell about itself ([`Client::inspect`]): the flags it knows, each
//! flag's rules as loaded, its fallback, its limits with their live counts, and the
//! state of the source (ready, what it serves, last update, last error).
//!
//! Every type here is plain data and serializable, so that a health endpoint, the
//! status page (feature `axum`), the Prometheus collector (feature `prometheus`) or a
//! test can read it the same way. Made on demand, off the gate's path: it allocates,
//! takes the locks the source's bookkeeping takes, and never blocks a gate.
//!
//! Rules are described, not copied: a constraint reads `region IN (2 values)`, as in
//! [`Client::explain`](crate::Client::explain), so an inspection stays small whatever
//! the rules file holds (at most [`MAX_FLAGS`] flags are listed).
//!
//! [`Client::inspect`]: crate::Client::inspect

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::metrics::{FlowCounts, KeyCounts};

/// The most flags an inspection lists: beyond it, [`Inspection::flags_left_out`] says
/// how many more there are.
pub const MAX_FLAGS: usize = 10_000;

/// A client described: see the [module documentation](self).
///
/// ```
/// use flowgate::{labels, Client};
///
/// let client = Client::from_toml_str(r#"
///     [flags.NewCheckout]
///     rollout = 25
///     constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
///     concurrency = { max = 8 }
/// "#)?;
/// client.start_flow_blocking("NewCheckout", &labels! { "userId" => 3 }, std::time::Duration::ZERO).end();
///
/// let inspection = client.inspect();
/// assert!(inspection.source.ready);
/// let flag = inspection.flag("NewCheckout").unwrap();
/// let rules = flag.rules.as_ref().unwrap();
/// assert_eq!(rules.strategies[0].kind, "rollout 25% by default");
/// assert_eq!(rules.strategies[0].constraints, ["region IN (2 values)"]);
/// assert_eq!(flag.limits.as_ref().unwrap().concurrency.as_ref().unwrap().max, 8);
/// assert_eq!(flag.flows.accepted + flag.flows.rejected, 1);
/// // Serializable: serve it as JSON from a health endpoint.
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Inspection {
    /// The decision source.
    pub source: SourceState,
    /// Every flag the client knows, sorted by name: the source's, those with a fallback
    /// or limits in the rules file, and those that started flows.
    pub flags: Vec<FlagState>,
    /// Flags not listed, past [`MAX_FLAGS`].
    pub flags_left_out: usize,
}

impl Inspection {
    /// The flag `name`, if the client knows it.
    pub fn flag(&self, name: &str) -> Option<&FlagState> {
        self.flags
            .binary_search_by(|flag| flag.name.as_str().cmp(name))
            .ok()
            .map(|at| &self.flags[at])
    }
}

/// The state of a decision source.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SourceState {
    /// The source's name (`flowgate.engine`, `unleash`, ...).
    pub name: String,
    /// Whether the source has a state to decide from.
    pub ready: bool,
    /// What it decides from: `live`, `backup`, `bootstrap` or `fallback`
    /// ([`Serving::kind`](crate::source::Serving::kind)).
    pub serving: &'static str,
    /// The backup file in use, while a backup is served.
    pub backup: Option<std::path::PathBuf>,
    /// How old the backup in use is, in whole seconds.
    pub backup_age_seconds: Option<u64>,
    /// What the source says about its updates (reloads, fetches), if it keeps count.
    #[serde(flatten)]
    pub updates: SourceUpdates,
}

/// What a source reports about its updates: for the rules file, its reloads; for
/// Unleash, its fetches. A source of your own fills what it knows (see
/// [`SourceDetails`]).
///
/// ```
/// let mut updates = flowgate::inspect::SourceUpdates::default();
/// updates.applied = 3;
/// updates.last_error = Some("timed out".into());
/// assert_eq!(updates.failed, 0);
/// ```
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SourceUpdates {
    /// Updates attempted (loads, fetches), whatever came of them.
    pub attempts: u64,
    /// Updates that replaced the state (a `304 Not Modified` is not one).
    pub applied: u64,
    /// Updates that failed (a file that did not read, a fetch that failed).
    pub failed: u64,
    /// When the state was last replaced or confirmed (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub last_success: Option<SystemTime>,
    /// The error of the last update, while the last update failed. Never holds a
    /// secret: a source's errors name URLs without credentials.
    pub last_error: Option<String>,
}

/// What a source tells about itself ([`DecisionSource::inspect`]): its updates and its
/// flags' rules.
///
/// [`DecisionSource::inspect`]: crate::DecisionSource::inspect
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SourceDetails {
    /// Its updates.
    pub updates: SourceUpdates,
    /// The flags it has rules for, described.
    pub flags: Vec<FlagRules>,
}

/// One flag as the client knows it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct FlagState {
    /// The flag's name.
    pub name: String,
    /// Its rules as the source loaded them; `None` when the source has none for it (a
    /// flag only used in code, or a source that cannot tell).
    pub rules: Option<FlagRules>,
    /// The fallback declared for it, in code or in the file (`"accept"` or `"reject"`
    /// in JSON).
    pub fallback: Option<crate::reject::Fallback>,
    /// Its rate and concurrency limits, if it has any.
    pub limits: Option<LimitState>,
    /// Its flow counts so far.
    pub flows: FlowCounts,
}

/// A flag's rules, described.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct FlagRules {
    /// The flag's name.
    pub name: String,
    /// Whether the flag is on at all (`enabled = false` turns it off for everyone).
    pub enabled: bool,
    /// Its strategies, in order; none means on for everyone while enabled.
    pub strategies: Vec<StrategyRules>,
    /// Its variants (those of the flag, not of a strategy).
    pub variants: Vec<VariantRules>,
    /// The flags it depends on (`parent`, `parent=off`, `parent:variant`).
    pub dependencies: Vec<String>,
    /// Its answer, when it does not depend on the call.
    pub constant: Option<bool>,
}

impl FlagRules {
    /// A flag called `name`, on or off for everyone: what a source of your own that
    /// has no strategies reports.
    pub fn named(name: impl Into<String>, enabled: bool) -> Self {
        Self {
            name: name.into(),
            enabled,
            strategies: Vec::new(),
            variants: Vec::new(),
            dependencies: Vec::new(),
            constant: Some(enabled),
        }
    }
}

/// One strategy of a flag.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct StrategyRules {
    /// What it does: `default`, `rollout 25% by userId`, `user ids (3)`, ...
    pub kind: String,
    /// Its constraints: `region IN (2 values)`, `NOT plan IN (1 value)`, ...
    pub constraints: Vec<String>,
    /// Its own variants, if it has any.
    pub variants: Vec<VariantRules>,
}

impl StrategyRules {
    /// A strategy described in words of your own, without constraints or variants.
    pub fn described(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            constraints: Vec::new(),
            variants: Vec::new(),
        }
    }
}

/// One variant and its weight (out of the variants' total).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct VariantRules {
    /// The variant's name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
}

/// A flag's limits with their live counts.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct LimitState {
    /// The rate limit.
    pub rate: Option<RateState>,
    /// The concurrency limit.
    pub concurrency: Option<ConcurrencyState>,
}

/// A rate limit: `limit` flows per `per`, with bursts of `burst`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RateState {
    /// Flows allowed per `per`.
    pub limit: u64,
    /// The period, in milliseconds in JSON.
    #[serde(serialize_with = "millis")]
    pub per: Duration,
    /// Flows allowed at once after a quiet spell.
    pub burst: u64,
    /// The label it is kept per, if any.
    pub by: Option<String>,
    /// With `by`: the most label values kept.
    pub max_keys: Option<usize>,
    /// Shared by every instance through the store (`scope = "global"`).
    pub global: bool,
}

/// A concurrency limit and what holds it now.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ConcurrencyState {
    /// Flows allowed at once.
    pub max: usize,
    /// Flows allowed to wait for a slot.
    pub queue: usize,
    /// The label it is kept per, if any.
    pub by: Option<String>,
    /// With `by`: the most label values kept.
    pub max_keys: Option<usize>,
    /// Shared by every instance through the store (`scope = "global"`): `max` is the
    /// fleet's, `in_flight` and `queued` this instance's.
    pub global: bool,
    /// Flows holding a slot now.
    pub in_flight: u64,
    /// Flows waiting for a slot now.
    pub queued: u64,
    /// With `by`: the label values with flows in flight or queued.
    pub keys: Vec<KeyCounts>,
}

#[allow(clippy::ref_option)] // serde's `serialize_with` hands a reference
fn rfc3339<S: serde::Serializer>(time: &Option<SystemTime>, to: S) -> Result<S::Ok, S::Error> {
    match time.and_then(|time| jiff::Timestamp::try_from(time).ok()) {
        Some(time) => to.collect_str(&time),
        None => to.serialize_none(),
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
