//! The HTTP answer to a rejection, shared by the tower layer and axum's
//! `IntoResponse for Rejection`: a status by reason, `Retry-After` when a retry can
//! succeed, and a body that never names the flag (a hidden route must look like one
//! that does not exist).

use std::time::Duration;

use http::{header, HeaderValue, StatusCode};

use crate::reject::{RejectReason, Rejection};

/// The status of a rejection: 429 for a rate limit, 503 for a full concurrency limit,
/// its queue's timeout or a source not ready yet, 404 for everything else (the flag is
/// off, or undecided and rejected by its fallback).
pub(crate) fn status(reason: RejectReason) -> StatusCode {
    match reason {
        RejectReason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        RejectReason::ConcurrencyLimited | RejectReason::QueueTimeout | RejectReason::NotReady => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::NOT_FOUND,
    }
}

/// `Retry-After` in whole seconds, rounded up so that a retry is never too early.
pub(crate) fn retry_after_secs(retry_after: Option<Duration>) -> Option<u64> {
    retry_after.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// The parts of a rejection's default response: status, headers, body. A 404 has an
/// empty body, as a router's own 404 does; a 429 or 503 says why in JSON
/// (`{"error", "reason", "retry_after_secs"}`), without the flag's name.
pub(crate) fn parts(
    rejection: &Rejection,
) -> (StatusCode, Vec<(header::HeaderName, HeaderValue)>, String) {
    let status = status(rejection.reason());
    let retry = retry_after_secs(rejection.retry_after());
    let mut headers = Vec::new();
    if status == StatusCode::NOT_FOUND {
        return (status, headers, String::new());
    }
    headers.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    if let Some(secs) = retry {
        headers.push((header::RETRY_AFTER, HeaderValue::from(secs)));
    }
    let body = serde_json::json!({
        "error": status.canonical_reason().unwrap_or("rejected"),
        "reason": rejection.reason().as_str(),
        "retry_after_secs": retry,
    });
    (status, headers, body.to_string())
}
