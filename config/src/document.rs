//! A checked rules file: every flag with its fallback, its rules and its limits, each
//! value already read into the type it is used as.
//!
//! Plain data with public fields, so that the attribute, the runtime and tools read it
//! without accessors; `#[non_exhaustive]` so that keys can be added without breaking
//! them.

use std::time::Duration;

use crate::operator::{Comparand, Operator};

/// How many distinct label values a keyed limit tracks at most, unless `max_keys` says.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// A checked `flowgate.toml`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Document {
    /// The flags, sorted by name.
    pub flags: Vec<Flag>,
    /// The `[store]` table: where limits with `scope = "global"` keep their state.
    pub store: Option<Store>,
}

impl Document {
    /// The flag called `name`.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags
            .binary_search_by(|flag| flag.name.as_str().cmp(name))
            .ok()
            .map(|at| &self.flags[at])
    }
}

/// One `[flags.NAME]` table.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Flag {
    /// The flag's name.
    pub name: String,
    /// 1-based line of the flag's `[flags.NAME]` header (0 when it has none, e.g. a
    /// flag written as a dotted key).
    pub line: usize,
    /// For people.
    pub description: Option<String>,
    /// What a gate does when no decision can be made in time; `None`: not said.
    pub fallback: Option<Fallback>,
    /// The flag's rules; `None` for a flag that is only declared (no rule key and no
    /// limit): its fallback decides.
    pub rules: Option<Rules>,
    /// Its rate and concurrency limits.
    pub limits: Limits,
}

/// What a gate does when no decision can be made in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Run the body anyway (fail-open).
    Accept,
    /// Do not run the body (fail-closed).
    Reject,
}

/// The rule keys of a flag.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rules {
    /// The master switch (`enabled`, default `true`).
    pub enabled: bool,
    /// Percentage of calls in the rollout, 0 to 100 (`rollout`, default 100).
    pub rollout: u32,
    /// What the rollout is sticky on: `"default"`, `"random"` or a label name.
    pub stickiness: String,
    /// Conditions that must all hold.
    pub constraints: Vec<Constraint>,
    /// Named variants, chosen by weight.
    pub variants: Vec<Variant>,
}

/// One constraint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Constraint {
    /// The label it reads.
    pub label: String,
    /// How it compares.
    pub operator: Operator,
    /// What it compares against, read as `operator` reads it.
    pub comparand: Comparand,
    /// Whether the result is negated.
    pub inverted: bool,
    /// Whether strings compare without regard to case.
    pub case_insensitive: bool,
}

/// One variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Variant {
    /// Its name, unique in the flag.
    pub name: String,
    /// Its share, relative to the other variants' (default 1).
    pub weight: u32,
    /// What it carries.
    pub payload: Option<Payload>,
    /// What its choice is sticky on; `None`: the flag's stickiness.
    pub stickiness: Option<String>,
    /// Calls pinned to it by label value.
    pub overrides: Vec<Override>,
}

/// A variant's payload: a string, or `{ type, value }`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Payload {
    /// `string` for a plain string; else as written (`json`, `csv`, `number`).
    pub kind: String,
    /// The payload itself.
    pub value: String,
}

/// Calls whose `label` has one of `values` get the variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Override {
    /// The label read.
    pub label: String,
    /// The values pinned.
    pub values: Vec<String>,
}

/// The limits of a flag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `rate_limit = { ... }`
    pub rate: Option<RateLimit>,
    /// `concurrency = { ... }`
    pub concurrency: Option<Concurrency>,
}

impl Limits {
    /// Whether the flag has no limit.
    pub fn is_empty(&self) -> bool {
        self.rate.is_none() && self.concurrency.is_none()
    }
}

/// `limit` flows per `per`, up to `burst` at once; per value of `by` when set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Flows per `per` (at least 1).
    pub limit: u64,
    /// The period (never zero).
    pub per: Duration,
    /// Flows that may start at once: the bucket's size (default `limit`).
    pub burst: u64,
    /// One limit per value of this label.
    pub by: Option<String>,
    /// With `by`: label values tracked at most.
    pub max_keys: usize,
    /// Per process, or shared by every instance through the `[store]`.
    pub scope: Scope,
}

/// `max` flows at once, `queue` more waiting; per value of `by` when set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Concurrency {
    /// Flows that may run at once (at least 1).
    pub max: usize,
    /// Flows that may wait for a slot.
    pub queue: usize,
    /// One limit per value of this label.
    pub by: Option<String>,
    /// With `by`: label values tracked at most.
    pub max_keys: usize,
    /// Per process, or shared by every instance through the `[store]`.
    pub scope: Scope,
    /// With `scope = "global"`: how long an instance's slots outlive it if it dies
    /// without giving them back (default 30 s). Renewed while it runs.
    pub lease: Duration,
}

/// The default `lease` of a global concurrency limit.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Whom a limit counts: the flows of one process, or of every instance of the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Each process counts its own flows (the default).
    #[default]
    Local,
    /// Every instance counts against one limit kept in the `[store]` (Redis).
    Global,
}

/// `[store]`: where global limits are kept, and what they do when it cannot be reached.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Store {
    /// `redis = "redis://host:6379/0"`; `None`: the `FLOWGATE_REDIS_URL` variable. A
    /// URL may carry a password: it is never printed (see [`redacted_url`]).
    pub redis: Option<String>,
    /// `cluster = ["redis://node-a:7000", ...]`: some nodes of a Redis Cluster, in place
    /// of `redis`.
    pub cluster: Vec<String>,
    /// What a global limit does while the store cannot be reached.
    pub on_store_error: OnStoreError,
    /// How many instances share the limits, to divide them by when enforced locally;
    /// `None`: counted from the instances that reached the store lately.
    pub instances: Option<u32>,
    /// 1-based line of the `[store]` header (0 when unknown).
    pub line: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("redis", &self.redis.as_deref().map(redacted_url))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|url| redacted_url(url))
                    .collect::<Vec<_>>(),
            )
            .field("on_store_error", &self.on_store_error)
            .field("instances", &self.instances)
            .field("line", &self.line)
            .finish()
    }
}

/// A store URL with its password (and user name) replaced by `***`, for messages and
/// logs: `redis://:secret@host:6379/0` reads `redis://***@host:6379/0`.
///
/// ```
/// assert_eq!(
///     flowgate_config::redacted_url("redis://default:s3cret@cache:6379/0"),
///     "redis://***@cache:6379/0",
/// );
/// assert_eq!(flowgate_config::redacted_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
#[must_use]
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: anything up to an `@` may be a password.
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_owned(),
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// What a global limit does while its store cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnStoreError {
    /// Enforce the limit in each instance, divided by the number of instances (the
    /// default): the fleet stays near its limit.
    #[default]
    Local,
    /// Reject the flows the limit would decide (fail-closed).
    Reject,
    /// Admit them without limit (fail-open).
    Accept,
}
