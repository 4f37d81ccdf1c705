//! OpenFeature both ways (feature `openfeature`, `open-feature` 0.3):
//!
//! - [`FlowgateProvider`]: an OpenFeature `FeatureProvider` backed by a flowgate
//!   [`Client`](crate::Client), for code written against the OpenFeature API. Booleans
//!   are the flag's answer; strings, integers, floats and structures come from the
//!   chosen variant's payload (or its name, for a string).
//! - [`OpenFeatureSource`]: a [`DecisionSource`](crate::DecisionSource) backed by any
//!   OpenFeature provider, so that `#[feature_gate]`, fallbacks and limits work on flags
//!   from flagd, Flipt or whatever provider a team already runs.
//!
//! Both map contexts the same way: the targeting key is the `userId` label, and every
//! other field a label of its name (numbers, booleans and times as text). Both map
//! reasons (OpenTelemetry's: static, split, targeting match, disabled, default, error)
//! and error codes (flag not found, provider not ready, type mismatch, invalid
//! context).

mod context;
mod provider;
mod source;

pub use provider::FlowgateProvider;
pub use source::OpenFeatureSource;
