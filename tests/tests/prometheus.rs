//! The Prometheus collector, scraped over HTTP from the axum router as a Prometheus
//! server would, and checked by Prometheus's own `promtool check metrics`.
//!
//! `promtool` comes from `scripts/install-promtool.sh` (Debian's `prometheus`
//! package, unpacked). Where it is absent the promtool checks are skipped with a
//! message, unless `FLOWGATE_REQUIRE_PROMTOOL=1` (as `.ci/run` sets), which makes its
//! absence a failure.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use flowgate::testing::InMemorySource;
use flowgate::{labels, Client, FlowStatus, Labels};
use prometheus_client::registry::Registry;
use proptest::prelude::*;

const RULES: &str = r#"
[flags.Checkout]
enabled = true
rate_limit = { limit = 2, per = "1h" }

[flags.Slow]
enabled = true
concurrency = { max = 1, queue = 2 }

[flags.Dark]
enabled = false
"#;

/// `promtool`, from `PROMTOOL`, `target/tools/` or PATH.
fn promtool() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os("PROMTOOL").map(Into::into),
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/promtool").into()),
        Some("promtool".into()),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|path: &std::path::PathBuf| {
            Command::new(path)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var("FLOWGATE_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
            "promtool is required (FLOWGATE_REQUIRE_PROMTOOL=1): run scripts/install-promtool.sh"
        );
        eprintln!("SKIPPED the promtool check: no promtool (run scripts/install-promtool.sh)");
    }
    found
}

/// `promtool check metrics` on `text`: its complaints, empty when it accepts it.
fn promtool_complaints(promtool: &std::path::Path, text: &str) -> String {
    let out = flowgate_tests::run_with_input(
        Command::new(promtool).args(["check", "metrics"]),
        text.as_bytes(),
    );
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && said.trim().is_empty() {
        String::new()
    } else {
        format!("exit {:?}: {said}", out.status.code())
    }
}

/// The value of the sample `series` (name and labels, as printed) in `text`, as printed.
fn sample<'t>(text: &'t str, series: &str) -> Option<&'t str> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.split(' ').next().unwrap())
}

