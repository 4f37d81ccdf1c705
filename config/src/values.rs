//! How values are read, the same way for a rule (`value = "2.1.0"`) and for the label a
//! call brings (`appVersion = "2.3.0"`), in the file and in an Unleash feature state:
//! numbers, semantic versions, points in time and networks.
//!
//! Kept in one place so that the check a rules file gets at compile time, the rule the
//! runtime compiles and the label it compares against can never read a value
//! differently.

/// `text` read as a number the way Unleash reads one: surrounding spaces allowed,
/// finite only.
///
/// ```
/// use flowgate_config::values::number;
/// assert_eq!(number(" 12.5 "), Some(12.5));
/// assert_eq!(number("NaN"), None);
/// ```
pub fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A semantic version as Unleash reads one: strict semver, pre-releases included
/// (`v2.0.0` and `2.1` are not versions).
///
/// ```
/// use flowgate_config::values::version;
/// assert!(version("1.2.3-beta.1").is_some());
/// assert!(version("v1.2.3").is_none());
/// ```
pub fn version(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text.trim()).ok()
}

/// A point in time: RFC 3339 with any offset, or a plain date (midnight UTC).
///
/// ```
/// use flowgate_config::values::timestamp;
/// assert_eq!(timestamp("2024-01-01T13:00:00+01:00"), timestamp("2024-01-01T12:00:00Z"));
/// assert_eq!(timestamp("2024-01-01"), timestamp("2024-01-01T00:00:00Z"));
/// assert_eq!(timestamp("tomorrow"), None);
/// ```
pub fn timestamp(text: &str) -> Option<jiff::Timestamp> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp);
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// An address or a network (`"10.0.0.0/8"`, `"::1"`), as `IN_CIDR` and Unleash's remote
/// address strategy list them; an address is a network of one.
///
/// ```
/// use flowgate_config::values::network;
/// assert!(network("10.0.0.0/8").is_some());
/// assert_eq!(network("::1"), network("::1/128"));
/// assert_eq!(network("10.0.0.300"), None);
/// ```
pub fn network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Some(net);
    }
    text.parse::<std::net::IpAddr>().ok().map(Into::into)
}

/// Whether `pattern` is a regular expression the runtime can compile: checked with the
/// parser of the `regex` crate, which the runtime compiles with. The error is that
/// parser's, one line.
///
/// # Errors
/// The parser's message.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(drop)
        .map_err(|error| match error {
            regex_syntax::Error::Parse(error) => error.kind().to_string(),
            regex_syntax::Error::Translate(error) => error.kind().to_string(),
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked_by_the_regex_parser() {
        assert!(check_pattern("^user-[0-9]+$").is_ok());
        assert!(check_pattern("(").unwrap_err().contains("unclosed group"));
        assert!(check_pattern("a{2,1}").is_err());
    }
}
