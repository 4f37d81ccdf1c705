//! The fixtures every benchmark shares: the data set, the three engines loaded with it,
//! and the gated functions. See `benches/*.rs` and `BENCHMARKS.md`.

// Fixtures panic on a broken fixture, by design; `Engines::new` is costly, not a default.
#![allow(clippy::missing_panics_doc, clippy::new_without_default)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use flowgate::{feature_gate, labels, Client};

pub mod cases;
pub mod layer;
pub mod service;

// ---- the data set -----------------------------------------------------------------

/// 100 flags, 25 of each kind, as an Unleash `/client/features` document.
pub fn data_set() -> String {
    let mut features = Vec::new();
    for i in 0..25 {
        features.push(serde_json::json!({
            "name": format!("on-{i}"), "enabled": true,
            "strategies": [{ "name": "default", "parameters": {} }]
        }));
        features.push(serde_json::json!({
            "name": format!("half-{i}"), "enabled": true,
            "strategies": [{ "name": "flexibleRollout",
                "parameters": { "rollout": "50", "stickiness": "userId", "groupId": format!("half-{i}") } }]
        }));
        features.push(serde_json::json!({
            "name": format!("regional-{i}"), "enabled": true,
            "strategies": [{ "name": "flexibleRollout",
                "parameters": { "rollout": "50", "stickiness": "userId", "groupId": format!("regional-{i}") },
                "constraints": [{ "contextName": "region", "operator": "IN", "values": ["eu", "us"] }] }]
        }));
        features.push(serde_json::json!({
            "name": format!("variant-{i}"), "enabled": true,
            "strategies": [{ "name": "default", "parameters": {} }],
            "variants": [
                { "name": "blue", "weight": 500, "weightType": "fix", "stickiness": "default", "payload": { "type": "string", "value": "b" } },
                { "name": "green", "weight": 500, "weightType": "fix", "stickiness": "default", "payload": { "type": "string", "value": "g" } }
            ]
        }));
    }
    serde_json::json!({ "version": 2, "features": features }).to_string()
}

/// The four kinds of case, by the flag they evaluate.
pub const CASES: [(&str, &str); 4] = [
    ("always-on", "on-7"),
    ("50% rollout", "half-7"),
    ("constraint + rollout", "regional-7"),
    ("variant", "variant-7"),
];

// ---- the anchors --------------------------------------------------------------------

pub fn yggdrasil(data: &str) -> unleash_yggdrasil::EngineState {
    let engine = unleash_yggdrasil::EngineState::default();
    let features: unleash_types::client_features::ClientFeatures =
        serde_json::from_str(data).unwrap();
    engine.take_state(unleash_yggdrasil::UpdateMessage::FullResponse(features));
    engine
}

/// The SDK's typed feature keys; the benchmark looks flags up by name instead.
#[derive(Debug, Clone, Copy)]
pub struct SdkFeatures;

impl unleash_api_client::client::FeatureKey for SdkFeatures {
    fn name(self) -> &'static str {
        "unused"
    }
}

/// The Unleash SDK never reaches a network here: its state is memoised directly.
#[derive(Debug)]
pub struct Offline;

#[async_trait::async_trait]
impl unleash_api_client::http::Transport for Offline {
    async fn execute(
        &self,
        _: unleash_api_client::http::transport::Request,
    ) -> Result<unleash_api_client::http::transport::Response, anyhow::Error> {
        anyhow::bail!("offline")
    }
}

pub fn unleash_sdk(data: &str) -> unleash_api_client::Client<SdkFeatures> {
    let client = unleash_api_client::ClientBuilder::default()
        .enable_string_features()
        .disable_metric_submission()
        .into_client_with_transport::<SdkFeatures>(
            "http://127.0.0.1:1/api",
            "bench",
            "bench-1",
            None,
            std::sync::Arc::new(Offline),
        )
        .unwrap();
    client.memoize(serde_json::from_str(data).unwrap()).unwrap();
    client
}

/// A client deciding through an Unleash source, as a service using Unleash has one:
/// the data set is its bootstrap, and usage is counted for Unleash's metrics. No server
/// runs: the source polls a closed port once an hour, and decisions go on locally.
pub fn unleash_client() -> Client {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unleash = flowgate::unleash::Unleash::start(
        flowgate::unleash::UnleashConfig::new(
            format!("http://127.0.0.1:{port}/api"),
            "flowgate-bench",
            "default:development.bench-token",
        )
        .refresh_interval(std::time::Duration::from_secs(3600))
        .metrics_interval(std::time::Duration::from_secs(3600))
        .backup_path(None)
        .bootstrap(flowgate::unleash::Bootstrap::Json(data_set())),
    )
    .unwrap();
    // Its thread's first (failed) fetch done, nothing else runs beside the cases.
    let _ = unleash
        .handle()
        .wait_for_fetch(0, std::time::Duration::from_secs(30));
    let client = Client::new(unleash);
    assert!(client.is_ready(), "ready from the bootstrap");
    client
}

