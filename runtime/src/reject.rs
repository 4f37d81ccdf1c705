//! What a flow was told: accepted, or rejected with a reason.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a gate does when no decision can be made in time (no source, source not ready,
/// source error, flag unknown to the source).
///
/// The default is [`Fallback::Reject`]: a flag that cannot be confirmed on stays off.
/// Fail-open is opt-in, per flag in `flowgate.toml` (`fallback = "accept"`) or per gate
/// (`#[feature_gate("X", fallback = accept)]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Run the body anyway (fail-open).
    Accept,
    /// Do not run the body (fail-closed).
    #[default]
    Reject,
}

/// Why a flow was rejected, or why its source could not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The decision source answered: the flag is off for these labels.
    FlagDisabled,
    /// The source had no state yet (still loading) and did not get one within the
    /// gate's timeout.
    NotReady,
    /// The source is ready but does not know this flag.
    UnknownFlag,
    /// The client has no decision source configured.
    NoSource,
    /// The source failed to evaluate the flag.
    SourceError,
    /// The flag's rate limit has no token left; `retry_after` says when one is due.
    RateLimited,
    /// The flag's concurrency limit is reached and its queue is full.
    ConcurrencyLimited,
    /// The flow waited in the concurrency queue for the whole timeout.
    QueueTimeout,
}

impl RejectReason {
    /// Every reason, in a stable order.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::FlagDisabled,
        RejectReason::NotReady,
        RejectReason::UnknownFlag,
        RejectReason::NoSource,
        RejectReason::SourceError,
        RejectReason::RateLimited,
        RejectReason::ConcurrencyLimited,
        RejectReason::QueueTimeout,
    ];

    /// A stable `snake_case` name, as used in metrics and tracing fields.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::FlagDisabled => "flag_disabled",
            RejectReason::NotReady => "not_ready",
            RejectReason::UnknownFlag => "unknown_flag",
            RejectReason::NoSource => "no_source",
            RejectReason::SourceError => "source_error",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::ConcurrencyLimited => "concurrency_limited",
            RejectReason::QueueTimeout => "queue_timeout",
        }
    }

    /// Position in [`RejectReason::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            RejectReason::FlagDisabled => 0,
            RejectReason::NotReady => 1,
            RejectReason::UnknownFlag => 2,
            RejectReason::NoSource => 3,
            RejectReason::SourceError => 4,
            RejectReason::RateLimited => 5,
            RejectReason::ConcurrencyLimited => 6,
            RejectReason::QueueTimeout => 7,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RejectReason::FlagDisabled => "the flag is off for this call",
            RejectReason::NotReady => "the decision source was not ready in time",
            RejectReason::UnknownFlag => "the decision source does not know the flag",
            RejectReason::NoSource => "no decision source is configured",
            RejectReason::SourceError => "the decision source failed",
            RejectReason::RateLimited => "the rate limit is reached",
            RejectReason::ConcurrencyLimited => {
                "the concurrency limit is reached and its queue is full"
            }
            RejectReason::QueueTimeout => {
                "the flow waited for a concurrency slot until its timeout"
            }
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a particular flow was not allowed to run.
///
/// Cheap to clone: the control point name is shared, not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectReason,
    control_point: Arc<str>,
    retry_after: Option<Duration>,
}

impl Rejection {
    /// A rejection of `control_point` for `reason`.
    pub fn new(control_point: impl Into<Arc<str>>, reason: RejectReason) -> Self {
        Self {
            reason,
            control_point: control_point.into(),
            retry_after: None,
        }
    }

    pub(crate) fn shared(control_point: &Arc<str>, reason: RejectReason) -> Self {
        Self {
            reason,
            control_point: Arc::clone(control_point),
            retry_after: None,
        }
    }

    /// Sets when a retry may succeed.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Why the flow was rejected.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The control point (flag) that rejected the flow.
    pub fn control_point(&self) -> &str {
        &self.control_point
    }

    /// When a retry may succeed, if the decision knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}` was rejected: {}",
            self.control_point,
            self.reason.describe()
        )?;
        if let Some(retry_after) = self.retry_after {
            write!(f, " (retry after {retry_after:?})")?;
        }
        Ok(())
    }
}

/// The decision a flow received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The body may run.
    Accepted,
    /// The body must not run.
    Rejected(Rejection),
}

impl Decision {
    /// Whether the flow was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Decision::Accepted)
    }

    /// The rejection, if the flow was rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Decision::Accepted => None,
            Decision::Rejected(rejection) => Some(rejection),
        }
    }
}

/// The variant of a flag a call gets (A/B tests, staged configurations).
///
/// [`enabled`](Variant::enabled) is false, and the [`name`](Variant::name) is
/// `"disabled"`, when the flag is off or has no variants;
/// [`feature_enabled`](Variant::feature_enabled) tells those two apart.
///
/// A variant's name and payload are shared by every call it is handed to: handing one
/// out costs one reference count, however much it carries.
///
/// ```
/// use flowgate::{labels, Client};
///
/// let client = Client::from_toml_str(r#"
///     [flags.Checkout]
///     variants = [{ name = "blue", payload = "b" }, { name = "green", payload = "g" }]
/// "#)?;
/// let variant = client.variant("Checkout", &labels! { "userId" => 7 });
/// assert!(variant.enabled() && variant.feature_enabled());
/// assert!(["blue", "green"].contains(&variant.name()));
/// assert_eq!(variant.payload().map(|p| &*p.kind), Some("string"));
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Variant {
    chosen: Arc<VariantData>,
    enabled: bool,
    feature_enabled: bool,
}

/// What a flag's variant definition hands out: built once per snapshot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct VariantData {
    pub(crate) name: Arc<str>,
    pub(crate) payload: Option<VariantPayload>,
}

