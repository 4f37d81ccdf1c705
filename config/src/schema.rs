//! The keys of `flowgate.toml` as written, read by serde with the span of each value so
//! that [`check`](crate::check) can place its errors.
//!
//! Unknown keys are errors (`deny_unknown_fields`), and each table says in words what
//! it expects (`expecting`), so that serde's messages list the valid keys and never
//! name these types.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rules file with `[flags.NAME]` tables"
)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub(crate) flags: Option<Flags>,
    #[serde(default)]
    pub(crate) store: Option<Spanned<RawStore>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a store: `{ redis = \"redis://127.0.0.1:6379/0\", cluster = [\"redis://node:7000\"], on_store_error = \"local\", instances = 4 }`"
)]
pub(crate) struct RawStore {
    #[serde(default)]
    pub(crate) redis: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) cluster: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(crate) on_store_error: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) instances: Option<Spanned<i64>>,
}

/// The `[flags.NAME]` tables, sorted by name. Read into a list and sorted once, rather
/// than into a map: a 10 000-flag file spends a tenth of its reading in map upkeep
/// otherwise. (TOML itself refuses a table declared twice.)
#[derive(Debug, Default)]
pub(crate) struct Flags(pub(crate) Vec<(String, RawFlag)>);

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Flags;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of flags, `[flags.NAME]`")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Flags, A::Error> {
                let mut flags = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, RawFlag>()? {
                    flags.push(entry);
                }
                flags.sort_unstable_by(|a: &(String, RawFlag), b| a.0.cmp(&b.0));
                Ok(Flags(flags))
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a flag's table of keys (`description`, `fallback`, `enabled`, `rollout`, ...)"
)]
pub(crate) struct RawFlag {
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) fallback: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) rollout: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) stickiness: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) constraints: Option<Vec<Spanned<RawConstraint>>>,
    #[serde(default)]
    pub(crate) variants: Option<Vec<Spanned<RawVariant>>>,
    #[serde(default)]
    pub(crate) rate_limit: Option<Spanned<RawRateLimit>>,
    #[serde(default)]
    pub(crate) concurrency: Option<Spanned<RawConcurrency>>,
}

impl RawFlag {
    /// Whether any key beyond `description` and `fallback` is set: the flag has rules.
    pub(crate) fn has_rules(&self) -> bool {
        self.enabled.is_some()
            || self.rollout.is_some()
            || self.stickiness.is_some()
            || self.constraints.is_some()
            || self.variants.is_some()
            || self.rate_limit.is_some()
            || self.concurrency.is_some()
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rate limit: `{ limit = 100, per = \"1s\", burst = 20, by = \"label\", scope = \"local\" }`"
)]
pub(crate) struct RawRateLimit {
    pub(crate) limit: Spanned<i64>,
    pub(crate) per: Spanned<String>,
    #[serde(default)]
    pub(crate) burst: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) by: Option<String>,
    #[serde(default)]
    pub(crate) max_keys: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) scope: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a concurrency limit: `{ max = 8, queue = 64, by = \"label\", scope = \"local\", lease = \"30s\" }`"
)]
pub(crate) struct RawConcurrency {
    pub(crate) max: Spanned<i64>,
    #[serde(default)]
    pub(crate) queue: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) by: Option<String>,
    #[serde(default)]
    pub(crate) max_keys: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) scope: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) lease: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a constraint: `{ label = \"region\", operator = \"IN\", values = [\"eu\"] }`"
)]
pub(crate) struct RawConstraint {
    pub(crate) label: Spanned<String>,
    pub(crate) operator: Spanned<String>,
    #[serde(default)]
    pub(crate) values: Option<Spanned<Vec<Scalar>>>,
    #[serde(default)]
    pub(crate) value: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(crate) inverted: bool,
    #[serde(default)]
    pub(crate) case_insensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a variant: `{ name = \"blue\", weight = 50, payload = \"...\" }`"
)]
pub(crate) struct RawVariant {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) weight: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) payload: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(crate) stickiness: Option<String>,
    #[serde(default)]
    pub(crate) overrides: Option<Vec<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an override: `{ label = \"userId\", values = [\"42\"] }`"
)]
pub(crate) struct RawOverride {
    pub(crate) label: String,
    pub(crate) values: Vec<String>,
}

/// A constraint value as the text Unleash compares: a string as it is; a number, a
/// boolean or a date as TOML prints it. Read straight into its text, without building a
/// `toml::Value` first (a 10 000-flag file has tens of thousands of them).
#[derive(Debug)]
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, a number, a boolean or a date")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(toml::Value::Float(v).to_string()))
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            // A date or time: TOML hands it over as a table of one private key.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
                let datetime = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(Scalar(datetime.to_string()))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}
