//! From the keys as written ([`schema`](crate::schema)) to a checked
//! [`Document`]: every value read into its type, every mistake an error at its place.

use std::ops::Range;

use toml::Spanned;

use crate::document::{
    Concurrency, Constraint, Document, Fallback, Flag, Limits, Override, Payload, RateLimit, Rules,
    Scope, Variant, DEFAULT_MAX_KEYS,
};
use crate::error::{table_header, ConfigError};
use crate::limits;
use crate::operator::{Arity, Operator};
use crate::schema::{RawConcurrency, RawConstraint, RawFile, RawFlag, RawRateLimit, RawVariant};

/// Where a flag's mistakes are reported: the text, its name, and the flag.
struct At<'a> {
    text: &'a str,
    origin: &'a str,
    flag: &'a str,
}

impl At<'_> {
    fn error(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::in_text(self.text, self.origin, span, message)
            .in_flag(self.flag)
            .at_key(key)
    }
}

/// Reads the text of a rules file; `origin` names it in errors. With `require_flags`, a
/// text without a `[flags]` table is an error (see [`crate::read_file`]).
pub(crate) fn document(
    text: &str,
    origin: &str,
    require_flags: bool,
) -> Result<Document, ConfigError> {
    document_all(text, origin, require_flags).map_err(|mut errors| errors.swap_remove(0))
}

/// As [`document`], with every mistake of the flags' values rather than the first,
/// sorted by line. A mistake in the file's TOML itself (its syntax, an unknown key, a
/// wrong type) stops the reading: it is the only one. Never an empty list.
pub(crate) fn document_all(
    text: &str,
    origin: &str,
    require_flags: bool,
) -> Result<Document, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let document = read_flags(text, origin, require_flags, &mut errors).map_err(|e| vec![e])?;
    if errors.is_empty() {
        return Ok(document);
    }
    errors.sort_by_key(|e| (e.line(), e.column()));
    Err(errors)
}

/// The flags of `text`: the file-level mistake as the error, each flag's mistakes
/// pushed to `errors` (the flag then left out).
fn read_flags(
    text: &str,
    origin: &str,
    require_flags: bool,
    errors: &mut Vec<ConfigError>,
) -> Result<Document, ConfigError> {
    crate::nesting::check(text, origin)?;
    let raw: RawFile = toml::from_str(text).map_err(|error| syntax_error(text, origin, &error))?;
    let Some(raw_flags) = raw.flags else {
        if require_flags {
            return Err(ConfigError::new(
                origin,
                "the file has no `[flags]` table: it is empty or still being written \
                 (to remove every flag, leave `[flags]` in it)",
            ));
        }
        let store = raw
            .store
            .map(|store| crate::store::check_store(text, origin, store))
            .transpose()?;
        return Ok(Document {
            store,
            ..Document::default()
        });
    };
    if raw_flags.0.len() > limits::MAX_FLAGS {
        return Err(ConfigError::new(
            origin,
            format!(
                "the file declares {} flags; the most a rules file may declare is {}",
                raw_flags.0.len(),
                limits::MAX_FLAGS
            ),
        ));
    }
    let lines = header_lines(text);
    let mut flags = Vec::with_capacity(raw_flags.0.len());
    for (name, flag) in raw_flags.0 {
        let at = At {
            text,
            origin,
            flag: &name,
        };
        let line = lines
            .binary_search_by(|(n, _)| n.as_str().cmp(&name))
            .map_or(0, |i| lines[i].1);
        match check_flag(&at, flag, line) {
            Ok(flag) => flags.push(Flag { name, ..flag }),
            Err(error) => errors.push(error),
        }
    }
    let store = raw
        .store
        .map(|store| crate::store::check_store(text, origin, store))
        .transpose()?;
    Ok(Document { flags, store })
}

/// The line of each flag's `[flags.NAME]` header, sorted by name.
fn header_lines(text: &str) -> Vec<(String, usize)> {
    let mut lines: Vec<(String, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(at, line)| match table_header(line)?.as_mut_slice() {
            [flags, name] if flags == "flags" => Some((std::mem::take(name), at + 1)),
            _ => None,
        })
        .collect();
    lines.sort();
    lines.dedup_by(|a, b| a.0 == b.0);
    lines
}

