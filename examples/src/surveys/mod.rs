//! The surveys app of the Unleash Python tutorial, in Rust: create surveys, answer them
//! (yes, no, maybe), see the results, and delete surveys only while
//! `delete_survey_flag` is on.
//!
//! With the flag off, the Delete buttons disappear *and* a direct `GET`/`POST` of
//! `/surveys/{id}/delete` answers 404 with a JSON error, leaving the survey in the
//! database: the route itself is gated (by a `FlowgateLayer`, before its path is
//! parsed), not just the button. `results_chart` shows half the visitors (by a
//! `visitor` cookie, so each keeps their half) a bar chart of the results, the others a
//! table: the visitor's id is an ambient label of each request, set by a middleware. Split by concern: the database in `db.rs`, the pages in `pages.rs` (templates
//! and stylesheet beside it), the cookies in `cookies.rs`, the routes here.

pub mod cookies;
pub mod db;
pub mod pages;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use cookies::Flash;
use flowgate::tower::FlowgateLayer;
use flowgate::{feature_gate, labels, Client};
use rusqlite::Connection;
use serde_json::json;

pub use db::{open as open_db, Survey};

// Typed handles of the flags in `examples/flowgate.toml`: `flags::DeleteSurveyFlag`
// exists only because the file declares `delete_survey_flag`.
flowgate::flags!();

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    flags: Client,
    db: Arc<Mutex<Connection>>,
}

impl AppState {
    /// The app's state: its flags and its database.
    pub fn new(flags: Client, db: Connection) -> Self {
        Self {
            flags,
            db: Arc::new(Mutex::new(db)),
        }
    }
}

/// Every survey, oldest first.
///
/// # Errors
/// When the query fails.
pub fn all_surveys(db: &Connection) -> rusqlite::Result<Vec<Survey>> {
    db::all(db)
}

/// The app's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/surveys") }))
        .route("/surveys", get(list_page).post(create_survey))
        .route("/surveys/new", get(new_page))
        .route("/surveys/{id}", get(survey_page))
        .route(
            "/surveys/{id}/answer",
            // A GET here (a reload, a typed URL) goes to the survey's page.
            get(|UrlPath(id): UrlPath<String>| async move {
                Redirect::to(&format!("/surveys/{}", survey_id(&id).unwrap_or(0)))
            })
            .post(answer),
        )
        .route(
            "/surveys/{id}/delete",
            // Not `GET`: a link prefetcher or an `<img>` on another page must not
            // delete. A `GET` is 405 while the flag is on, and the layer's 404 while off.
            axum::routing::post(delete_survey)
                .delete(delete_survey)
                // Gated before the id is parsed: `/surveys/abc/delete` and
                // `/surveys/1/delete` answer the same 404 while the flag is off.
                .layer(
                    FlowgateLayer::new(flags::DeleteSurveyFlag)
                        .client(state.flags.clone())
                        .on_reject(|_| resource_not_found()),
                ),
        )
        .route("/static/style.css", get(pages::style))
        .route("/awesome", get(awesome))
        .route("/ready", get(ready))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(visitor))
        .layer(axum::middleware::from_fn(same_site_only))
        .with_state(state)
}

/// Serves the app until `shutdown` resolves.
///
/// # Errors
/// When the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Runs a database call off the async threads.
async fn with_db<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let db = Arc::clone(&state.db);
    tokio::task::spawn_blocking(move || call(&db.lock().unwrap_or_else(PoisonError::into_inner)))
        .await
        .map_err(|e| server_error(&e))?
        .map_err(|e| server_error(&e))
}

fn server_error(error: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": error.to_string() })),
    )
        .into_response()
}