// ---- gated functions --------------------------------------------------------------

#[inline]
pub fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[feature_gate("on-0", client = flags, on_reject = || 0)]
#[inline]
pub fn gated(flags: &Client, x: u64) -> u64 {
    work(x)
}

/// [`gated`] again, for the Unleash-backed client: a call site keeps what it learnt
/// of one client, so each client's cases get their own.
#[feature_gate("on-0", client = flags, on_reject = || 0)]
#[inline]
pub fn gated_on_unleash(flags: &Client, x: u64) -> u64 {
    work(x)
}

#[feature_gate("on-0", client = flags, on_reject = || 0)]
#[inline]
pub async fn gated_async(flags: &Client, x: u64) -> u64 {
    work(x)
}

#[feature_gate("RateLimited", client = flags, on_reject = || 0)]
#[inline]
pub fn rate_limited(flags: &Client, x: u64) -> u64 {
    work(x)
}

#[feature_gate("ConcurrencyLimited", client = flags, on_reject = || 0)]
#[inline]
pub fn concurrency_limited(flags: &Client, x: u64) -> u64 {
    work(x)
}

/// Polls a future that never waits to completion: the async gate's own overhead,
/// without a runtime's scheduling around it.
///
/// Inlined, so that the future is built where it is polled, as an `.await` in an
/// async function builds it in that function's state: no copy of it is timed.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn run_ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("nothing here waits"),
    }
}

pub fn limits_client() -> Client {
    Client::from_toml_str(
        r#"
        [flags.RateLimited]
        rate_limit = { limit = 1000000000, per = "1s", burst = 1000000000 }
        [flags.ConcurrencyLimited]
        concurrency = { max = 1000, queue = 0 }
        "#,
    )
    .unwrap()
}

pub fn ten_thousand_flags() -> String {
    let mut text = String::new();
    for i in 0..10_000 {
        use std::fmt::Write as _;
        let _ = write!(
            text,
            "[flags.f{i}]\nrollout = 50\nconstraints = [{{ label = \"region\", operator = \"IN\", values = [\"eu\", \"us\"] }}]\n\
             variants = [{{ name = \"a\" }}, {{ name = \"b\" }}]\n\n"
        );
    }
    text
}

/// The three engines on the same data set, with the same context in each one's terms.
#[allow(missing_debug_implementations)] // the anchors' engines are not Debug
pub struct Engines {
    pub flowgate: Client,
    pub yggdrasil: unleash_yggdrasil::EngineState,
    pub sdk: unleash_api_client::Client<SdkFeatures>,
    pub labels: flowgate::Labels<'static>,
    pub ygg_context: unleash_yggdrasil::Context,
    pub sdk_context: unleash_api_client::Context,
}

impl Engines {
    #[must_use]
    pub fn new() -> Self {
        let data = data_set();
        Engines {
            flowgate: Client::new(flowgate::unleash::Unleash::from_json(&data).unwrap()),
            yggdrasil: yggdrasil(&data),
            sdk: unleash_sdk(&data),
            labels: labels! { "userId" => "user-42", "region" => "eu" },
            ygg_context: unleash_yggdrasil::Context {
                user_id: Some("user-42".into()),
                properties: Some(HashMap::from([("region".to_owned(), "eu".to_owned())])),
                ..Default::default()
            },
            sdk_context: unleash_api_client::Context {
                user_id: Some("user-42".into()),
                properties: HashMap::from([("region".to_owned(), "eu".to_owned())]),
                ..Default::default()
            },
        }
    }
}

/// The same 10 000 flags as an Unleash features document.
pub fn ten_thousand_unleash_flags() -> String {
    let features: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            serde_json::json!({
                "name": format!("f{i}"), "enabled": true,
                "strategies": [{ "name": "flexibleRollout",
                    "parameters": { "rollout": "50", "stickiness": "default", "groupId": format!("f{i}") },
                    "constraints": [{ "contextName": "region", "operator": "IN", "values": ["eu", "us"] }] }],
                "variants": [
                    { "name": "a", "weight": 500, "stickiness": "default" },
                    { "name": "b", "weight": 500, "stickiness": "default" }
                ]
            })
        })
        .collect();
    serde_json::json!({ "version": 2, "features": features }).to_string()
}

/// An OpenTelemetry pipeline as a service installs one, set as this thread's subscriber
/// until the guard drops: `tracing-opentelemetry` over the SDK's tracer, every span
/// sampled, and no exporter (what is timed is the layer and the SDK, not an export).
#[must_use]
pub fn otel_subscriber() -> (
    tracing::subscriber::DefaultGuard,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let guard = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(layer)
            .with(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    // The provider lives as long as the guard: dropped, it would shut the tracer down.
    (guard, provider)
}
