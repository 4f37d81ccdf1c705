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
//! let counts = flowgate::global().metrics().control_point("AwesomeFeature");
//! assert_eq!((counts.accepted, counts.rejected, counts.in_flight), (1, 1, 0));
//! ```
//!
//! A gated call starts a [`Flow`]: the [`Client`] asks its [`DecisionSource`] whether
//! the flag is on for the call's [`Labels`], the body runs only when the flow is
//! accepted, and the flow always ends with a status: Ok, Error (an `Err`, a panic) or
//! cancelled (a dropped future). [`Client::metrics`] counts every outcome per control
//! point, and every flow is a `flowgate.flow` tracing span at DEBUG level.
//!
//! Flag names are checked at compile time against the crate's `flowgate.toml`: see
//! [`feature_gate`] for the attribute and the manifest.
//!
//! The same flow API is there without the attribute, for code that wants to decide by
//! hand ([`Client::start_flow`], [`Client::start_flow_blocking`], [`Client::is_enabled`]).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod decision;
mod engine;
mod flow;
mod labels;
mod limits;
mod metrics;
mod published;
mod shards;
mod source;
pub mod testing;
mod unleash;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::{global, set_global, Client, ClientBuilder, SetGlobalError};
pub use decision::{
    Decision, Fallback, FromRejection, RejectReason, Rejected, Rejection, Variant, VariantPayload,
};
pub use engine::{ConfigError, Engine, ReloadState};
pub use flow::{Flow, FlowStatus};
pub use flowgate_macros::feature_gate;
pub use labels::{Iter as LabelsIter, LabelValue, Labels};
pub use limits::{KeyCounts, Limits};
pub use metrics::{FlowCounts, Metrics, RejectionsByReason};
pub use source::{
    DecisionSource, EmptySource, Evaluation, FlagSlot, Readiness, StateStamp, Undecided,
};
pub use unleash::{Bootstrap, Unleash, UnleashConfig, UnleashHandle, UnleashStats};
