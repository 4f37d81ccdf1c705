//! Why a flow did not run: one [`Rejection`] type, which is also the error a gated
//! function returns when it is rejected, its [`RejectReason`], and how a return type
//! answers a rejection ([`FromRejection`]).
//!
//! One type rather than a value and an error wrapping it: a `Rejection` is what a flow
//! was told, what `on_reject` is given, what `Result`-returning gates put in their
//! `Err`, and (with the `axum` feature) the response a rejected request gets.

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

/// Why a flow was not allowed to run: its reason, its flag, and when a retry may
/// succeed.
///
/// It is also the error of a rejected gated call: implement `From<flowgate::Rejection>`
/// for your error type and a gated function that returns `Result<T, YourError>` needs
/// no `on_reject`. `std::io::Error` and `Box<dyn Error + Send + Sync>` already convert.
///
/// ```
/// use flowgate::{feature_gate, testing::InMemorySource, RejectReason, Rejection};
///
/// #[derive(Debug)]
/// enum AppError {
///     Unavailable(Rejection),
/// }
///
/// impl From<Rejection> for AppError {
///     fn from(rejection: Rejection) -> Self {
///         AppError::Unavailable(rejection)
///     }
/// }
///
/// #[feature_gate("AwesomeFeature")]
/// fn awesome() -> Result<&'static str, AppError> {
///     Ok("awesome")
/// }
///
/// let flags = InMemorySource::new().disable("AwesomeFeature");
/// flowgate::set_global(flags.into_client()).unwrap();
/// let Err(AppError::Unavailable(rejection)) = awesome() else { panic!("rejected") };
/// assert_eq!(rejection.flag(), "AwesomeFeature");
/// assert_eq!(rejection.reason(), RejectReason::FlagDisabled);
/// assert_eq!(
///     rejection.to_string(),
///     "flow `AwesomeFeature` was rejected: the flag is off for this call"
/// );
/// ```
///
/// Cheap to clone: the flag's name is borrowed from its call site (a rejection at a
/// gated call touches no reference count another thread touches) or shared, never
/// copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectReason,
    /// The HTTP status the decision source asked for (an Aperture agent's
    /// `denied_response_status_code`), if any: it fits in the padding after `reason`.
    status: Option<std::num::NonZeroU16>,
    flag: FlagName,
    retry_after: Option<Duration>,
}

/// The name of a rejected flag: a call site's, for as long as the program runs, or a
/// shared one.
#[derive(Clone, Debug)]
pub(crate) enum FlagName {
    Static(&'static str),
    Shared(Arc<str>),
}

impl FlagName {
    #[inline]
    fn as_str(&self) -> &str {
        match self {
            FlagName::Static(name) => name,
            FlagName::Shared(name) => name,
        }
    }
}

impl PartialEq for FlagName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for FlagName {}

impl Rejection {
    /// A rejection of `flag` for `reason`.
    pub fn new(flag: impl Into<Arc<str>>, reason: RejectReason) -> Self {
        Self {
            reason,
            status: None,
            flag: FlagName::Shared(flag.into()),
            retry_after: None,
        }
    }

    #[inline]
    pub(crate) fn of(flag: FlagName, reason: RejectReason) -> Self {
        Self {
            reason,
            status: None,
            flag,
            retry_after: None,
        }
    }

    /// Sets when a retry may succeed.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Sets the HTTP status a response to this rejection should have, overriding the
    /// one its reason gives (see [`status_code`](Self::status_code)). Only client and
    /// server errors (400 to 599) are kept: a rejection is never a success.
    #[must_use]
    pub fn with_status_code(mut self, status: u16) -> Self {
        self.status = Some(status)
            .filter(|status| (400..=599).contains(status))
            .and_then(std::num::NonZeroU16::new);
        self
    }

