//! The pages, rendered from the templates beside this file with `minijinja` (HTML
//! escaped by default), and the stylesheet: all compiled into the binary, so the app
//! serves everything it shows and fetches nothing from any network.

use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// The stylesheet, served at `/static/style.css`.
pub const STYLE: &str = include_str!("static/style.css");

fn templates() -> &'static Environment<'static> {
    static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("templates/base.html")),
            ("list.html", include_str!("templates/list.html")),
            ("new.html", include_str!("templates/new.html")),
            ("survey.html", include_str!("templates/survey.html")),
            ("not_found.html", include_str!("templates/not_found.html")),
        ] {
            env.add_template(name, text)
                .expect("the templates compiled into the app parse");
        }
        env
    })
}

/// `template` rendered with `context`, as a response with `status`.
pub fn render(status: StatusCode, template: &str, context: impl Serialize) -> Response {
    match templates()
        .get_template(template)
        .and_then(|t| t.render(context))
    {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template {template}: {error}"),
        )
            .into_response(),
    }
}

/// The stylesheet, cached by browsers for an hour.
pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}
