//! The duration grammar of `flowgate.toml` and of the attribute's `timeout`: whole
//! numbers each followed by a unit, largest unit first, each unit at most once
//! (`"200ms"`, `"1s"`, `"1m30s"`, `"1h"`).
//!
//! One grammar, one set of messages, for the rules file (`per = "1s"`) and the attribute
//! (`timeout = "200ms"`, checked at compile time). A mistake says what to write instead:
//! `"1.5s"` suggests `"1500ms"`, `"200 ms"` suggests `"200ms"`.

use std::fmt;
use std::time::Duration;

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// A text that is not a duration, with what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    message: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DurationError {}

fn error(message: impl Into<String>) -> DurationError {
    DurationError {
        message: message.into(),
    }
}

/// Reads a duration such as `"200ms"`, `"1s"` or `"1m30s"`.
///
/// ```
/// use std::time::Duration;
/// use flowgate_config::duration::parse;
///
/// assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse("0s"), Ok(Duration::ZERO));
/// let error = parse("1.5s").unwrap_err().to_string();
/// assert!(error.contains("\"1500ms\""), "{error}");
/// ```
///
/// # Errors
/// What is wrong, and what to write instead where that can be worked out.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    const EXAMPLES: &str = "e.g. \"200ms\", \"1s\", \"1m30s\"";
    if text.trim().is_empty() {
        return Err(error(format!(
            "a duration is a whole number and a unit, {EXAMPLES}"
        )));
    }
    if text.chars().any(char::is_whitespace) {
        let joined: String = text.split_whitespace().collect();
        let hint = if parse(&joined).is_ok() {
            format!("write \"{joined}\"")
        } else if let Some(fixed) = with_short_unit(&joined) {
            format!("write \"{fixed}\"")
        } else {
            EXAMPLES.to_owned()
        };
        return Err(error(format!(
            "{text:?} has spaces; a duration is written without them: {hint}"
        )));
    }
    if let Some(fix) = fractional_fix(text) {
        return Err(error(format!(
            "{text:?} is not a whole number of a unit; write {fix}"
        )));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error(format!(
                "{text:?} is not a duration: expected a whole number at `{rest}`; {EXAMPLES}"
            )));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| error(format!("{text:?} is too large")))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(error(if unit.is_empty() {
                format!(
                    "`{number}` has no unit; write e.g. \"{number}ms\" or \"{number}s\" \
                     (units: h, m, s, ms)"
                )
            } else if let Some(short) = unit_alias(unit) {
                format!("unknown unit `{unit}` in {text:?}: write `{short}` (\"{number}{short}\"); the units are h, m, s and ms")
            } else {
                format!("unknown unit `{unit}` in {text:?}; the units are h, m, s and ms")
            }));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(error(format!(
                "in {text:?}, unit `{unit}` is out of order or repeated: \
                 write the largest unit first, each once (e.g. \"1m30s\")"
            )));
        }
        last_unit = Some(index);
        total_ms = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| error(format!("{text:?} is too large")))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// `"5sec"` as `"5s"`: one whole number and one unit spelt long, if that is all it is.
fn with_short_unit(text: &str) -> Option<String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() || !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let fixed = format!("{number}{}", unit_alias(unit)?);
    parse(&fixed).is_ok().then_some(fixed)
}

/// The unit meant by a longer spelling (`"sec"` → `s`), if it is a common one.
fn unit_alias(unit: &str) -> Option<&'static str> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "ms" | "msec" | "msecs" | "milli" | "millis" | "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

/// For a number with a fraction and one unit (`"1.5s"`), the same duration in whole
/// milliseconds (`"1500ms"`), quoted; `None` for anything else.
fn fractional_fix(text: &str) -> Option<String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    if !number.contains('.') {
        return None;
    }
    let (_, unit_ms) = UNITS.iter().find(|(name, _)| *name == unit)?;
    let value: f64 = number.parse().ok()?;
    #[allow(clippy::cast_precision_loss)] // unit lengths are small
    let ms = value * *unit_ms as f64;
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    if (ms - ms.round()).abs() < 1e-9 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
        let whole = ms.round() as u64;
        Some(format!("\"{whole}ms\""))
    } else {
        Some("whole numbers, e.g. \"1500ms\" for 1.5s".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1h2m3s4ms"), Ok(Duration::from_millis(3_723_004)));
        assert_eq!(parse("0ms"), Ok(Duration::ZERO));
        for bad in [
            "",
            " ",
            "1 s",
            "30s1m",
            "1s1s",
            "s",
            "1",
            "5sec",
            "-1s",
            "1.5s",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert!(
            message("1.5s").contains("\"1500ms\""),
            "{}",
            message("1.5s")
        );
        assert!(message("0.25m").contains("\"15000ms\""));
        assert!(
            message("200 ms").contains("\"200ms\""),
            "{}",
            message("200 ms")
        );
        assert!(message("200").contains("\"200ms\""), "{}", message("200"));
        assert!(message("5sec").contains("unknown unit `sec`"));
        for (text, fix) in [
            ("5sec", "\"5s\""),
            ("1 sec", "\"1s\""),
            ("2 Minutes", "\"2m\""),
            ("10 millis", "\"10ms\""),
            ("3S", "\"3s\""),
            ("1 hour", "\"1h\""),
        ] {
            assert!(message(text).contains(fix), "{text}: {}", message(text));
        }
        assert!(message("30s1m").contains("largest unit first"));
        assert!(message("1.0001ms").contains("whole numbers"));
    }
}
