//! A guide to flowgate, chapter by chapter: what the README says, as reference, with
//! examples that run as tests. Doc-only: nothing here is code.
//!
//! - The `flowgate.toml` rules reference, in [`rules`].
//! - `#[feature_gate]`, in [`attribute`].
//! - Where decisions come from, in [`sources`].
//! - Rate and concurrency limits and the queue, in [`limits`].
//! - Limits shared by every instance, kept in Redis (the `redis` feature), in
//!   `global_limits`.
//! - Counts, inspection, tracing, Prometheus, the status page, in [`observability`].

#[doc = include_str!("../../docs/guide/rules.md")]
pub mod rules {}

#[doc = include_str!("../../docs/guide/attribute.md")]
pub mod attribute {}

#[doc = include_str!("../../docs/guide/sources.md")]
pub mod sources {}

#[doc = include_str!("../../docs/guide/limits.md")]
pub mod limits {}

#[cfg(feature = "redis")]
#[doc = include_str!("../../docs/guide/global-limits.md")]
pub mod global_limits {}

#[doc = include_str!("../../docs/guide/observability.md")]
pub mod observability {}
