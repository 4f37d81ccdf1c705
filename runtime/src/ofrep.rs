//! An OFREP server (OpenFeature Remote Evaluation Protocol, feature `axum`): services in
//! other languages evaluate this client's flags with any OpenFeature SDK and its OFREP
//! provider, and get the answers a Rust gate gets.
//!
//! ```
//! let client = flowgate::Client::from_toml_str("[flags.Checkout]\nrollout = 50\n")?;
//! // Behind your auth layer: OFREP clients send a bearer token or an API key.
//! let app: axum::Router = axum::Router::new().merge(flowgate::ofrep::router(client));
//! # let _ = app;
//! # Ok::<(), flowgate::ConfigError>(())
//! ```
//!
//! - `POST /ofrep/v1/evaluate/flags/{key}` evaluates one flag: `200` with `key`,
//!   `value`, `reason`, `variant` and `metadata`; `404` `FLAG_NOT_FOUND`; `400`
//!   `PARSE_ERROR` or `INVALID_CONTEXT` for a body it cannot use; `503`
//!   `PROVIDER_NOT_READY` (with `Retry-After`) while the source has no state.
//! - `POST /ofrep/v1/evaluate/flags` evaluates every flag the source has rules for,
//!   with an `ETag` header; a request whose `If-None-Match` names it gets `304`.
//!
//! **The context.** `targetingKey` becomes the `userId` label; every other attribute a
//! label of its name (numbers and booleans as their text; `null` left out). Nested
//! objects and lists are refused (`INVALID_CONTEXT`), as are more than
//! [`MAX_CONTEXT_KEYS`] attributes and bodies over 64 KiB.
//!
//! **The value.** A flag without variants answers a boolean (`variant` `on` or `off`).
//! A flag with variants answers its variant's payload (a `string` or `csv` payload as a
//! string, a `number` as a number, `json` as JSON) or, without a payload, the variant's
//! name; when no variant is chosen (the flag is off for the call) the answer has no
//! `value`, so that the caller's default applies, with `reason` `DISABLED` (or
//! `DEFAULT` when the flag is on but chose none). Reasons are OpenTelemetry's, in
//! OFREP's upper case: `STATIC`, `SPLIT`, `TARGETING_MATCH`, `DISABLED`.

use std::hash::{Hash, Hasher};

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::labels::Labels;
use crate::source::{Evaluation, Undecided};
use crate::Client;

/// The most attributes a request's context may have.
pub const MAX_CONTEXT_KEYS: usize = 64;

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// The OFREP routes for `client`: see the [module documentation](self).
pub fn router(client: Client) -> axum::Router {
    let one = client.clone();
    axum::Router::new()
        .route(
            "/ofrep/v1/evaluate/flags/{key}",
            axum::routing::post(
                move |key: Result<Path<String>, PathRejection>, body: axum::body::Body| {
                    let client = one.clone();
                    async move {
                        let Ok(Path(key)) = key else {
                            let details = "the flag key is not valid UTF-8".to_owned();
                            return Refusal::bad("PARSE_ERROR", details).answer(None);
                        };
                        match read(body).await {
                            Ok(body) => evaluate_one(&client, &key, &body),
                            Err(refusal) => refusal.answer(Some(&key)),
                        }
                    }
                },
            ),
        )
        .route(
            "/ofrep/v1/evaluate/flags",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Body| {
                let client = client.clone();
                async move {
                    match read(body).await {
                        Ok(body) => evaluate_all(&client, &headers, &body),
                        Err(refusal) => refusal.answer(None),
                    }
                }
            }),
        )
        // Read by `read`, which answers OFREP's JSON error past `MAX_BODY`.
        .layer(DefaultBodyLimit::disable())
}

/// The request body, up to [`MAX_BODY`] bytes.
async fn read(body: axum::body::Body) -> Result<axum::body::Bytes, Refusal> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "GENERAL",
            details: format!(
                "the body is over {} KiB (or could not be read)",
                MAX_BODY / 1024
            ),
        })
}

/// A request OFREP says to refuse: its status, code and details.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    details: String,
}

impl Refusal {
    fn bad(code: &'static str, details: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            details,
        }
    }

    fn answer(self, key: Option<&str>) -> Response {
        let mut body = Map::new();
        if let Some(key) = key {
            body.insert("key".into(), key.into());
        }
        body.insert("errorCode".into(), self.code.into());
        body.insert("errorDetails".into(), self.details.into());
        let mut response = (self.status, json_body(&Value::Object(body))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// The labels of a request body's `context`.
fn context(body: &[u8]) -> Result<Labels<'static>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Labels::new());
    }
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad("PARSE_ERROR", format!("the body is not JSON: {e}")))?;
    if !request.is_object() {
        return Err(Refusal::bad(
            "PARSE_ERROR",
            "the body is not a JSON object".into(),
        ));
    }
    let context = match request.get("context") {
        None | Some(Value::Null) => return Ok(Labels::new()),
        Some(Value::Object(context)) => context,
        Some(_) => {
            return Err(Refusal::bad(
                "INVALID_CONTEXT",
                "`context` is not an object".into(),
            ))
        }
    };
    if context.len() > MAX_CONTEXT_KEYS {
        return Err(Refusal::bad(
            "INVALID_CONTEXT",
            format!(
                "the context has {} attributes; at most {MAX_CONTEXT_KEYS}",
                context.len()
            ),
        ));
    }
    let mut labels = Labels::new();
    for (key, value) in context {
        let name = if key == "targetingKey" {
            "userId"
        } else {
            key.as_str()
        };
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            Value::Bool(on) => on.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(Refusal::bad(
                    "INVALID_CONTEXT",
                    format!("context attribute `{key}`: nested values are not supported"),
                ))
            }
        };
        labels.insert(name.to_owned(), text);
    }
    Ok(labels)
}