/// A page for a browser: the flash message shown once, the visitor's cookie set.
fn page(
    headers: &HeaderMap,
    state: &AppState,
    status: StatusCode,
    template: &str,
    mut context: serde_json::Value,
) -> Response {
    let flash = cookies::flash(headers);
    context["flash"] = json!(flash.flatten().map(Flash::message));
    context["source"] = json!(match state.flags.source().name() {
        "flowgate.engine" => "the rules file (the embedded engine)",
        "unleash" => "Unleash",
        other => other,
    });
    let mut response = pages::render(status, template, context);
    if flash.is_some() {
        cookies::clear_flash(&mut response);
    }
    response
}

/// A redirect after a form, with a message for the next page.
fn redirect_with(to: &str, flash: Flash) -> Response {
    let mut response = Redirect::to(to).into_response();
    cookies::set_flash(&mut response, flash);
    response
}

/// A survey id as the app writes them: digits only (`+1`, `01` and `-1` are no ids).
fn survey_id(text: &str) -> Option<i64> {
    if text.is_empty()
        || text.len() > 18
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    text.parse().ok()
}

async fn list_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let surveys = match with_db(&state, db::all).await {
        Ok(surveys) => surveys,
        Err(response) => return response,
    };
    // The same flag as the route's layer: the button shows only when deleting works.
    let can_delete = state.flags.is_enabled(flags::DeleteSurveyFlag, &labels! {});
    let context = json!({ "surveys": surveys, "can_delete": can_delete });
    page(&headers, &state, StatusCode::OK, "list.html", context)
}

async fn new_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let context = json!({ "title": "", "question": "", "errors": [] });
    page(&headers, &state, StatusCode::OK, "new.html", context)
}

/// The form of a new survey.
#[derive(Debug, serde::Deserialize)]
pub struct NewSurvey {
    #[serde(default)]
    title: String,
    #[serde(default)]
    question: String,
}

/// What is wrong with a new survey, for the form to show.
fn problems(survey: &NewSurvey) -> Vec<&'static str> {
    let mut problems = Vec::new();
    let title = survey.title.trim();
    let question = survey.question.trim();
    if !visible(title) {
        problems.push("A survey needs a title.");
    } else if title.chars().count() > 100 {
        problems.push("A title has at most 100 characters.");
    }
    if !visible(question) {
        problems.push("A survey needs a question.");
    } else if question.chars().count() > 200 {
        problems.push("A question has at most 200 characters.");
    }
    problems
}

/// Whether `text` shows anything: not only spaces and zero-width characters.
fn visible(text: &str) -> bool {
    text.chars().any(|c| {
        !c.is_whitespace() && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

async fn create_survey(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(survey): Form<NewSurvey>,
) -> Response {
    let problems = problems(&survey);
    if !problems.is_empty() {
        let context =
            json!({ "title": survey.title, "question": survey.question, "errors": problems });
        return page(
            &headers,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "new.html",
            context,
        );
    }
    let title = survey.title.trim().to_owned();
    let question = survey.question.trim().to_owned();
    match with_db(&state, move |db| db::create(db, &title, &question)).await {
        Ok(id) => redirect_with(&format!("/surveys/{id}"), Flash::Created),
        Err(response) => response,
    }
}

async fn survey_page(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(id) = survey_id(&id) else {
        return not_found_page(&headers, &state, &uri);
    };
    let found = with_db(&state, move |db| {
        Ok(match db::get(db, id)? {
            Some(survey) => Some((survey, db::results(db, id)?)),
            None => None,
        })
    })
    .await;
    let (survey, results) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found_page(&headers, &state, &uri),
        Err(response) => return response,
    };
    // No labels here: the visitor's id is ambient, put in the request's scope by the
    // `visitor` middleware, and every decision in the request decides on it.
    let bars = state.flags.is_enabled(flags::ResultsChart, &labels! {});
    let context = json!({
        "survey": survey,
        "results": results,
        "answers": db::ANSWERS,
        "chart": if bars { "bars" } else { "table" },
    });
    page(&headers, &state, StatusCode::OK, "survey.html", context)
}

/// Gives each visitor an id (the `visitor` cookie, set when missing) and makes it the
/// ambient `visitorId` label of the request ([`flowgate::labels::scope`]): the
/// `results_chart` rollout then sticks to the visitor without a handler passing it.
async fn visitor(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (id, new_cookie) = cookies::visitor(request.headers());
    let labels = labels! { "visitorId" => id }.into_owned();
    let mut response = flowgate::labels::scope(labels, next.run(request)).await;
    if let Some(cookie) = new_cookie {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

/// A visitor's answer.
#[derive(Debug, serde::Deserialize)]
pub struct Answer {
    #[serde(default)]
    answer: String,
}

async fn answer(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<Answer>,
) -> Response {
    let Some(id) = survey_id(&id) else {
        return redirect_with("/surveys", Flash::Gone);
    };
    let Some(answer) = db::ANSWERS.iter().find(|a| **a == form.answer) else {
        return redirect_with(&format!("/surveys/{id}"), Flash::ChooseAnswer);
    };
    match with_db(&state, move |db| db::answer(db, id, answer)).await {
        Ok(true) => redirect_with(&format!("/surveys/{id}"), Flash::Answered),
        // Deleted meanwhile: a page for the browser that sent the form, not JSON.
        Ok(false) => redirect_with("/surveys", Flash::Gone),
        Err(response) => response,
    }
}

/// The tutorial's JSON 404, for the gated route and API-like calls.
fn resource_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "404 Not Found: Resource not found" })),
    )
        .into_response()
}

