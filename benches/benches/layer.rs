//! The tower layer's cost per request: an axum route answering "hello", ungated and
//! behind `FlowgateLayer`, called in process (the router cloned, made ready, called, its
//! body read to the end; a request with a fresh `x-user-id` built per call), side by
//! side in one run. `gated-rollout` decides a flag that evaluates (a 50% rollout by the
//! `userId` header: half answer 404), so it times what a service does, not a
//! remembered answer; `gated-constant` is the best case, labelled. `noop-layer` is
//! axum's own cost of any layer on a route (a tower layer that does nothing), so that
//! flowgate's share is the difference from it. The routers are `flowgate_benches::layer`,
//! the same the `layer/*` cases of `instructions` count.
//!
//! `cargo bench -p flowgate-benches --bench layer`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use flowgate_benches::layer::{call, client, request, router};

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let client = client();
    let mut group = criterion.benchmark_group("layer");
    let mut user = 0_u64;
    for (name, kind) in [
        ("ungated", "ungated"),
        ("noop-layer", "noop-layer"),
        ("gated-rollout", "gated-rollout"),
        ("gated-constant (best case)", "gated-constant"),
        ("gated-off", "gated-off"),
    ] {
        let app = router(kind, &client).expect("a router");
        group.bench_function(name, |b| {
            b.iter(|| {
                user = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let (status, _) = call(&app, request(user));
                assert!(status.is_success() || status == 404);
                black_box(status)
            });
        });
    }
    group.finish();
    criterion.final_summary();
}