/// A TOML-level mistake (syntax, unknown key, wrong type, a table twice), placed, in
/// the words of the file (`a whole number`, not `i64`), with the key it is at.
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or_default();
    let message = friendly(error.message().trim_end());
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let in_header = line.trim_start().starts_with('[');
    if in_header && message.contains("duplicate key") {
        // `[flags.A]` twice.
        return ConfigError::in_text(text, origin, &span, "declared more than once");
    }
    if in_header {
        // A header is no flag's content: name its own flag if it is readable, never the
        // flag above it.
        let keys = crate::error::table_header(line).unwrap_or_default();
        let mut error = ConfigError::in_text(text, origin, &span, message.clone());
        error.flag = None;
        if let [flags, name, rest @ ..] = keys.as_slice() {
            if flags == "flags" {
                if !rest.is_empty() && message.starts_with("unknown field") {
                    // `[flags.new.checkout]`: a dotted name, unquoted.
                    let dotted = std::iter::once(name)
                        .chain(rest)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(".");
                    return ConfigError::in_text(
                        text,
                        origin,
                        &span,
                        format!("a flag name with `.` is quoted: `[flags.\"{dotted}\"]`"),
                    );
                }
                error.flag = Some(name.clone());
            }
        } else if message.contains("invalid unquoted key") {
            let mut error = ConfigError::in_text(
                text,
                origin,
                &span,
                "a flag name with characters other than letters, digits, `_` and `-` is quoted: \
                 `[flags.\"name\"]`",
            );
            error.flag = None;
            return error;
        }
        return error;
    }
    let error = ConfigError::in_text(text, origin, &span, message);
    // A span in a key's place is that key (`rolout = 5`); one in a value's place is
    // the value of the key before its `=` (`rollout = "50"`).
    let is_key =
        |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let key = text
        .get(span.clone())
        .filter(|k| is_key(k))
        .filter(|_| {
            let after = text.get(span.end..).unwrap_or_default().trim_start();
            after.starts_with('=') || after.starts_with('.')
        })
        .or_else(|| {
            let before = text.get(line_start..span.start)?.trim_end();
            let key = before.strip_suffix('=')?.trim();
            is_key(key).then_some(key)
        });
    match key {
        Some(key) => error.at_key(key),
        None => error,
    }
}

/// The `toml` crate's message in the words of the file: `expected a whole number` for
/// `expected i64`, a hint to drop or add quotes.
fn friendly(message: &str) -> String {
    if message.starts_with("string values must be quoted") {
        return "text is quoted: `key = \"value\"`".to_owned();
    }
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_owned();
    };
    let Some((got, expected)) = rest.split_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize"
        | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "`true` or `false`",
        "a string" => "text in quotes",
        other => other,
    };
    let hint = if got.starts_with("string") && expected != "text in quotes" {
        " (without quotes)"
    } else {
        ""
    };
    format!("expected {expected}{hint}, got {got}")
}

/// The flag of `raw`, with an empty name: the caller moves the name in.
fn check_flag(at: &At<'_>, mut raw: RawFlag, line: usize) -> Result<Flag, ConfigError> {
    let fallback = match &raw.fallback {
        None => None,
        Some(f) => Some(match f.get_ref().as_str() {
            "accept" => Fallback::Accept,
            "reject" => Fallback::Reject,
            other => {
                return Err(at.error(
                    &f.span(),
                    "fallback",
                    format!("expected \"accept\" or \"reject\", got {other:?}"),
                ))
            }
        }),
    };
    let limits = Limits {
        rate: raw
            .rate_limit
            .take()
            .map(|rate| check_rate(at, rate.into_inner()))
            .transpose()?,
        concurrency: raw
            .concurrency
            .take()
            .map(|concurrency| check_concurrency(at, concurrency.into_inner()))
            .transpose()?,
    };
    let rules = if raw.has_rules() || !limits.is_empty() {
        Some(check_rules(at, &mut raw)?)
    } else {
        None
    };
    Ok(Flag {
        name: String::new(),
        line,
        description: raw.description,
        fallback,
        rules,
        limits,
    })
}

