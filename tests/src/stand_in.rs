//! A stand-in Unleash server on 127.0.0.1 that answers `GET /api/client/features` from
//! a script, including the replies a real Unleash server never sends: bodies that are
//! not feature states, cut off, trickled, endless or huge, hangs, `Retry-After`s and
//! redirects. It records every request, so tests can see what reached it and when.
//!
//! A stand-in because the real server (tested in `unleash_live.rs`) cannot be made to
//! misbehave on demand.

// A fixture: a poisoned lock means a test already panicked.
#![allow(clippy::missing_panics_doc)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;

/// One reply of the script.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A status and a body (`200` replies carry an `ETag`).
    Status(u16, String),
    /// A status with a `Retry-After` header.
    RetryAfter(u16, String),
    /// A 200 whose body comes `chunk` bytes at a time, `every` apart.
    Trickle {
        body: String,
        chunk: usize,
        every: Duration,
    },
    /// A 200 that never sends its body (the connection stays open).
    Hang,
    /// A 200 that sends part of a body, then ends the connection mid-way.
    CutOff(String),
    /// A 200 of `bytes` bytes of a JSON array, sent as fast as the client reads.
    Huge(usize),
    /// A `302` to this location.
    Redirect(String),
}

/// A request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub authorization: Option<String>,
    pub if_none_match: Option<String>,
}

#[derive(Clone, Default)]
struct Shared {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    metrics: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Bytes of `Huge` bodies the client took before it stopped reading.
    huge_bytes_sent: Arc<Mutex<usize>>,
    hanging: Arc<tokio::sync::Notify>,
}

/// A running stand-in: its URL and what it saw. The server runs until the process ends.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // its state is locks and wakers
pub struct StandIn {
    /// The API URL, ending in `/api`.
    pub url: String,
    shared: Shared,
}

impl StandIn {
    /// Starts a stand-in that answers with `replies` in order; the last one repeats.
    ///
    /// # Panics
    /// When no port on 127.0.0.1 can be bound.
    #[must_use]
    pub fn start(replies: Vec<Reply>) -> Self {
        let shared = Shared {
            replies: Arc::new(Mutex::new(replies.into())),
            ..Shared::default()
        };
        let app = axum::Router::new()
            .route("/api/client/features", get(features))
            .route("/api/elsewhere/client/features", get(features))
            .route("/api/client/register", post(register))
            .route("/api/client/metrics", post(metrics))
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let url = format!("http://{}/api", listener.local_addr().expect("its address"));
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let _ = axum::serve(listener, app).await;
                });
        });
        Self { url, shared }
    }

    /// Every request so far.
    #[must_use]
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("not poisoned").clone()
    }

    /// The requests for the features so far.
    #[must_use]
    pub fn fetches(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path.ends_with("/client/features"))
            .collect()
    }

    /// The metrics bodies sent so far.
    #[must_use]
    pub fn metrics(&self) -> Vec<serde_json::Value> {
        self.shared.metrics.lock().expect("not poisoned").clone()
    }

    /// Bytes of `Huge` bodies sent before the client stopped reading.
    #[must_use]
    pub fn huge_bytes_sent(&self) -> usize {
        *self.shared.huge_bytes_sent.lock().expect("not poisoned")
    }

    /// Waits until a request is being held by a `Hang` reply.
    pub async fn hanging(&self) {
        self.shared.hanging.notified().await;
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap) {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned)
    };
    shared.seen.lock().expect("not poisoned").push(Seen {
        at: Instant::now(),
        path: path.to_owned(),
        authorization: text("authorization"),
        if_none_match: text("if-none-match"),
    });
}

async fn register(State(shared): State<Shared>, headers: HeaderMap) -> StatusCode {
    record(&shared, "/api/client/register", &headers);
    StatusCode::ACCEPTED
}

async fn metrics(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: axum::Json<serde_json::Value>,
) -> StatusCode {
    record(&shared, "/api/client/metrics", &headers);
    shared.metrics.lock().expect("not poisoned").push(body.0);
    StatusCode::ACCEPTED
}

async fn features(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    record(&shared, uri.path(), &headers);
    let reply = {
        let mut replies = shared.replies.lock().expect("not poisoned");
        if replies.len() > 1 {
            replies.pop_front().expect("not empty")
        } else {
            replies[0].clone()
        }
    };
    let ok = |body: Body| {
        let mut response = (StatusCode::OK, body).into_response();
        response
            .headers_mut()
            .insert("etag", "\"v1\"".parse().expect("a header value"));
        response
    };
    match reply {
        Reply::Status(status, body) => {
            let status = StatusCode::from_u16(status).expect("a status");
            if status == StatusCode::OK {
                ok(Body::from(body))
            } else {
                (status, body).into_response()
            }
        }
        Reply::RetryAfter(status, after) => {
            let mut response =
                (StatusCode::from_u16(status).expect("a status"), "busy").into_response();
            response
                .headers_mut()
                .insert("retry-after", after.parse().expect("a header value"));
            response
        }
        Reply::Trickle { body, chunk, every } => {
            let pieces: Vec<Vec<u8>> = body
                .as_bytes()
                .chunks(chunk.max(1))
                .map(<[u8]>::to_vec)
                .collect();
            let stream = futures::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::io::Error>(piece)
            });
            ok(Body::from_stream(stream))
        }
        Reply::Hang => {
            shared.hanging.notify_waiters();
            std::future::pending::<Response>().await
        }
        Reply::CutOff(body) => {
            let half = body.as_bytes()[..body.len() / 2].to_vec();
            let stream = futures::stream::iter(vec![
                Ok(half),
                Err(std::io::Error::other("the stand-in cuts the body off")),
            ]);
            ok(Body::from_stream(stream))
        }
        Reply::Huge(bytes) => {
            let sent = Arc::clone(&shared.huge_bytes_sent);
            let chunk = {
                let mut chunk = b"[".to_vec();
                chunk.extend(std::iter::repeat_n(b"0,".as_slice(), 32 * 1024).flatten());
                chunk
            };
            let chunks = bytes.div_ceil(chunk.len());
            let stream = futures::stream::iter(0..chunks).map(move |_| {
                *sent.lock().expect("not poisoned") += chunk.len();
                Ok::<_, std::io::Error>(chunk.clone())
            });
            ok(Body::from_stream(stream))
        }
        Reply::Redirect(location) => {
            let mut response = StatusCode::FOUND.into_response();
            response
                .headers_mut()
                .insert("location", location.parse().expect("a header value"));
            response
        }
    }
}