    /// The HTTP status the decision source asked a response to this rejection to have
    /// (an Aperture agent's `denied_response_status_code`); `None` when the reason's
    /// own status applies (404 for a flag that is off, 429 for a rate limit, 503 for a
    /// full concurrency limit or a source not ready).
    ///
    /// ```
    /// use flowgate::{RejectReason, Rejection};
    ///
    /// let rejection = Rejection::new("Checkout", RejectReason::RateLimited);
    /// assert_eq!(rejection.status_code(), None);
    /// assert_eq!(rejection.with_status_code(503).status_code(), Some(503));
    /// // A rejection is never a success: 200 is ignored.
    /// let rejection = Rejection::new("Checkout", RejectReason::RateLimited);
    /// assert_eq!(rejection.with_status_code(200).status_code(), None);
    /// ```
    pub fn status_code(&self) -> Option<u16> {
        self.status.map(std::num::NonZeroU16::get)
    }

    /// Why the flow was rejected.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The flag whose flow was rejected.
    pub fn flag(&self) -> &str {
        self.flag.as_str()
    }

    /// When a retry may succeed, if the decision knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The flag whose flow was rejected.
    #[doc(hidden)]
    #[deprecated(since = "0.2.0", note = "renamed `flag()`")]
    pub fn control_point(&self) -> &str {
        self.flag.as_str()
    }

    /// The rejection itself (`Rejected` and `Rejection` are one type now).
    #[doc(hidden)]
    #[deprecated(
        since = "0.2.0",
        note = "`Rejected` is `Rejection` now: use it directly"
    )]
    pub fn rejection(&self) -> &Rejection {
        self
    }

    /// The rejection itself (`Rejected` and `Rejection` are one type now).
    #[doc(hidden)]
    #[deprecated(
        since = "0.2.0",
        note = "`Rejected` is `Rejection` now: use it directly"
    )]
    #[must_use]
    pub fn into_rejection(self) -> Rejection {
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}` was rejected: {}",
            self.flag.as_str(),
            self.reason.describe()
        )?;
        if let Some(retry_after) = self.retry_after {
            write!(f, " (retry after {retry_after:?})")?;
        }
        Ok(())
    }
}

impl Error for Rejection {}

/// The rejection's message: lets gated functions that return `Result<T, String>` go
/// without `on_reject`.
impl From<Rejection> for String {
    fn from(rejection: Rejection) -> Self {
        rejection.to_string()
    }
}

/// Lets gated functions that return `std::io::Result` go without `on_reject`; the
/// `Rejection` is the error's inner value (`get_ref`/`into_inner`).
impl From<Rejection> for std::io::Error {
    fn from(rejection: Rejection) -> Self {
        std::io::Error::other(rejection)
    }
}

/// How a gated function without `on_reject` answers a rejected call.
///
/// Implemented for `Result<T, E>` where `E: From<Rejection>` (returns `Err`), for
/// `Option<T>` (returns `None`) and for `()`. For any other return type, give the
/// attribute an `on_reject`.
#[diagnostic::on_unimplemented(
    message = "`#[feature_gate]` cannot build a `{Self}` for a rejected call",
    label = "this return type needs `on_reject`",
    note = "add `on_reject = || value`, `on_reject = |rejection| value`, or `on_reject = path::to::fn` (taking `&flowgate::Rejection`) to the attribute",
    note = "without `on_reject`, a gated function must return `Result<T, E>` with `E: From<flowgate::Rejection>`, `Option<T>` or `()`"
)]
pub trait FromRejection {
    /// The value returned instead of running the body.
    fn from_rejection(rejection: &Rejection) -> Self;
}

impl<T, E: From<Rejection>> FromRejection for Result<T, E> {
    fn from_rejection(rejection: &Rejection) -> Self {
        Err(E::from(rejection.clone()))
    }
}

