//! Plain and async functions behind flags, decided by the embedded engine from
//! `examples/flowgate.toml`: what ran, and why.
//!
//! Run with `cargo run --example quickstart` (add `RUST_LOG=flowgate=debug` to see
//! each flow's span).

use std::time::Duration;

use flowgate::engine::Engine;
use flowgate::{feature_gate, labels, Client, Rejection};

#[derive(Debug)]
enum ShopError {
    Unavailable(Rejection),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::Unavailable(rejected) => write!(f, "unavailable: {rejected}"),
        }
    }
}

impl From<Rejection> for ShopError {
    fn from(rejected: Rejection) -> Self {
        ShopError::Unavailable(rejected)
    }
}

/// Aperture's example: 202 when the flow is accepted, 503 when it is rejected.
#[feature_gate("AwesomeFeature", timeout = "200ms", on_reject = || (503, "Flow was rejected"))]
fn awesome() -> (u16, &'static str) {
    (202, "Flow was accepted")
}

/// Only users on the beta plan get the new search; the others get `None`.
#[feature_gate("BetaSearch", labels(userId = user_id, plan = plan))]
async fn beta_search(user_id: u64, plan: &str, query: &str) -> Option<String> {
    tokio::task::yield_now().await;
    Some(format!("new results for {query:?}"))
}

/// A `Result` needs no `on_reject`: the rejection becomes the error.
#[feature_gate("NewCheckout", labels(userId = user_id))]
async fn new_checkout(user_id: u64, cart: &[u32]) -> Result<u32, ShopError> {
    Ok(cart.iter().sum())
}

fn hidden(rejection: &Rejection) -> String {
    format!("hidden ({})", rejection.reason())
}

/// Recommendations have no rules in the file: their fallback (accept) decides.
#[feature_gate("Recommendations", timeout = "0s", on_reject = hidden)]
fn recommendations() -> String {
    "people also bought: rubber ducks".to_owned()
}

#[tokio::main]
async fn main() -> Result<(), flowgate::ConfigError> {
    // With `RUST_LOG=flowgate=debug`, one line per flow as it ends: its flag, decision,
    // reason and status (a flow is a span; `FmtSpan::CLOSE` prints spans as they close).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();

    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/flowgate.toml");
    flowgate::set_global(Client::from_file(rules)?).expect("set once, first thing");
    println!("rules: {rules}\n");

    println!("awesome()                  -> {:?}", awesome());
    println!(
        "beta_search(7, \"beta\")     -> {:?}",
        beta_search(7, "beta", "ducks").await
    );
    println!(
        "beta_search(8, \"free\")     -> {:?}",
        beta_search(8, "free", "ducks").await
    );
    for user in 1..=4 {
        match new_checkout(user, &[3, 4]).await {
            Ok(total) => {
                let variant =
                    flowgate::global().variant("NewCheckout", &labels! { "userId" => user });
                println!(
                    "new_checkout({user}, ..)        -> total {total}, variant {:?}",
                    variant.name()
                );
            }
            Err(error) => println!("new_checkout({user}, ..)        -> {error}"),
        }
    }
    println!("recommendations()          -> {:?}", recommendations());

    println!("\n-- a source that is still loading: the gate waits its timeout, then falls back --");
    let loading = Client::new(Engine::pending());
    let flow = loading
        .start_flow(
            "NewCheckout",
            &flowgate::Labels::new(),
            Duration::from_millis(20),
        )
        .await;
    println!(
        "NewCheckout while loading  -> should_run={} by_fallback={} reason={:?}",
        flow.should_run(),
        flow.by_fallback(),
        flow.rejection().map(Rejection::reason)
    );
    flow.end();

    println!("\nflows per flag:");
    for (flag, counts) in flowgate::global().metrics().iter() {
        println!(
            "  {flag:<16} accepted={} rejected={} ok={} error={} in_flight={}",
            counts.accepted, counts.rejected, counts.ok, counts.error, counts.in_flight
        );
    }
    Ok(())
}
