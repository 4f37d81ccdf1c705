//! With other attributes, before or after: tracing, tokio, `#[must_use]`, doc comments
//! and visibility are kept. (Gated axum handlers routed by a `Router` are compiled in
//! `tests/tests/lint.rs`, whose crate has axum.)

use flowgate::feature_gate;

/// Documented, and still `#[must_use]` after the rewrite.
#[must_use]
#[feature_gate("AwesomeFeature", on_reject = || 0)]
pub(crate) fn kept_attributes() -> u32 {
    1
}

#[tracing::instrument]
#[feature_gate("AwesomeFeature")]
pub async fn instrumented_outside(id: u32) -> Option<u32> {
    Some(id)
}

#[feature_gate("AwesomeFeature")]
#[tracing::instrument(ret)]
pub fn instrumented_inside(id: u32) -> Option<u32> {
    Some(id)
}

#[tokio::test]
#[feature_gate("AwesomeFeature")]
async fn gated_test_inside() {}

#[feature_gate("AwesomeFeature")]
#[tokio::test]
async fn gated_test_outside() {}

fn main() {
    let _ = kept_attributes();
    let _ = instrumented_outside(1);
    let _ = instrumented_inside(1);
}
