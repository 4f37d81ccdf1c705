//! The HTTP side of talking to Unleash: the client (its headers, the token marked
//! sensitive), reading a body within a bound, and what a server asks of a retry.
//!
//! A reply is read in chunks up to [`MAX_BODY_BYTES`]: a server (or whatever answers in
//! its place) cannot make the client hold more than that, however much it sends.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{UnleashConfig, SDK_NAME, SPEC_VERSION};

/// The largest reply (and backup) read, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 20;

/// The longest a server's `Retry-After` is honoured; longer asks wait this long.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The headers of every request. The token goes in a header marked sensitive, so that
/// it never appears in `Debug` output or logs of the HTTP stack (and `reqwest` drops it
/// on a redirect to another host).
pub(super) fn client(config: &UnleashConfig) -> Result<reqwest::Client, String> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str, sensitive: bool| -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        let mut value = HeaderValue::from_str(value)
            // The value may be the token: say which header, never what was in it.
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        value.set_sensitive(sensitive);
        headers.insert(name, value);
        Ok(())
    };
    add("authorization", &config.api_token, true)?;
    add("unleash-appname", &config.app_name, false)?;
    add("unleash-instanceid", &config.instance_id, false)?;
    add("unleash-connection-id", &config.connection_id, false)?;
    add("unleash-sdk", SDK_NAME, false)?;
    add("unleash-client-spec", SPEC_VERSION, false)?;
    for (name, value) in &config.custom_headers {
        add(name, value, false)?;
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(format!("{SDK_NAME} ({})", config.app_name))
        .timeout(config.request_timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The body of `response` as text, read up to [`MAX_BODY_BYTES`].
pub(super) async fn text(mut response: reqwest::Response) -> Result<String, String> {
    let too_large = || format!("the reply is larger than {} MiB", MAX_BODY_BYTES >> 20);
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("the reply was cut short: {}", error.without_url()))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "the reply is not UTF-8 text".to_owned())
}

/// How long a `Retry-After` header asks to wait: whole seconds or an HTTP date, at most
/// [`MAX_RETRY_AFTER`]; `None` without a header that reads.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let wait = at.duration_since(jiff::Timestamp::now());
        Duration::try_from(wait).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_within_the_cap() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&headers("99999")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(retry_after(&headers("soon")), None);
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let wait = retry_after(&headers(&date)).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
    }
}