impl Variant {
    pub(crate) fn new(chosen: Arc<VariantData>, enabled: bool, feature_enabled: bool) -> Self {
        Self {
            chosen,
            enabled,
            feature_enabled,
        }
    }

    /// The variant's name (`"disabled"` when none was chosen).
    pub fn name(&self) -> &str {
        &self.chosen.name
    }

    /// Whether a variant was chosen.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the flag itself is on.
    pub fn feature_enabled(&self) -> bool {
        self.feature_enabled
    }

    /// The variant's payload, if it has one.
    pub fn payload(&self) -> Option<&VariantPayload> {
        self.chosen.payload.as_ref()
    }

    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.chosen.name
    }
}

// Flat, as if name and payload were fields: the shared `chosen` is how, not what.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name())
            .field("enabled", &self.enabled)
            .field("feature_enabled", &self.feature_enabled)
            .field("payload", &self.payload())
            .finish()
    }
}

/// The data a variant carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantPayload {
    /// The payload type: `string`, `json`, `csv` or `number` in Unleash.
    pub kind: Arc<str>,
    /// The payload itself.
    pub value: Arc<str>,
}

/// The error a rejected gate returns: wraps a [`Rejection`].
///
/// Implement `From<flowgate::Rejected>` for your error type and a gated function that
/// returns `Result<T, YourError>` needs no `on_reject`:
///
/// ```
/// use flowgate::Rejected;
///
/// #[derive(Debug)]
/// enum AppError {
///     Unavailable(Rejected),
/// }
///
/// impl From<Rejected> for AppError {
///     fn from(rejected: Rejected) -> Self {
///         AppError::Unavailable(rejected)
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected(Rejection);

impl Rejected {
    /// The rejection.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }

    /// Unwraps the rejection.
    pub fn into_rejection(self) -> Rejection {
        self.0
    }
}

impl From<Rejection> for Rejected {
    fn from(rejection: Rejection) -> Self {
        Rejected(rejection)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for Rejected {}

/// With the `axum` feature, a rejection answers the request: 404 when the flag is off
/// for the call (or cannot be decided and falls back to reject), 429 with `Retry-After`
/// when rate limited, 503 (with `Retry-After` when known) when the concurrency limit or
/// its queue turned the flow away or the source was not ready. The body is JSON:
/// `{"error", "reason", "control_point", "retry_after_secs"}`.
#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Rejected {
    fn into_response(self) -> axum_core::response::Response {
        use http::{header, HeaderValue, StatusCode};

        let rejection = self.rejection();
        let status = match rejection.reason() {
            RejectReason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RejectReason::ConcurrencyLimited
            | RejectReason::QueueTimeout
            | RejectReason::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::NOT_FOUND,
        };
        // Retry-After is whole seconds; round up so that a retry is never too early.
        let retry_after_secs = rejection
            .retry_after()
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let body = serde_json::json!({
            "error": rejection.to_string(),
            "reason": rejection.reason().as_str(),
            "control_point": rejection.control_point(),
            "retry_after_secs": retry_after_secs,
        });
        let mut response = axum_core::response::Response::new(body.to_string().into());
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Lets gated functions that return `std::io::Result` go without `on_reject`; the
/// `Rejected` is the error's inner value (`get_ref`/`into_inner`).
impl From<Rejected> for std::io::Error {
    fn from(rejected: Rejected) -> Self {
        std::io::Error::other(rejected)
    }
}

/// How a gated function without `on_reject` answers a rejected call.
///
/// Implemented for `Result<T, E>` where `E: From<Rejected>` (returns `Err`), for
/// `Option<T>` (returns `None`) and for `()`. For any other return type, give the
/// attribute an `on_reject`.
#[diagnostic::on_unimplemented(
    message = "`#[feature_gate]` cannot build a `{Self}` for a rejected call",
    label = "this return type needs `on_reject`",
    note = "add `on_reject = || value`, `on_reject = |rejection| value`, or `on_reject = path::to::fn` (taking `&flowgate::Rejection`) to the attribute",
    note = "without `on_reject`, a gated function must return `Result<T, E>` with `E: From<flowgate::Rejected>`, `Option<T>` or `()`"
)]
pub trait FromRejection {
    /// The value returned instead of running the body.
    fn from_rejection(rejection: &Rejection) -> Self;
}

impl<T, E: From<Rejected>> FromRejection for Result<T, E> {
    fn from_rejection(rejection: &Rejection) -> Self {
        Err(E::from(Rejected(rejection.clone())))
    }
}

impl<T> FromRejection for Option<T> {
    fn from_rejection(_: &Rejection) -> Self {
        None
    }
}

impl FromRejection for () {
    fn from_rejection(_: &Rejection) -> Self {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_matches_all() {
        for (i, reason) in RejectReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason}");
        }
    }

    #[test]
    fn rejection_display_names_flag_reason_and_retry() {
        let rejection = Rejection::new("Awesome", RejectReason::FlagDisabled)
            .with_retry_after(Duration::from_secs(2));
        assert_eq!(
            Rejected::from(rejection).to_string(),
            "flow `Awesome` was rejected: the flag is off for this call (retry after 2s)"
        );
    }

    #[test]
    fn from_rejection_defaults() {
        let rejection = Rejection::new("X", RejectReason::NotReady);
        let result: Result<u8, Rejected> = FromRejection::from_rejection(&rejection);
        assert_eq!(
            result.unwrap_err().rejection().reason(),
            RejectReason::NotReady
        );
        let option: Option<u8> = FromRejection::from_rejection(&rejection);
        assert_eq!(option, None);
    }
}
