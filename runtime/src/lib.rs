//! Put any function behind a feature flag and flow control with one attribute.
//!
//! ```
//! use flowgate::{feature_gate, testing::InMemorySource};
//!
//! #[feature_gate("AwesomeFeature", on_reject = || "maybe later")]
//! fn awesome() -> &'static str {
//!     "the awesome feature"
//! }
//!
//! let source = InMemorySource::new().enable("AwesomeFeature");
//! flowgate::set_global(source.clone().into_client()).unwrap();
//! assert_eq!(awesome(), "the awesome feature");
//!
//! source.set("AwesomeFeature", false);
//! assert_eq!(awesome(), "maybe later");
//!
//! let counts = flowgate::global().metrics().flag("AwesomeFeature");
//! assert_eq!((counts.accepted, counts.rejected, counts.in_flight), (1, 1, 0));
//! ```
//!
//! A gated call starts a [`Flow`]: the [`Client`] asks its decision source whether the
//! flag is on for the call's [`Labels`], applies the flag's fallback and limits, runs
//! the body only when the flow is accepted, and always ends the flow with a status: Ok,
//! Error (an `Err`, a panic) or cancelled (a dropped future). A flow that is not
//! accepted carries a [`Rejection`]. [`Client::metrics`] counts every outcome per flag,
//! and every flow is a `flowgate.flow` tracing span at DEBUG level.
//!
//! Flag names are checked at compile time against the crate's `flowgate.toml`: see
//! [`feature_gate`] for the attribute and the manifest.
//!
//! # Where things are
//!
//! The [`guide`] has a chapter each on the rules, the attribute, sources, limits and
//! observability.
//!
//! - The root: the attribute, [`Client`], [`Labels`] and [`labels!`], [`Flow`],
//!   [`Rejection`] and its [`RejectReason`], [`Variant`], [`ConfigError`].
//! - [`engine`]: the embedded engine, rules from `flowgate.toml` (the default source).
//! - `unleash` (feature `unleash`): Unleash as a source.
//! - [`source`]: the [`source::DecisionSource`] trait, to write your own.
//! - [`testing`]: an in-memory source set from code; with the `testing` feature, flag
//!   overrides local to one test.
//! - `tower` (feature `tower`): `FlowgateLayer`, to gate routes, routers and services.
//! - [`labels`](mod@labels): label values, and ambient labels ([`labels::scope`]).
//! - [`metrics`]: the counters [`Client::metrics`] returns.
//! - [`inspect`]: what [`Client::inspect`] tells: flags, rules, limits, the source.
//! - Observability: flows are `flowgate.flow` spans with OpenTelemetry's feature-flag
//!   attributes; `prometheus` (feature `prometheus`): a Prometheus collector;
//!   `status` (feature `axum`): a status page.
//! - `ofrep` (feature `axum`): an OFREP server, for OpenFeature SDKs in other
//!   languages; `openfeature` (feature `openfeature`): OpenFeature both ways.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `watch` | yes | rules files reloaded when they change (`notify`) |
//! | `regex` | yes | the `REGEX` constraint operator (`regex`) |
//! | `quanta` | yes | a faster clock for rate limits (`quanta`) |
//! | `unleash` | no | Unleash as a decision source (`reqwest`, `rustls`) |
//! | `axum` | no | [`Rejection`] answers axum requests (404, 429, 503); `extract::Flag`; the status page (`status`) and the OFREP server (`ofrep`) |
//! | `prometheus` | no | a Prometheus / OpenMetrics collector (`prometheus-client`) |
//! | `openfeature` | no | OpenFeature both ways: a provider over a `Client`, a source over a provider (`open-feature`) |
//! | `tower` | no | `tower::FlowgateLayer`: gate routes, routers and services by flag |
//! | `aperture` | no | an Aperture agent as a decision source (`aperture`; `tonic`, `rustls`) |
//! | `tonic` | no | `tower`, and gRPC answers to rejections (`tonic::Status`) |
//! | `testing` | no | flag overrides local to one test (`testing::override_flags`, `#[flowgate::test]`); for `[dev-dependencies]` |
//!
//! With `default-features = false`, flowgate decides from a rules text or file read
//! once, with no HTTP stack and no file watcher.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "aperture")]
pub mod aperture;
mod background;
mod client;
mod clock;
pub mod engine;
pub mod explain;
#[cfg(feature = "axum")]
pub mod extract;
mod flow;
pub mod guide;
mod histogram;
pub mod inspect;
pub mod labels;
mod limits;
mod memo;
pub mod metrics;
#[cfg(feature = "axum")]
pub mod ofrep;
#[cfg(feature = "openfeature")]
pub mod openfeature;
#[cfg(feature = "testing")]
mod overrides;
mod policy;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod published;
mod reject;
#[cfg(any(feature = "axum", feature = "tower"))]
mod respond;
mod rules;
mod shards;
pub mod source;
#[cfg(feature = "axum")]
pub mod status;
mod telemetry;
pub mod testing;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "unleash")]
pub mod unleash;
mod variant;
#[cfg(feature = "watch")]
mod watch;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::{global, set_global, AsClient, AsFlag, Client, ClientBuilder, SetGlobalError};
pub use flow::{Flow, FlowStatus};
pub use flowgate_config::ConfigError;
pub use flowgate_macros::{feature_gate, flags, test};
pub use labels::Labels;
#[cfg(feature = "redis")]
pub use limits::global::StoreStats;
pub use reject::{
    argument, Fallback, FromRejection, RejectHandler, RejectReason, Rejection, RejectionError,
};
pub use variant::{Variant, VariantPayload};

// The paths of 0.1, kept so that code written against it builds; hidden from the docs,
// to be removed in 0.3. CHANGELOG.md maps each to its new place.
#[doc(hidden)]
pub use engine::{Engine, ReloadState};
#[doc(hidden)]
pub use flow::Decision;
#[doc(hidden)]
pub use labels::{Iter as LabelsIter, LabelValue};
#[doc(hidden)]
pub use metrics::{FlowCounts, KeyCounts, Metrics, RejectionsByReason};
#[doc(hidden)]
pub use source::{DecisionSource, EmptySource, Evaluation, Readiness, Undecided};
#[doc(hidden)]
#[cfg(feature = "unleash")]
pub use unleash::{Bootstrap, Unleash, UnleashConfig, UnleashHandle, UnleashStats};
/// The error of a rejected gated call: [`Rejection`] itself since 0.2.
#[doc(hidden)]
pub type Rejected = Rejection;
