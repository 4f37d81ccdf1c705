//! A hello-world axum server for timing the tower layer over real HTTP (with `wrk`, in
//! `scripts/bench-layer-http.sh`): `/hello` ungated, `/gated` behind `FlowgateLayer` on
//! a flag that evaluates (a 100% rollout by the `userId` header, taken per request),
//! `/gated-off` behind a flag that is off (every request answered 404 by the layer).
//!
//! `hello-server PORT`; serves on 127.0.0.1 only, one worker thread, until killed.

use axum::routing::get;
use axum::Router;
use flowgate::tower::FlowgateLayer;
use flowgate::Client;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let client = Client::from_toml_str(
        "[flags.Hello]\nrollout = 100\nstickiness = \"userId\"\n\n[flags.Off]\nenabled = false\n",
    )
    .expect("rules");
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/gated",
            get(|| async { "hello" }).layer(
                FlowgateLayer::new("Hello")
                    .client(client.clone())
                    .label_from_header("userId", "x-user-id"),
            ),
        )
        .route(
            "/gated-off",
            get(|| async { "hello" }).layer(FlowgateLayer::new("Off").client(client)),
        );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("a port on 127.0.0.1");
            println!(
                "listening on {}",
                listener.local_addr().expect("an address")
            );
            axum::serve(listener, app).await.expect("serving");
        });
}
