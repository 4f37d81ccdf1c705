//! Plain and async functions behind flags: what ran, and why.
//!
//! Run with `cargo run --example quickstart` (add `RUST_LOG=flowgate=debug` to see
//! each flow's span).

use std::time::Duration;

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, Client, Rejected, Rejection};

#[derive(Debug)]
enum ShopError {
    Unavailable(Rejected),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::Unavailable(rejected) => write!(f, "unavailable: {rejected}"),
        }
    }
}

impl From<Rejected> for ShopError {
    fn from(rejected: Rejected) -> Self {
        ShopError::Unavailable(rejected)
    }
}

/// Aperture's example: 202 when the flow is accepted, 503 when it is rejected.
#[feature_gate("AwesomeFeature", timeout = "200ms", on_reject = || (503, "Flow was rejected"))]
fn awesome() -> (u16, &'static str) {
    (202, "Flow was accepted")
}

/// Only beta users get the new search; the others get `None`.
#[feature_gate("BetaSearch", labels(userId = user_id))]
async fn beta_search(user_id: u64, query: &str) -> Option<String> {
    tokio::task::yield_now().await;
    Some(format!("new results for {query:?}"))
}

/// A `Result` needs no `on_reject`: the rejection becomes the error.
#[feature_gate("NewCheckout", labels(userId = user_id))]
async fn new_checkout(user_id: u64, cart: &[u32]) -> Result<u32, ShopError> {
    Ok(cart.iter().sum())
}

fn why(rejection: &Rejection) -> String {
    format!("hidden ({})", rejection.reason())
}

/// Recommendations fail open: they run even when no decision can be made in time.
#[feature_gate("Recommendations", timeout = "0s", on_reject = why)]
fn recommendations() -> String {
    "people also bought: rubber ducks".to_owned()
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    // Flags decided in process. The embedded engine and Unleash are other sources
    // behind the same `Client`.
    let flags = InMemorySource::new()
        .enable("AwesomeFeature")
        .rule("BetaSearch", |labels| labels.get("userId") == Some("7"))
        .disable("NewCheckout");
    flowgate::set_global(Client::new(flags.clone())).expect("set once, first thing");

    println!("awesome()                -> {:?}", awesome());
    println!(
        "beta_search(7, ..)       -> {:?}",
        beta_search(7, "ducks").await
    );
    println!(
        "beta_search(8, ..)       -> {:?}",
        beta_search(8, "ducks").await
    );
    match new_checkout(7, &[3, 4]).await {
        Ok(total) => println!("new_checkout(7, ..)      -> total {total}"),
        Err(error) => println!("new_checkout(7, ..)      -> {error}"),
    }
    // The source does not know this flag, so it takes its declared fallback: accept.
    println!("recommendations()        -> {:?}", recommendations());

    println!("\n-- flipping AwesomeFeature off and NewCheckout on, no restart --");
    flags.set("AwesomeFeature", false);
    flags.set("NewCheckout", true);
    println!("awesome()                -> {:?}", awesome());
    println!(
        "new_checkout(7, ..)      -> {:?}",
        new_checkout(7, &[3, 4]).await
    );

    println!(
        "\n-- a source that is still loading: each gate waits its timeout, then falls back --"
    );
    let loading = Client::new(InMemorySource::pending());
    let flow = loading
        .start_flow(
            "NewCheckout",
            &flowgate::Labels::new(),
            Duration::from_millis(20),
        )
        .await;
    println!(
        "NewCheckout while loading -> should_run={} success={} reason={:?}",
        flow.should_run(),
        flow.success(),
        flow.rejection().map(Rejection::reason)
    );
    flow.end();

    println!("\nflows per control point:");
    for (control_point, counts) in flowgate::global().metrics().iter() {
        println!(
            "  {control_point:<16} accepted={} rejected={} ok={} error={} in_flight={}",
            counts.accepted, counts.rejected, counts.ok, counts.error, counts.in_flight
        );
    }
}
