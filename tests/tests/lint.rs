//! Gated functions of every shape compile cleanly under the strictest lints: the
//! expansion must add no warning, rustc's or clippy's (CI runs clippy on this file with
//! `-D warnings`).

#![deny(warnings, clippy::pedantic, clippy::nursery)]

use std::fmt::Display;

use axum::response::IntoResponse as _;

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, Client, Rejection};

#[derive(Debug, PartialEq, Eq)]
pub struct AppError;

impl From<Rejection> for AppError {
    fn from(_: Rejection) -> Self {
        Self
    }
}

/// Unit return, no arguments besides the client.
#[feature_gate("Checkout", client = flags)]
pub fn unit(flags: &Client) {}

/// A `Result` with `?` and an early return.
///
/// # Errors
/// When the flag is off or the input is not a number.
#[feature_gate("Checkout", client = flags, timeout = "1s", labels(input = input))]
pub fn parse(flags: &Client, input: &str) -> Result<u32, AppError> {
    let value: u32 = input.parse().map_err(|_| AppError)?;
    if value == 0 {
        return Ok(1);
    }
    Ok(value)
}

/// Async, with a rejection handler taking the rejection.
#[feature_gate("Checkout", client = flags, on_reject = |rejection| rejection.reason().as_str())]
pub async fn reason(flags: &Client) -> &'static str {
    "accepted"
}

const fn reject_with_zero(_: &Rejection) -> u8 {
    0
}

/// A path handler, a `fallback`, and an `impl Trait` return.
#[must_use]
#[feature_gate("OpenByDefault", client = flags, fallback = reject, on_reject = reject_with_zero)]
pub fn small(flags: &Client) -> u8 {
    1
}

#[feature_gate("Checkout", client = flags, on_reject = || String::from("off"))]
pub fn shown(flags: &Client, value: impl Display) -> impl Display {
    value.to_string()
}

/// Borrowed return.
#[feature_gate("Checkout", client = flags)]
pub fn first<'a>(flags: &Client, values: &'a mut [u8]) -> Option<&'a mut u8> {
    values.first_mut()
}

#[derive(Debug)]
pub struct Service {
    flags: Client,
    hits: u32,
}

impl Service {
    #[feature_gate("Checkout", client = &self.flags)]
    pub fn hit(&mut self) -> Option<u32> {
        self.hits += 1;
        Some(self.hits)
    }

    #[feature_gate("Checkout", client = &self.flags)]
    pub async fn hits(&self) -> Option<u32> {
        Some(self.hits)
    }
}

/// `on_reject` with a typed parameter, as rustc's own messages suggest writing it.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = |rejection: &Rejection| rejection.to_string())]
pub fn typed_rejection(flags: &Client) -> String {
    String::from("on")
}

/// A typed wildcard, with the full path.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = |_: &flowgate::Rejection| 0)]
pub fn typed_wildcard(flags: &Client) -> u32 {
    1
}

/// The rejection taken by value.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = |rejection: Rejection| rejection.flag().len())]
pub fn rejection_by_value(flags: &Client) -> usize {
    0
}

/// An `on_reject` that diverges.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = || panic!("the flag is off"))]
pub fn panics_when_off(flags: &Client) -> u8 {
    1
}

/// An `on_reject` that is not written yet.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = || unimplemented!())]
pub fn not_written_yet(flags: &Client) -> u8 {
    1
}

/// An `on_reject` with an explicit `return`.
#[must_use]
#[feature_gate("Checkout", client = flags, on_reject = || { return 7; })]
pub fn explicit_return(flags: &Client) -> u8 {
    1
}

/// An `on_reject` that builds the error itself.
///
/// # Errors
/// When the flag is off.
#[feature_gate("Checkout", client = flags, on_reject = |rejection| Err(AppError::from(rejection.clone())))]
pub fn own_error(flags: &Client) -> Result<u8, AppError> {
    Ok(1)
}

