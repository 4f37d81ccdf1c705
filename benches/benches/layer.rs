//! The tower layer's cost per request: an axum route answering "hello", ungated and
//! behind `FlowgateLayer`, called in process (`tower::ServiceExt::oneshot`, a request
//! built per call), side by side in one run. The gate decides a flag that evaluates
//! (a 50% rollout by the `userId` header, a fresh user per request: half answer 404), so it times what a
//! service does, not a remembered answer; `gated-constant` is the best case, labelled.
//! `noop-layer` is axum's own cost of any layer on a route (a tower layer that does
//! nothing), so that flowgate's share is the difference from it.
//!
//! `cargo bench -p flowgate-benches --bench layer`

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use std::hint::black_box;

use criterion::Criterion;
use flowgate::tower::FlowgateLayer;
use flowgate::Client;
use tower::ServiceExt as _;

fn request(user: u64) -> Request<Body> {
    Request::builder()
        .uri("/hello")
        .header("x-user-id", itoa_user(user))
        .body(Body::empty())
        .expect("a request")
}

fn itoa_user(user: u64) -> String {
    format!("user-{user:x}")
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let client = Client::from_toml_str(
        "[flags.Hello]\nrollout = 50\nstickiness = \"userId\"\n\n[flags.Constant]\nenabled = true\n",
    )
    .expect("rules");
    let hello = || Router::new().route("/hello", get(|| async { "hello" }));
    let ungated = hello();
    let gated = hello().route_layer(
        FlowgateLayer::new("Hello")
            .client(client.clone())
            .label_from_header("userId", "x-user-id"),
    );
    let constant = hello().route_layer(FlowgateLayer::new("Constant").client(client));
    // What any layer costs in axum (its route is boxed and cloned per request), to
    // tell it from flowgate's own share.
    let noop = hello().route_layer(tower::util::MapRequestLayer::new(
        |request: Request<Body>| request,
    ));

    let mut group = criterion.benchmark_group("layer");
    let mut user = 0_u64;
    for (name, app) in [
        ("ungated", ungated),
        ("noop-layer", noop),
        ("gated-rollout", gated),
        ("gated-constant (best case)", constant),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                user = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let response = runtime
                    .block_on(app.clone().oneshot(request(user)))
                    .expect("infallible");
                assert!(response.status().is_success() || response.status() == 404);
                black_box(response)
            });
        });
    }
    group.finish();
    criterion.final_summary();
}