fn check_rules(at: &At<'_>, raw: &mut RawFlag) -> Result<Rules, ConfigError> {
    let rollout = match &raw.rollout {
        None => 100,
        Some(rollout) => u32::try_from(*rollout.get_ref())
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| {
                at.error(
                    &rollout.span(),
                    "rollout",
                    format!(
                        "a rollout is a percentage from 0 to 100, got {}",
                        rollout.get_ref()
                    ),
                )
            })?,
    };
    let constraints = raw
        .constraints
        .take()
        .into_iter()
        .flatten()
        .map(|c| check_constraint(at, c))
        .collect::<Result<Vec<_>, _>>()?;
    let variants = check_variants(at, raw.variants.take().unwrap_or_default())?;
    if let Some(stickiness) = raw
        .stickiness
        .as_ref()
        .filter(|s| s.get_ref().trim().is_empty())
    {
        return Err(at.error(
            &stickiness.span(),
            "stickiness",
            "an empty stickiness: write \"default\" (userId, else sessionId), \"random\", or a label's name",
        ));
    }
    Ok(Rules {
        enabled: raw.enabled.unwrap_or(true),
        rollout,
        stickiness: raw
            .stickiness
            .take()
            .map_or_else(|| "default".to_owned(), Spanned::into_inner),
        constraints,
        variants,
    })
}

fn check_constraint(at: &At<'_>, raw: Spanned<RawConstraint>) -> Result<Constraint, ConfigError> {
    let span = raw.span();
    let constraint = raw.into_inner();
    let name = constraint.operator.get_ref().as_str();
    let Some(operator) = Operator::from_name(name) else {
        let names: Vec<&str> = Operator::ALL.iter().map(|o| o.name()).collect();
        return Err(at.error(
            &constraint.operator.span(),
            "operator",
            format!(
                "unknown operator {name:?}; expected one of {}",
                names.join(", ")
            ),
        ));
    };
    if constraint.label.get_ref().trim().is_empty() {
        return Err(at.error(
            &constraint.label.span(),
            "label",
            "a constraint needs the name of the label it reads, e.g. `label = \"region\"`",
        ));
    }
    let (values, value, span, key) = match operator.arity() {
        Arity::One => {
            let Some(value) = constraint.value else {
                let span = constraint.values.as_ref().map_or(span, Spanned::span);
                return Err(at.error(
                    &span,
                    "value",
                    format!("{name} compares against one `value = ...`, not a list"),
                ));
            };
            let span = value.span();
            (Vec::new(), value.into_inner().0, span, "value")
        }
        Arity::List => {
            let Some(values) = constraint.values else {
                let span = constraint.value.as_ref().map_or(span, Spanned::span);
                return Err(at.error(
                    &span,
                    "values",
                    format!("{name} takes a list: `values = [...]`"),
                ));
            };
            let span = values.span();
            let texts = values.into_inner().into_iter().map(|s| s.0).collect();
            (texts, String::new(), span, "values")
        }
    };
    if key == "values" && values.is_empty() {
        return Err(at.error(
            &span,
            key,
            format!("{name} with no values matches nothing: list at least one, e.g. `values = [\"eu\"]`"),
        ));
    }
    if values.len() > limits::MAX_VALUES {
        return Err(at.error(
            &span,
            key,
            format!(
                "{} values; a constraint may list at most {}",
                values.len(),
                limits::MAX_VALUES
            ),
        ));
    }
    if let Some(long) = values
        .iter()
        .chain(std::iter::once(&value))
        .find(|v| v.len() > limits::MAX_VALUE_BYTES)
    {
        return Err(at.error(
            &span,
            key,
            format!(
                "a value of {} bytes; a constraint value may be at most {} bytes",
                long.len(),
                limits::MAX_VALUE_BYTES
            ),
        ));
    }
    let comparand = operator
        .comparand(values, &value)
        .map_err(|message| at.error(&span, key, message))?;
    Ok(Constraint {
        label: constraint.label.into_inner(),
        operator,
        comparand,
        inverted: constraint.inverted,
        case_insensitive: constraint.case_insensitive,
    })
}