/// What the scrape in `a_scrape_counts_every_outcome_and_promtool_accepts_it` shows.
const EXPECTED: [(&str, &str); 16] = [
    (r#"flowgate_flows_accepted_total{flag="Checkout"}"#, "2"),
    (
        r#"flowgate_flows_rejected_total{flag="Checkout",reason="rate_limited"}"#,
        "1",
    ),
    (
        r#"flowgate_flows_ended_total{flag="Checkout",status="error"}"#,
        "1",
    ),
    (
        r#"flowgate_flows_ended_total{flag="Checkout",status="ok"}"#,
        "1",
    ),
    (
        r#"flowgate_flows_rejected_total{flag="Dark",reason="flag_disabled"}"#,
        "1",
    ),
    (
        r#"flowgate_flows_rejected_total{flag="Unknown",reason="unknown_flag"}"#,
        "1",
    ),
    (r#"flowgate_flows_by_fallback_total{flag="Unknown"}"#, "1"),
    (r#"flowgate_flows_in_flight{flag="Slow"}"#, "1"),
    (r#"flowgate_flows_queued{flag="Slow"}"#, "1"),
    (r#"flowgate_concurrency_limit{flag="Slow"}"#, "1"),
    (r#"flowgate_source_ready{source="flowgate.engine"}"#, "1"),
    (
        r#"flowgate_source_serving{source="flowgate.engine",state="live"}"#,
        "1",
    ),
    (
        r#"flowgate_source_serving{source="flowgate.engine",state="fallback"}"#,
        "0",
    ),
    (
        r#"flowgate_source_updates_total{source="flowgate.engine",result="applied"}"#,
        "1",
    ),
    // Two Checkout flows ended: both timed, both under +Inf.
    (
        r#"flowgate_flow_duration_seconds_count{flag="Checkout"}"#,
        "2",
    ),
    (
        r#"flowgate_flow_duration_seconds_bucket{le="+Inf",flag="Checkout"}"#,
        "2",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_every_outcome_and_promtool_accepts_it() {
    let client = Client::from_toml_str(RULES).unwrap();
    let mut registry = Registry::default();
    flowgate::prometheus::register(&client, &mut registry);
    let app =
        axum::Router::new().nest("/metrics", flowgate::prometheus::router(Arc::new(registry)));
    let url = format!("{}/metrics", flowgate_tests::serve(app).await);

    let none = Labels::new();
    // Checkout: two accepted (one ends in error), then the rate limit rejects.
    let mut flow = client.start_flow("Checkout", &none, Duration::ZERO).await;
    flow.set_status(FlowStatus::Error);
    flow.end();
    client
        .start_flow("Checkout", &none, Duration::ZERO)
        .await
        .end();
    let limited = client.start_flow("Checkout", &none, Duration::ZERO).await;
    assert!(!limited.should_run());
    drop(limited);
    // Dark: rejected, flag off. Unknown: rejected, by fallback.
    drop(client.start_flow("Dark", &none, Duration::ZERO).await);
    drop(
        client
            .start_flow("Unknown", &labels! { "userId" => 1 }, Duration::ZERO)
            .await,
    );
    // Slow: one holds the slot, one waits in the queue and is cancelled.
    let held = client.start_flow("Slow", &none, Duration::ZERO).await;
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            drop(
                client
                    .start_flow("Slow", &Labels::new(), Duration::from_secs(60))
                    .await,
            );
        })
    };
    while client.metrics().flag("Slow").queued == 0 {
        tokio::task::yield_now().await;
    }

    // As Prometheus asks: OpenMetrics.
    let reply = reqwest::Client::new()
        .get(&url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = reply.text().await.unwrap();
    for (series, expected) in EXPECTED {
        assert_eq!(sample(&text, series), Some(expected), "{series} in\n{text}");
    }
    let updated = sample(
        &text,
        r#"flowgate_source_last_success_timestamp_seconds{source="flowgate.engine"}"#,
    );
    assert!(updated.unwrap().parse::<f64>().unwrap() > 1.7e9);
    assert!(text.ends_with("# EOF\n"));
    // As curl and promtool ask: the Prometheus text format, which promtool lints.
    let reply = reqwest::get(&url).await.unwrap();
    assert_eq!(
        reply.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let plain = reply.text().await.unwrap();
    let accepted = sample(&plain, r#"flowgate_flows_accepted_total{flag="Checkout"}"#);
    assert_eq!(accepted, Some("2"));
    if let Some(promtool) = promtool() {
        assert_eq!(promtool_complaints(&promtool, &plain), "", "{plain}");
    }

    // The waiter is cancelled: its wait is timed, and the queue empties.
    waiting.abort();
    let _ = waiting.await;
    held.end();
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert_eq!(
        sample(&text, r#"flowgate_flows_queued{flag="Slow"}"#),
        Some("0")
    );
    assert_eq!(
        sample(&text, r#"flowgate_queue_wait_seconds_count{flag="Slow"}"#),
        Some("1")
    );
    assert_eq!(
        sample(
            &text,
            r#"flowgate_flows_ended_total{flag="Slow",status="ok"}"#
        ),
        Some("1")
    );
}

#[test]
fn flows_refused_at_once_by_a_full_queue_are_not_queue_waits() {
    let client =
        Client::from_toml_str("[flags.H]\nenabled = true\nconcurrency = { max = 1 }\n").unwrap();
    let mut registry = Registry::default();
    flowgate::prometheus::register(&client, &mut registry);
    let held = client.start_flow_blocking("H", &Labels::new(), Duration::from_secs(1));
    for _ in 0..5 {
        let refused = client.start_flow_blocking("H", &Labels::new(), Duration::from_secs(1));
        assert_eq!(
            refused.rejection().map(flowgate::Rejection::reason),
            Some(flowgate::RejectReason::ConcurrencyLimited)
        );
    }
    held.end();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert_eq!(
        sample(&text, r#"flowgate_queue_wait_seconds_count{flag="H"}"#),
        Some("0")
    );
    assert_eq!(
        sample(&text, r#"flowgate_flow_duration_seconds_count{flag="H"}"#),
        Some("1")
    );
}

#[test]
fn a_source_that_is_not_ready_says_so() {
    let client = InMemorySource::pending().into_client();
    let mut registry = Registry::default();
    flowgate::prometheus::register(&client, &mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert_eq!(
        sample(
            &text,
            r#"flowgate_source_ready{source="flowgate.in_memory"}"#
        ),
        Some("0")
    );
    assert_eq!(
        sample(
            &text,
            r#"flowgate_source_serving{source="flowgate.in_memory",state="fallback"}"#
        ),
        Some("1")
    );
    assert!(!text.contains("flowgate_source_last_success_timestamp_seconds{"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the flags are called (a server's state can name them anything: quotes,
    /// backslashes, newlines, any Unicode), the exposition stays valid for promtool
    /// and each flag's counts are where they belong.
    #[test]
    fn any_flag_names_give_a_valid_exposition(
        names in proptest::collection::btree_set("(?s).{1,12}", 1..20)
    ) {
        let source = InMemorySource::new();
        for (at, name) in names.iter().enumerate() {
            source.set(name, at % 2 == 0);
        }
        let client = source.into_client();
        let mut registry = Registry::default();
        flowgate::prometheus::register(&client, &mut registry);
        for name in &names {
            client.start_flow_blocking(name.as_str(), &Labels::new(), Duration::ZERO).end();
        }
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let accepted: usize = text
            .lines()
            .filter(|line| line.starts_with("flowgate_flows_accepted_total{"))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        prop_assert_eq!(accepted, names.len().div_ceil(2));
        if let Some(promtool) = promtool() {
            let complaints = promtool_complaints(&promtool, &text);
            prop_assert!(complaints.is_empty(), "{}\n{}", complaints, text);
        }
    }
}
