//! The routers the layer's benchmarks call: an axum route answering "hello", ungated,
//! behind a tower layer that does nothing (axum's own cost of any layer), and behind
//! `FlowgateLayer` on a flag that evaluates (a 50% rollout by the `userId` header) or
//! on an always-on flag (the best case). `benches/layer.rs` times them, the
//! `layer/*` cases of `instructions` count them, `hello-server` serves them.

use std::pin::Pin;

use axum::body::{Body, HttpBody as _};
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use flowgate::tower::FlowgateLayer;
use flowgate::Client;
use tower::{Service as _, ServiceExt};

/// The rules of the gated routes: `Hello` a 50% rollout by `userId`, `Constant` on,
/// `Off` off.
pub fn client() -> Client {
    Client::from_toml_str(
        "[flags.Hello]\nrollout = 50\nstickiness = \"userId\"\n\n\
         [flags.Constant]\nenabled = true\n\n[flags.Off]\nenabled = false\n",
    )
    .expect("rules")
}

/// `/hello` behind the layer named `kind`: `ungated`, `noop-layer`, `gated-rollout`,
/// `gated-constant` or `gated-off`; `None` for another name.
pub fn router(kind: &str, client: &Client) -> Option<Router> {
    let hello = Router::new().route("/hello", get(|| async { "hello" }));
    Some(match kind {
        "ungated" => hello,
        "noop-layer" => hello.route_layer(tower::util::MapRequestLayer::new(
            |request: Request<Body>| request,
        )),
        "gated-rollout" => hello.route_layer(
            FlowgateLayer::new("Hello")
                .client(client.clone())
                .label_from_header("userId", "x-user-id"),
        ),
        "gated-constant" => {
            hello.route_layer(FlowgateLayer::new("Constant").client(client.clone()))
        }
        "gated-off" => hello.route_layer(FlowgateLayer::new("Off").client(client.clone())),
        _ => return None,
    })
}

/// A request to `/hello` from user `user` (its `x-user-id` header), built per call as
/// a server's would be.
pub fn request(user: u64) -> Request<Body> {
    let mut id = [0_u8; 21];
    let id = user_id(user, &mut id);
    Request::builder()
        .uri("/hello")
        .header("x-user-id", id)
        .body(Body::empty())
        .expect("a request")
}

/// `user-{user:x}` without `format!`: the request's own cost stays the router's.
fn user_id(mut user: u64, buffer: &mut [u8; 21]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = DIGITS[(user & 15) as usize];
        user >>= 4;
        if user == 0 {
            break;
        }
    }
    at -= 5;
    buffer[at..at + 5].copy_from_slice(b"user-");
    std::str::from_utf8(&buffer[at..]).expect("ascii")
}

/// One request through `router`, as a server serves it: the router cloned, made
/// ready and called, its response polled, then its body to the end (where a gated
/// request's flow ends). Hello answers at once. Returns the status and the bytes of
/// the body.
pub fn call(router: &Router, request: Request<Body>) -> (StatusCode, usize) {
    let mut router = router.clone();
    crate::run_ready(async move {
        let service = ServiceExt::<Request<Body>>::ready(&mut router)
            .await
            .expect("infallible");
        let response: Response<Body> = service.call(request).await.expect("infallible");
        let status = response.status();
        let mut body = response.into_body();
        let mut bytes = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.expect("hello's body").into_data() {
                bytes += data.len();
            }
        }
        (status, bytes)
    })
}