/// The error type `E` of a gated function returning `Result<T, E>` without
/// `on_reject`: what a rejected call's [`Rejection`] becomes, through
/// `From<Rejection>`. Implemented for every such `E`; its only use is the message at
/// `E` when `E` is not one.
#[diagnostic::on_unimplemented(
    message = "a rejected call cannot return `Err({Self})`: `{Self}` does not implement `From<flowgate::Rejection>`",
    label = "add `on_reject = ...` to the attribute, or implement `From<flowgate::Rejection>` for `{Self}`",
    note = "for a type of your own: `impl From<flowgate::Rejection> for {Self} {{ fn from(rejection: flowgate::Rejection) -> Self {{ ... }} }}`",
    note = "for a type of another crate: `on_reject = |rejection| Err(...)` (`String`, `std::io::Error`, `Box<dyn Error>`, and with the `axum` feature `StatusCode` and `Response`, work as they are)"
)]
pub trait RejectionError: Sized {
    /// `E::from(rejection)`.
    fn from_rejection(rejection: Rejection) -> Self;
}

impl<E: From<Rejection>> RejectionError for E {
    fn from_rejection(rejection: Rejection) -> Self {
        E::from(rejection)
    }
}

/// A function that answers a rejected call: what `on_reject = path::to::function`
/// names. Implemented for functions (and closures) of `&Rejection`, of `Rejection`, and
/// of nothing, returning the gated function's return type.
///
/// ```
/// use flowgate::{feature_gate, testing::InMemorySource, Rejection};
///
/// fn describe(rejection: &Rejection) -> String {
///     format!("off: {}", rejection.flag())
/// }
/// fn owned(rejection: Rejection) -> String {
///     rejection.to_string()
/// }
/// fn closed() -> String {
///     "closed".into()
/// }
///
/// #[feature_gate("AwesomeFeature", on_reject = describe)]
/// fn by_reference() -> String { "on".into() }
/// #[feature_gate("AwesomeFeature", on_reject = owned)]
/// fn by_value() -> String { "on".into() }
/// #[feature_gate("AwesomeFeature", on_reject = closed)]
/// fn without_it() -> String { "on".into() }
///
/// flowgate::set_global(InMemorySource::new().disable("AwesomeFeature").into_client()).unwrap();
/// assert_eq!(by_reference(), "off: AwesomeFeature");
/// assert!(by_value().contains("rejected"));
/// assert_eq!(without_it(), "closed");
/// ```
#[diagnostic::on_unimplemented(
    message = "`on_reject` cannot call `{Self}` with a rejection",
    label = "`on_reject` takes a function of `&flowgate::Rejection`, of `flowgate::Rejection` or of nothing, returning the gated function's type",
    note = "e.g. `fn not_found(rejection: &flowgate::Rejection) -> Response {{ ... }}`, or a closure: `on_reject = |rejection| ...`"
)]
pub trait RejectHandler<Argument, Output> {
    /// Answers the rejected call.
    fn answer(self, rejection: Rejection) -> Output;
}

/// Markers telling [`RejectHandler`]'s implementations apart; never built.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub mod argument {
    pub struct ByReference;
    pub struct ByValue;
    pub struct Nothing;
}

impl<F: FnOnce(&Rejection) -> O, O> RejectHandler<argument::ByReference, O> for F {
    fn answer(self, rejection: Rejection) -> O {
        self(&rejection)
    }
}

impl<F: FnOnce(Rejection) -> O, O> RejectHandler<argument::ByValue, O> for F {
    fn answer(self, rejection: Rejection) -> O {
        self(rejection)
    }
}

impl<F: FnOnce() -> O, O> RejectHandler<argument::Nothing, O> for F {
    fn answer(self, _: Rejection) -> O {
        self()
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
            rejection.to_string(),
            "flow `Awesome` was rejected: the flag is off for this call (retry after 2s)"
        );
    }

    #[test]
    fn from_rejection_defaults() {
        let rejection = Rejection::new("X", RejectReason::NotReady);
        let result: Result<u8, Rejection> = FromRejection::from_rejection(&rejection);
        assert_eq!(result.unwrap_err().reason(), RejectReason::NotReady);
        let option: Option<u8> = FromRejection::from_rejection(&rejection);
        assert_eq!(option, None);
    }
}
