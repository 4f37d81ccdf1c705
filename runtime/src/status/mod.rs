//! A status page (feature `axum`): one HTML page that shows every flag (on, off, its
//! rules), the source's state, and live charts of each flag's flows, refreshing itself;
//! and the JSON it reads.
//!
//! ```
//! let client = flowgate::Client::from_toml_str("[flags.Checkout]\nrollout = 50\n")?;
//! // Mount it where only operators reach (behind your auth layer): it lists every
//! // flag and rule.
//! let app: axum::Router = axum::Router::new()
//!     .nest("/ops/flowgate", flowgate::status::router(client));
//! # let _ = app;
//! # Ok::<(), flowgate::ConfigError>(())
//! ```
//!
//! - `GET /`: the page, at the mount path (`nest("/ops/flowgate", ..)` serves
//!   `/ops/flowgate`; axum leaves `/ops/flowgate/` to the outer router, so nest at
//!   `"/ops/flowgate/"` for that one). Everything it needs is inline: it fetches
//!   nothing from another origin, and its `Content-Security-Policy` forbids it to.
//! - `GET /status.json`: [`Client::inspect`](crate::Client::inspect), with the server's
//!   time (`now_ms`, Unix milliseconds).
//!
//! The page asks for `status.json` every second and keeps the last five minutes of
//! answers in the browser, to chart each flag's accepted and rejected flows per second
//! and its flows in flight; a reload starts the charts afresh. It never mounts itself,
//! and it is not protected: every flag, rule and error it shows is for operators, so
//! put it behind what guards your other internal routes. Flag names and rules are
//! written into the page as text, never as markup.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::Client;

/// The page, with its script and styles inline.
const PAGE: &str = include_str!("page.html");

/// What `status.json` answers.
#[derive(serde::Serialize)]
struct Status {
    /// The server's clock, Unix milliseconds: the charts' time axis.
    now_ms: u64,
    #[serde(flatten)]
    inspection: crate::inspect::Inspection,
}

/// The status page and its JSON, for `client`: see the [module documentation](self).
pub fn router(client: Client) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(page))
        .route(
            "/status.json",
            axum::routing::get(move || {
                let client = client.clone();
                async move { status(&client) }
            }),
        )
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

fn status(client: &Client) -> Response {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    let body = Status {
        now_ms,
        inspection: client.inspect(),
    };
    match serde_json::to_string(&body) {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            json,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