/// Deletes a survey. Only while `delete_survey_flag` is on: the route's layer (see
/// [`router`]) answers 404 before this runs otherwise.
async fn delete_survey(State(state): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    let Some(id) = survey_id(&id) else {
        return resource_not_found();
    };
    match with_db(&state, move |db| db::delete(db, id)).await {
        Ok(false) => resource_not_found(),
        Ok(true) => redirect_with("/surveys", Flash::Deleted),
        Err(response) => response,
    }
}

fn not_found_page(headers: &HeaderMap, state: &AppState, uri: &Uri) -> Response {
    page(
        headers,
        state,
        StatusCode::NOT_FOUND,
        "not_found.html",
        json!({ "path": uri.path() }),
    )
}

async fn not_found(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    not_found_page(&headers, &state, &uri)
}

/// Refuses a form sent from another site (403): the browser says where a request
/// comes from in `Sec-Fetch-Site` (or, older ones, `Origin`), and a page elsewhere must
/// not create or delete surveys here. Requests without either (curl, tests) pass.
async fn same_site_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let unsafe_method = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if unsafe_method {
        let headers = request.headers();
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let cross = match site {
            Some(site) => !matches!(site, "same-origin" | "none"),
            None => match (
                headers.get("origin").and_then(|v| v.to_str().ok()),
                headers.get("host").and_then(|v| v.to_str().ok()),
            ) {
                (Some(origin), Some(host)) => {
                    origin.split_once("://").map(|(_, rest)| rest) != Some(host)
                }
                _ => false,
            },
        };
        if cross {
            return (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "403 Forbidden: a form from another site" })),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// Readiness, for a load balancer or an operator: 200 once the flags have a state,
/// 503 before, and which state is served (`live`; `backup`, with its path and age,
/// when the app started while Unleash was down; `bootstrap`; `fallback`).
async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.flags.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "ready": ready, "flags": state.flags.serving() });
    (status, Json(body)).into_response()
}

/// The Aperture example: 202 when the flow is accepted, 503 when it is rejected.
#[feature_gate(
    "AwesomeFeature",
    client = &state.flags,
    timeout = "200ms",
    on_reject = || (StatusCode::SERVICE_UNAVAILABLE, "Flow was rejected")
)]
async fn awesome(State(state): State<AppState>) -> (StatusCode, &'static str) {
    (StatusCode::ACCEPTED, "Flow was accepted")
}