const PAYLOAD_FORMS: &str = "a payload is a string, or { type = \"json\", value = \"...\" }";

fn check_variants(at: &At<'_>, raw: Vec<Spanned<RawVariant>>) -> Result<Vec<Variant>, ConfigError> {
    let first = raw.first().map(Spanned::span);
    let mut variants: Vec<Variant> = Vec::with_capacity(raw.len());
    for spanned in raw {
        let variant = spanned.into_inner();
        let name = variant.name.get_ref();
        if name.is_empty() {
            return Err(at.error(&variant.name.span(), "name", "a variant needs a name"));
        }
        if variants.iter().any(|v| v.name == *name) {
            return Err(at.error(
                &variant.name.span(),
                "name",
                format!("duplicate variant {name:?}"),
            ));
        }
        let weight = match &variant.weight {
            None => 1,
            Some(w) => u32::try_from(*w.get_ref()).map_err(|_| {
                at.error(
                    &w.span(),
                    "weight",
                    format!("a weight is a whole number from 0 up, got {}", w.get_ref()),
                )
            })?,
        };
        let payload = match &variant.payload {
            None => None,
            Some(payload) => Some(match payload.get_ref() {
                toml::Value::String(s) => Payload {
                    kind: "string".to_owned(),
                    value: s.clone(),
                },
                toml::Value::Table(table) => {
                    let field = |key: &str| table.get(key).and_then(toml::Value::as_str);
                    match (field("type"), field("value")) {
                        (Some(kind), Some(value)) if table.len() == 2 => Payload {
                            kind: kind.to_owned(),
                            value: value.to_owned(),
                        },
                        _ => return Err(at.error(&payload.span(), "payload", PAYLOAD_FORMS)),
                    }
                }
                _ => return Err(at.error(&payload.span(), "payload", PAYLOAD_FORMS)),
            }),
        };
        variants.push(Variant {
            name: variant.name.into_inner(),
            weight,
            payload,
            stickiness: variant.stickiness,
            overrides: variant
                .overrides
                .into_iter()
                .flatten()
                .map(|o| Override {
                    label: o.label,
                    values: o.values,
                })
                .collect(),
        });
    }
    if let Some(first) = first
        .clone()
        .filter(|_| variants.iter().all(|v| v.weight == 0))
    {
        return Err(at.error(&first, "variants", "every variant has weight 0"));
    }
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if let Some(first) = first.filter(|_| total > u64::from(u32::MAX)) {
        return Err(at.error(
            &first,
            "variants",
            format!(
                "the weights add up to {total}; they may add up to {} at most",
                u32::MAX
            ),
        ));
    }
    Ok(variants)
}

/// A whole number from `minimum` up, or an error at it.
fn count(
    at: &At<'_>,
    value: &Spanned<i64>,
    key: &str,
    minimum: u64,
    what: &str,
) -> Result<u64, ConfigError> {
    u64::try_from(*value.get_ref())
        .ok()
        .filter(|n| *n >= minimum)
        .ok_or_else(|| {
            at.error(
                &value.span(),
                key,
                format!(
                    "{what} is a whole number from {minimum} up, got {}",
                    value.get_ref()
                ),
            )
        })
}

fn max_keys(at: &At<'_>, value: Option<&Spanned<i64>>) -> Result<usize, ConfigError> {
    value.map_or(Ok(DEFAULT_MAX_KEYS), |v| {
        count(at, v, "max_keys", 1, "`max_keys`").map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    })
}

fn check_rate(at: &At<'_>, rate: RawRateLimit) -> Result<RateLimit, ConfigError> {
    let limit = count(at, &rate.limit, "limit", 1, "a rate `limit`")?;
    let per = crate::duration::parse(rate.per.get_ref())
        .map_err(|error| at.error(&rate.per.span(), "per", error.to_string()))
        .and_then(|per| {
            if per.is_zero() {
                Err(at.error(&rate.per.span(), "per", "`per` must be longer than 0"))
            } else {
                Ok(per)
            }
        })?;
    let burst = match &rate.burst {
        None => limit,
        Some(burst) => count(at, burst, "burst", 1, "a `burst`")?,
    };
    let scope = crate::store::scope(rate.scope.as_ref())
        .map_err(|(span, message)| at.error(&span, "scope", message))?;
    Ok(RateLimit {
        limit,
        per,
        burst,
        max_keys: keys_by(at, rate.by.as_ref(), rate.max_keys.as_ref())?,
        by: rate.by,
        scope,
    })
}