/// An `on_reject` with `?` inside, returning from the function.
///
/// # Errors
/// When the flag is off and the fallback does not parse.
#[feature_gate("Checkout", client = flags, on_reject = || { let n: u8 = "4".parse().map_err(|_| AppError)?; Ok(n) })]
pub fn question_mark_in_on_reject(flags: &Client) -> Result<u8, AppError> {
    Ok(1)
}

/// A function that never returns (a rejected call cannot return either: its
/// `on_reject` diverges too).
#[feature_gate("Checkout", client = flags, on_reject = |rejection| panic!("{rejection}"))]
pub fn serve_forever(flags: &Client) -> ! {
    loop {
        std::thread::park();
    }
}

/// Labels of every kind of value, built per call.
#[feature_gate(
    "Checkout",
    client = flags,
    labels(userId = user_id, region = "eu", admin = admin, name = name.to_uppercase(), tries = 3_u8),
)]
pub async fn labelled(flags: &Client, user_id: u64, admin: bool, name: &str) -> Option<u64> {
    Some(user_id)
}

/// `?` in an async body, the default rejection.
///
/// # Errors
/// When the flag is off or the input is not a number.
#[feature_gate("Checkout", client = flags)]
pub async fn async_question_mark(flags: &Client, input: String) -> Result<u32, AppError> {
    let value = input.parse::<u32>().map_err(|_| AppError)?;
    Ok(value)
}

/// A generic function with a `where` clause.
#[must_use]
#[feature_gate("Checkout", client = flags)]
pub fn generic<T>(flags: &Client, value: T) -> Option<String>
where
    T: Display,
{
    Some(value.to_string())
}

/// A timeout computed at run time, and the quoted `crate` spelling.
#[must_use]
#[feature_gate("Checkout", client = flags, timeout = std::time::Duration::from_millis(5), crate = "::flowgate")]
pub fn runtime_timeout(flags: &Client) -> Option<u8> {
    Some(1)
}

/// An axum handler returning `impl IntoResponse`, its rejection converted alike.
#[feature_gate("Checkout", client = flags, on_reject = || axum::http::StatusCode::NOT_FOUND.into_response())]
pub async fn handler(flags: &Client) -> axum::response::Response {
    "ok".into_response()
}

/// `fallback = accept` on a unit function.
#[feature_gate("OpenByDefault", client = flags, fallback = accept)]
pub fn open(flags: &Client) {}

#[tokio::test]
async fn every_on_reject_form_answers_when_the_flag_is_off() {
    let client = InMemorySource::new().disable("Checkout").into_client();
    assert_eq!(
        typed_rejection(&client),
        "flow `Checkout` was rejected: the flag is off for this call"
    );
    assert_eq!(typed_wildcard(&client), 0);
    assert_eq!(rejection_by_value(&client), "Checkout".len());
    assert!(std::panic::catch_unwind(|| panics_when_off(&client)).is_err());
    assert_eq!(explicit_return(&client), 7);
    assert_eq!(own_error(&client), Err(AppError));
    assert_eq!(question_mark_in_on_reject(&client), Ok(4));
    assert_eq!(labelled(&client, 7, true, "ann").await, None);
    assert_eq!(
        async_question_mark(&client, "5".into()).await,
        Err(AppError)
    );
    assert_eq!(generic(&client, 5), None);
    assert_eq!(runtime_timeout(&client), None);
    assert_eq!(handler(&client).await.status(), 404);
    let on = InMemorySource::new().enable("Checkout").into_client();
    assert_eq!(typed_rejection(&on), "on");
    assert_eq!(rejection_by_value(&on), 0);
    assert_eq!(labelled(&on, 7, true, "ann").await, Some(7));
    assert_eq!(generic(&on, 5).as_deref(), Some("5"));
    assert_eq!(handler(&on).await.status(), 200);
    open(&on);
}

