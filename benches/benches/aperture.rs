//! A gate decided by an Aperture agent on loopback, beside the same gate decided by the
//! embedded engine, in one run: an async gated function (`labels(userId, region)`, a
//! fresh user per call) on a multi-thread tokio runtime, awaited by `block_on`.
//!
//! - `engine`: the rules of `benches/flowgate.toml` (a 50% rollout behind `region IN`);
//! - `aperture/accept`: the agent accepts and lends nothing (a `Check` round trip);
//! - `aperture/concurrency`: the agent's concurrency limiter lends a token, given back
//!   with a `FlowEnd` in the background (a `Check` round trip, and a `FlowEnd` the
//!   flow does not wait for);
//! - `aperture/4-threads`: four threads asking at once (the connection is shared);
//! - `grpc-floor`: a bare unary `Check` to the same agent with tonic from the caller's
//!   runtime, no flowgate: what any client of the agent pays.
//!
//! The agent is the stand-in of `flowgate_tests::aperture_agent` (a tonic server on
//! 127.0.0.1): the real agent cannot run here. Its own cost (decoding, a lock, a map)
//! is in the figures, as a real agent's would be.
//!
//! `cargo bench -p flowgate-benches --bench aperture`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use flowgate::aperture::proto::{self, CheckRequest, CheckResponse};
use flowgate::aperture::{Aperture, ApertureConfig};
use flowgate::{feature_gate, Client, Rejection};
use flowgate_tests::aperture_agent::{Script, StandInAgent};

#[feature_gate("aperture-checkout", client = flags, timeout = "1s", labels(userId = user, "region" = "eu"))]
async fn checkout(flags: &Client, user: u64) -> Result<u64, Rejection> {
    Ok(user)
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let agent = runtime.block_on(StandInAgent::start(None));
    let engine = Client::builder()
        .file(concat!(env!("CARGO_MANIFEST_DIR"), "/flowgate.toml"))
        .watch(false)
        .build()
        .expect("the rules");
    let aperture = Client::new(
        Aperture::connect(ApertureConfig::new(&agent.address)).expect("the agent's address"),
    );

    let mut group = criterion.benchmark_group("aperture");
    let mut user = 0_u64;
    let mut bench = |name: &str, client: &Client| {
        group.bench_function(name, |b| {
            b.iter(|| {
                user = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
                black_box(runtime.block_on(checkout(client, user)).is_ok())
            });
        });
    };
    bench("engine", &engine);
    agent.script("aperture-checkout", Script::Accept);
    bench("aperture/accept", &aperture);
    agent.script("aperture-checkout", Script::Concurrency { max: usize::MAX });
    bench("aperture/concurrency", &aperture);
    agent.script("aperture-checkout", Script::Accept);
    group.bench_function("aperture/4-threads (time per call)", |b| {
        b.iter_custom(|iterations| {
            let started = std::time::Instant::now();
            std::thread::scope(|scope| {
                for thread in 0..4_u64 {
                    let (aperture, runtime) = (&aperture, &runtime);
                    scope.spawn(move || {
                        for call in 0..iterations.div_ceil(4) {
                            let user = (thread << 48) | call;
                            black_box(runtime.block_on(checkout(aperture, user)).is_ok());
                        }
                    });
                }
            });
            started.elapsed()
        });
    });
    let floor = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(agent.address.clone())
            .expect("the address")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("the agent");
        tonic::client::Grpc::new(channel)
    });
    group.bench_function("grpc-floor (bare tonic Check)", |b| {
        b.iter(|| {
            user = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
            runtime.block_on(async {
                let mut grpc = floor.clone();
                grpc.ready().await.expect("ready");
                let request = CheckRequest {
                    control_point: "aperture-checkout".into(),
                    labels: [("userId".to_owned(), user.to_string())].into(),
                    ramp_mode: true,
                    expect_end: true,
                };
                let codec = tonic_prost::ProstCodec::<CheckRequest, CheckResponse>::default();
                let path = http::uri::PathAndQuery::from_static(proto::CHECK_PATH);
                black_box(
                    grpc.unary(tonic::Request::new(request), path, codec)
                        .await
                        .is_ok(),
                )
            })
        });
    });
    group.finish();
    criterion.final_summary();
}