/// `max_keys`, which only a limit per label value (`by`) has.
fn keys_by(
    at: &At<'_>,
    by: Option<&String>,
    value: Option<&Spanned<i64>>,
) -> Result<usize, ConfigError> {
    if let (None, Some(value)) = (by, value) {
        return Err(at.error(
            &value.span(),
            "max_keys",
            "`max_keys` counts the label values of a limit per value: add `by = \"label\"`, or remove it",
        ));
    }
    max_keys(at, value)
}

fn check_concurrency(at: &At<'_>, raw: RawConcurrency) -> Result<Concurrency, ConfigError> {
    let max = count(at, &raw.max, "max", 1, "a concurrency `max`")?;
    let queue = match &raw.queue {
        None => 0,
        Some(queue) => count(at, queue, "queue", 0, "a `queue`")?,
    };
    let scope = crate::store::scope(raw.scope.as_ref())
        .map_err(|(span, message)| at.error(&span, "scope", message))?;
    let lease = match (&raw.lease, scope) {
        (None, _) => crate::document::DEFAULT_LEASE,
        (Some(lease), Scope::Global) => crate::store::lease(lease)
            .map_err(|(span, message)| at.error(&span, "lease", message))?,
        (Some(lease), Scope::Local) => {
            return Err(at.error(
                &lease.span(),
                "lease",
                "a `lease` is how long a dead instance's slots of a global limit last: add `scope = \"global\"`, or remove it",
            ))
        }
    };
    if let (Scope::Global, Some(scope)) = (scope, &raw.scope) {
        if raw.by.is_some() {
            return Err(at.error(
                &scope.span(),
                "scope",
                "a global concurrency limit per label value (`by`) is not supported yet: remove `by` for one global limit, or keep `by` with `scope = \"local\"`",
            ));
        }
    }
    Ok(Concurrency {
        max: usize::try_from(max).unwrap_or(usize::MAX),
        queue: usize::try_from(queue).unwrap_or(usize::MAX),
        max_keys: keys_by(at, raw.by.as_ref(), raw.max_keys.as_ref())?,
        by: raw.by,
        scope,
        lease,
    })
}

#[cfg(test)]
mod friendly_tests {
    /// Mistakes an editor makes, each told in the file's words, at its key and flag,
    /// never in the parser's type names.
    #[test]
    fn type_mistakes_name_the_key_and_the_kind_of_value() {
        for (text, wanted) in [
            ("[flags.A]\nrollout = \"50\"\n", "flowgate.toml:2:11: flag `A`, key `rollout`: expected a whole number (without quotes), got string \"50\""),
            ("[flags.A]\nrollout = 50.5\n", "flowgate.toml:2:11: flag `A`, key `rollout`: expected a whole number, got floating point `50.5`"),
            ("[flags.A]\nenabled = \"yes\"\n", "flowgate.toml:2:11: flag `A`, key `enabled`: expected `true` or `false` (without quotes), got string \"yes\""),
            ("[flags.A]\nfallback = accept\n", "key `fallback`: text is quoted"),
            ("[flags.A]\ndescription = 5\n", "flag `A`, key `description`: expected text in quotes, got integer `5`"),
            ("[flags.b]\n[flags.über]\n", "flowgate.toml:2:8: a flag name with characters other than"),
            ("[flags.new.checkout]\n", "a flag name with `.` is quoted: `[flags.\"new.checkout\"]`"),
        ] {
            let error = crate::parse(text, "flowgate.toml").unwrap_err().to_string();
            assert!(error.contains(wanted), "{text:?}\n got: {error}\nwant: {wanted}");
            for internal in ["i64", "u32", "RawFlag", "RawFile", "struct"] {
                assert!(!error.contains(internal), "{text:?}: {error}");
            }
        }
    }
}
