//! The HTTP answer to a rejection, shared by the tower layer and axum's
//! `IntoResponse for Rejection` (which lives here, beside the answer it gives): a status by reason, `Retry-After` when a retry can
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

/// The status of `rejection`'s response: the one its source asked for, else its
/// reason's.
pub(crate) fn status_of(rejection: &Rejection) -> StatusCode {
    rejection
        .status_code()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| status(rejection.reason()))
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
    let status = status_of(rejection);
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

/// With the `axum` feature, a rejection answers the request: 404 when the flag is off
/// for the call (or cannot be decided and falls back to reject), 429 with `Retry-After`
/// when rate limited, 503 (with `Retry-After` when known) when the concurrency limit or
/// its queue turned the flow away or the source was not ready.
///
/// The body never names the flag, so a gated route cannot be told from a missing one:
/// a 404 is empty, as a router's own; a 429 or 503 is JSON
/// `{"error", "reason", "retry_after_secs"}`. For another body, use `on_reject`.
#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Rejection {
    fn into_response(self) -> axum_core::response::Response {
        let (status, headers, body) = parts(&self);
        let mut response = axum_core::response::Response::new(body.into());
        *response.status_mut() = status;
        response.headers_mut().extend(headers);
        response
    }
}

/// A rejection's status code alone, as its response has it (404, 429, 503): lets axum
/// handlers returning `Result<T, StatusCode>` go without `on_reject`.
#[cfg(feature = "axum")]
impl From<Rejection> for http::StatusCode {
    fn from(rejection: Rejection) -> Self {
        status_of(&rejection)
    }
}

/// A rejection's response (see its `IntoResponse`): lets handlers returning
/// `Result<T, Response>` go without `on_reject`.
#[cfg(feature = "axum")]
impl From<Rejection> for axum_core::response::Response {
    fn from(rejection: Rejection) -> Self {
        axum_core::response::IntoResponse::into_response(rejection)
    }
}
