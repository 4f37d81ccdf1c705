//! The surveys app of the Unleash Python tutorial, in Rust: list and create surveys,
//! and delete them only while `delete_survey_flag` is on.
//!
//! With the flag off, the Delete buttons disappear from the list *and* a direct
//! `GET`/`POST` of `/surveys/{id}/delete` answers 404 with a JSON error, leaving the
//! survey in the database: the route itself is gated (by a `FlowgateLayer`, before its
//! path is parsed), not just the button.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use flowgate::tower::FlowgateLayer;
use flowgate::{feature_gate, labels, Client};
use rusqlite::Connection;

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

/// A stored survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// The question it asks.
    pub question: String,
}

/// Opens (and creates if needed) the surveys database.
///
/// # Errors
/// When `SQLite` cannot open or create the file.
pub fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS surveys (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             title TEXT NOT NULL,
             question TEXT NOT NULL
         );",
    )?;
    Ok(db)
}

/// Every survey, oldest first.
///
/// # Errors
/// When the query fails.
pub fn all_surveys(db: &Connection) -> rusqlite::Result<Vec<Survey>> {
    let mut statement = db.prepare("SELECT id, title, question FROM surveys ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok(Survey {
            id: row.get(0)?,
            title: row.get(1)?,
            question: row.get(2)?,
        })
    })?;
    rows.collect()
}

/// The app's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/surveys") }))
        .route("/surveys", get(list_page).post(create_survey))
        .route("/surveys/new", get(new_page))
        .route(
            "/surveys/{id}/delete",
            get(delete_survey)
                .post(delete_survey)
                .delete(delete_survey)
                // Gated before the id is parsed: `/surveys/abc/delete` and
                // `/surveys/1/delete` answer the same 404 while the flag is off.
                .layer(
                    FlowgateLayer::new(flags::DeleteSurveyFlag)
                        .client(state.flags.clone())
                        .on_reject(|_| resource_not_found()),
                ),
        )
        .route("/awesome", get(awesome))
        .route("/ready", get(ready))
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
        Json(serde_json::json!({ "error": error.to_string() })),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n{body}</body></html>\n"
    ))
}

async fn list_page(State(state): State<AppState>) -> Result<Html<String>, Response> {
    let surveys = with_db(&state, all_surveys).await?;
    // The same flag as the route below: the button shows only when deleting works.
    let can_delete = state.flags.is_enabled(flags::DeleteSurveyFlag, &labels! {});
    let mut body = String::from("<p><a href=\"/surveys/new\">Create a survey</a></p>\n<table>\n");
    for survey in &surveys {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td>",
            escape(&survey.title),
            escape(&survey.question)
        );
        if can_delete {
            let _ = write!(
                body,
                "<td><a href=\"/surveys/{}/delete\" class=\"btn btn-danger\">Delete</a></td>",
                survey.id
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
    Ok(page("Surveys", &body))
}

async fn new_page() -> Html<String> {
    page(
        "New survey",
        "<form method=\"post\" action=\"/surveys\">\n\
         <label>Title <input name=\"title\" required></label>\n\
         <label>Question <input name=\"question\" required></label>\n\
         <button type=\"submit\">Create</button>\n</form>\n",
    )
}

/// The form of a new survey.
#[derive(Debug, serde::Deserialize)]
pub struct NewSurvey {
    title: String,
    question: String,
}

async fn create_survey(
    State(state): State<AppState>,
    Form(survey): Form<NewSurvey>,
) -> Result<Redirect, Response> {
    if survey.title.trim().is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": "a survey needs a title" })),
        )
            .into_response());
    }
    with_db(&state, move |db| {
        db.execute(
            "INSERT INTO surveys (title, question) VALUES (?1, ?2)",
            (survey.title.trim(), survey.question.trim()),
        )
    })
    .await?;
    Ok(Redirect::to("/surveys"))
}

fn resource_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "404 Not Found: Resource not found" })),
    )
        .into_response()
}

/// Deletes a survey. Only while `delete_survey_flag` is on: the route's layer (see
/// [`router`]) answers 404 before this runs otherwise.
async fn delete_survey(State(state): State<AppState>, UrlPath(id): UrlPath<i64>) -> Response {
    match with_db(&state, move |db| {
        db.execute("DELETE FROM surveys WHERE id = ?1", [id])
    })
    .await
    {
        Ok(0) => resource_not_found(),
        Ok(_) => Redirect::to("/surveys").into_response(),
        Err(response) => response,
    }
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
    let body = serde_json::json!({ "ready": ready, "flags": state.flags.serving() });
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
