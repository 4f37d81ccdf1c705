//! With other attributes, before or after: tracing, tokio, axum handlers, `#[must_use]`,
//! doc comments and visibility are kept.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
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

#[feature_gate(
    "AwesomeFeature",
    timeout = "200ms",
    on_reject = || (StatusCode::SERVICE_UNAVAILABLE, "Flow was rejected")
)]
async fn awesome_handler() -> (StatusCode, &'static str) {
    (StatusCode::ACCEPTED, "Flow was accepted")
}

fn not_found(_: &flowgate::Rejection) -> (StatusCode, axum::Json<&'static str>) {
    (StatusCode::NOT_FOUND, axum::Json("not found"))
}

#[feature_gate("delete_survey_flag", labels(surveyId = id), on_reject = not_found)]
async fn delete_survey(
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> (StatusCode, axum::Json<&'static str>) {
    let _ = id;
    (StatusCode::OK, axum::Json("deleted"))
}

#[tokio::test]
#[feature_gate("AwesomeFeature")]
async fn gated_test_inside() {}

#[feature_gate("AwesomeFeature")]
#[tokio::test]
async fn gated_test_outside() {}

fn main() {
    let _: Router = Router::new()
        .route("/awesome", get(awesome_handler))
        .route("/surveys/{id}/delete", get(delete_survey).post(delete_survey));
    let _ = kept_attributes();
    let _ = instrumented_outside(1);
    let _ = instrumented_inside(1);
}