/// One flag's OFREP answer, or why there is none.
fn evaluation(client: &Client, key: &str, labels: &Labels<'_>) -> Result<Value, Refusal> {
    let reason = || client.telemetry_reason(key).to_ascii_uppercase();
    if client.defines_variants(key) == Some(true) {
        let variant = client.variant(key, labels);
        if !variant.enabled() {
            let reason = if variant.feature_enabled() {
                "DEFAULT"
            } else {
                "DISABLED"
            };
            return Ok(
                json!({ "key": key, "reason": reason, "variant": "disabled", "metadata": {} }),
            );
        }
        return Ok(json!({
            "key": key,
            "value": variant_value(&variant),
            "reason": reason(),
            "variant": variant.name(),
            "metadata": {},
        }));
    }
    match client.evaluation(key, labels) {
        Evaluation::Enabled => Ok(json!({
            "key": key, "value": true, "reason": reason(), "variant": "on", "metadata": {},
        })),
        Evaluation::Disabled => Ok(json!({
            "key": key, "value": false, "reason": reason(), "variant": "off", "metadata": {},
        })),
        Evaluation::Undecided(Undecided::UnknownFlag) if client.has_declared_fallback(key) => {
            // What a gate on it does: take the fallback declared for it.
            let on = client.is_enabled(key, labels);
            Ok(json!({
                "key": key, "value": on, "reason": "DEFAULT", "variant": "fallback", "metadata": {},
            }))
        }
        Evaluation::Undecided(Undecided::UnknownFlag) => Err(Refusal {
            status: StatusCode::NOT_FOUND,
            code: "FLAG_NOT_FOUND",
            details: format!("no flag `{key}`"),
        }),
        Evaluation::Undecided(Undecided::NotReady | Undecided::NoSource) => Err(Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "PROVIDER_NOT_READY",
            details: "the flag source has no state yet".into(),
        }),
        Evaluation::Undecided(Undecided::Error) => Err(Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "GENERAL",
            details: format!("the flag source could not evaluate `{key}`"),
        }),
        Evaluation::Undecided(Undecided::PerFlow) => Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "GENERAL",
            details: format!(
                "the flag source decides each flow of `{key}` (an Aperture agent): \
                 it has no answer outside a flow"
            ),
        }),
    }
}

/// A chosen variant's value: its payload as its type says, else its name.
fn variant_value(variant: &crate::Variant) -> Value {
    let Some(payload) = variant.payload() else {
        return variant.name().into();
    };
    let text = &*payload.value;
    match &*payload.kind {
        "number" => match (text.parse::<i64>(), text.parse::<f64>()) {
            (Ok(whole), _) => whole.into(),
            (_, Ok(number)) if number.is_finite() => number.into(),
            _ => text.into(),
        },
        "json" => serde_json::from_str(text).unwrap_or_else(|_| text.into()),
        _ => text.into(),
    }
}

/// `value` as a JSON response body (axum's `Json` needs a feature flowgate leaves off).
fn json_body(value: &Value) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
}

fn evaluate_one(client: &Client, key: &str, body: &[u8]) -> Response {
    let result = context(body).and_then(|labels| evaluation(client, key, &labels));
    match result {
        Ok(answer) => json_body(&answer).into_response(),
        Err(refusal) => refusal.answer(Some(key)),
    }
}

fn evaluate_all(client: &Client, headers: &HeaderMap, body: &[u8]) -> Response {
    let labels = match context(body) {
        Ok(labels) => labels,
        Err(refusal) => return refusal.answer(None),
    };
    if !client.is_ready() {
        return Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "PROVIDER_NOT_READY",
            details: "the flag source has no state yet".into(),
        }
        .answer(None);
    }
    let names: Vec<String> = client
        .inspect()
        .flags
        .into_iter()
        .filter(|flag| flag.rules.is_some() || flag.fallback.is_some())
        .map(|flag| flag.name)
        .collect();
    let flags: Vec<Value> = names
        .iter()
        .map(|key| match evaluation(client, key, &labels) {
            Ok(answer) => answer,
            Err(refusal) => json!({
                "key": key, "errorCode": refusal.code, "errorDetails": refusal.details,
            }),
        })
        .collect();
    let body = json!({ "flags": flags }).to_string();
    let etag = format!("\"{:016x}\"", fingerprint(&body));
    let seen = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let etag_header = [(header::ETAG, etag)];
    if seen {
        return (StatusCode::NOT_MODIFIED, etag_header).into_response();
    }
    (
        etag_header,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The `ETag` of an answer: a hash of its bytes (the same answer, the same tag, across
/// processes of the same build).
fn fingerprint(body: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    body.hash(&mut hasher);
    hasher.finish()
}
