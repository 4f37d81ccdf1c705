//! What `#[feature_gate]` expansions call. Not public API: no stability promise.

use std::future::Future;
pub use std::time::Duration;

use tracing::Instrument as _;

pub use crate::client::{global, CallSite};
pub use crate::flow::{Flow, FlowStatus};
pub use crate::labels::{Entry as LabelEntry, LabelKey, LabelValue, Labels, LendLabel, Value};
pub use crate::reject::{Fallback, FromRejection, Rejection};
pub use crate::source::Evaluation;

use crate::client::Client;

/// The labels of a gate that declares none: shared, so a call neither builds nor drops
/// a set of its own.
pub static NO_LABELS: Labels<'static> = Labels::new();

/// An async gate's start without a future, when the flow is accepted at once; else the
/// evaluation, for [`start_flow`].
#[inline]
pub fn try_start_flow(
    client: &Client,
    site: &'static CallSite,
    labels: &Labels<'_>,
) -> Result<Flow, Evaluation> {
    client.try_start_flow_at(site, labels)
}

/// The rest of an async gate's start: the future itself, not one wrapping it (a gated
/// function's future reserves room for it).
pub fn start_flow<'a>(
    client: &'a Client,
    site: &'static CallSite,
    labels: &'a Labels<'a>,
    timeout: Duration,
    evaluation: Evaluation,
) -> impl Future<Output = Flow> + 'a {
    client.start_flow_at(site, labels, timeout, evaluation)
}

pub fn start_flow_blocking(
    client: &Client,
    site: &'static CallSite,
    labels: &Labels<'_>,
    timeout: Duration,
) -> Flow {
    client.start_flow_blocking_at(site, labels, timeout)
}

/// The rejection of a rejected flow, owned, so that the flow can be ended before the
/// caller builds its answer. An accepted flow is only looked at, never moved.
#[inline]
pub fn rejection(flow: &Flow) -> Option<Rejection> {
    flow.rejection().cloned()
}

pub fn end_rejected(flow: Flow) {
    flow.end();
}

/// Runs a sync body inside the flow's span. Taking `FnOnce` lets the body's closure
/// move its captures out, which borrowed returns (`-> &mut T`) need.
pub fn run_in_span<R>(flow: &Flow, body: impl FnOnce() -> R) -> R {
    flow.span().in_scope(body)
}

/// Runs an async body inside the flow's span.
pub fn instrument<F: Future>(flow: &Flow, body: F) -> tracing::instrument::Instrumented<F> {
    body.instrument(flow.span().clone())
}

/// Ends the flow where it stands: moving a flow costs more than ending it. Its drop,
/// at the end of the gated function, then does nothing.
#[inline]
pub fn end(flow: &mut Flow, status: FlowStatus) {
    flow.end_in_place(status);
}

/// Finds the status of a body's output by autoref specialisation: `Result` values
/// pick [`ResultStatus`], everything else falls through to [`OtherStatus`].
#[allow(missing_debug_implementations)]
pub struct StatusProbe<'a, T>(pub &'a T);

pub trait ResultStatus {
    fn flow_status(&self) -> FlowStatus;
}

impl<T, E> ResultStatus for StatusProbe<'_, Result<T, E>> {
    fn flow_status(&self) -> FlowStatus {
        if self.0.is_ok() {
            FlowStatus::Ok
        } else {
            FlowStatus::Error
        }
    }
}

pub trait OtherStatus {
    fn flow_status(&self) -> FlowStatus;
}

impl<T> OtherStatus for &StatusProbe<'_, T> {
    fn flow_status(&self) -> FlowStatus {
        FlowStatus::Ok
    }
}

/// What `#[flowgate::test]` expansions call: overrides for the test's thread, and a
/// runtime for an async test with no runtime attribute of its own.
pub mod test {
    /// Whether the `testing` feature is on: `#[flowgate::test]` needs it, and says so
    /// in one error at the attribute when it is off.
    #[diagnostic::on_unimplemented(
        message = "`#[flowgate::test]` needs flowgate's `testing` feature",
        label = "flag overrides are compiled in only with the `testing` feature",
        note = "add it where tests get flowgate: `[dev-dependencies] flowgate = {{ version = \"0.2\", features = [\"testing\"] }}`"
    )]
    pub trait TestingFeature {}

    /// The `testing` feature is on.
    #[derive(Clone, Copy, Debug)]
    pub struct On;
    /// The `testing` feature is off.
    #[derive(Clone, Copy, Debug)]
    pub struct Off;

    #[cfg(feature = "testing")]
    impl TestingFeature for On {}

    #[cfg(feature = "testing")]
    pub const FEATURE: On = On;
    #[cfg(not(feature = "testing"))]
    pub const FEATURE: Off = Off;

    #[cfg(feature = "testing")]
    pub type Guard = crate::testing::OverrideGuard;
    #[cfg(not(feature = "testing"))]
    pub type Guard = ();

    /// The overrides of a test, for its thread, until the guard goes.
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn override_flags<F: TestingFeature>(_: F, flags: &[(&str, bool)]) -> Guard {
        crate::testing::override_flags(flags.iter().copied())
    }

    /// Never called: without the feature, the bound on `F` fails to compile.
    #[cfg(not(feature = "testing"))]
    #[must_use]
    pub fn override_flags<F: TestingFeature>(_: F, _: &[(&str, bool)]) -> Guard {}

    /// Runs an async test on a current-thread runtime, as `#[tokio::test]` does.
    ///
    /// # Panics
    /// When the runtime cannot be built.
    pub fn block_on<F: core::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test")
            .block_on(future)
    }
}