#[tokio::test]
async fn strict_lints_hold_and_the_gates_work() {
    let client = InMemorySource::new().enable("Checkout").into_client();
    unit(&client);
    assert_eq!(parse(&client, "0"), Ok(1));
    assert_eq!(parse(&client, "x"), Err(AppError));
    assert_eq!(reason(&client).await, "accepted");
    assert_eq!(small(&client), 0, "OpenByDefault is unknown to the source");
    assert_eq!(format!("{}", shown(&client, 5)), "5");
    let mut values = [1, 2];
    assert_eq!(first(&client, &mut values).copied(), Some(1));
    let mut service = Service {
        flags: client,
        hits: 0,
    };
    assert_eq!(service.hit(), Some(1));
    assert_eq!(service.hits().await, Some(1));
    let counts = service.flags.metrics().flag("Checkout");
    assert_eq!((counts.ok, counts.error, counts.in_flight), (7, 1, 0));
}

/// An axum handler returning `impl IntoResponse` without `on_reject`: the rejection's
/// own response (404 for a flag that is off), the body's value converted alike.
#[feature_gate("Checkout", client = flags, labels(user_id))]
pub async fn into_response_default(
    flags: &Client,
    user_id: u64,
) -> impl axum::response::IntoResponse {
    axum::Json(user_id)
}

/// An `on_reject` of another type than the body's: both become a `Response`.
#[feature_gate("Checkout", client = flags, on_reject = || axum::http::StatusCode::GONE)]
pub async fn into_response_mixed(flags: &Client) -> impl axum::response::IntoResponse {
    "on"
}

/// `Result<T, String>` and `Result<T, StatusCode>` need no `on_reject`.
///
/// # Errors
/// When the flag is off.
#[feature_gate("Checkout", client = flags)]
pub fn string_error(flags: &Client) -> Result<u8, String> {
    Ok(1)
}

/// # Errors
/// When the flag is off: 404.
#[feature_gate("Checkout", client = flags)]
pub async fn status_error(flags: &Client) -> Result<u8, axum::http::StatusCode> {
    Ok(1)
}

#[tokio::test]
async fn responses_and_foreign_errors_need_no_on_reject() {
    use axum::response::IntoResponse as _;
    let off = InMemorySource::new().disable("Checkout").into_client();
    assert_eq!(
        into_response_default(&off, 7)
            .await
            .into_response()
            .status(),
        404
    );
    assert_eq!(
        into_response_mixed(&off).await.into_response().status(),
        410
    );
    assert_eq!(
        string_error(&off),
        Err("flow `Checkout` was rejected: the flag is off for this call".to_owned())
    );
    assert_eq!(
        status_error(&off).await,
        Err(axum::http::StatusCode::NOT_FOUND)
    );
    let on = InMemorySource::new().enable("Checkout").into_client();
    assert_eq!(
        into_response_default(&on, 7).await.into_response().status(),
        200
    );
    assert_eq!(into_response_mixed(&on).await.into_response().status(), 200);
    assert_eq!(string_error(&on), Ok(1));
    assert_eq!(status_error(&on).await, Ok(1));
}

#[feature_gate(
    "Checkout",
    timeout = "200ms",
    on_reject = || (axum::http::StatusCode::SERVICE_UNAVAILABLE, "Flow was rejected")
)]
async fn awesome_handler() -> (axum::http::StatusCode, &'static str) {
    (axum::http::StatusCode::ACCEPTED, "Flow was accepted")
}

const fn not_found(_: &Rejection) -> (axum::http::StatusCode, axum::Json<&'static str>) {
    (axum::http::StatusCode::NOT_FOUND, axum::Json("not found"))
}

#[feature_gate("Checkout", labels(surveyId = id), on_reject = not_found)]
async fn delete_survey(
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> (axum::http::StatusCode, axum::Json<&'static str>) {
    let _ = id;
    (axum::http::StatusCode::OK, axum::Json("deleted"))
}

/// Gated handlers are axum handlers: their futures are `Send`, a `Router` takes them.
#[test]
fn gated_handlers_route() {
    let _: axum::Router = axum::Router::new()
        .route("/awesome", axum::routing::get(awesome_handler))
        .route(
            "/surveys/{id}/delete",
            axum::routing::get(delete_survey).post(delete_survey),
        );
}
