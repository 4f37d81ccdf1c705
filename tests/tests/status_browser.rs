//! The status page in headless Chromium: it loads under any mount path, lists every flag
//! with its rules and the source's state, and its chart moves after gated calls. A
//! hostile flag name shows as text. Run by `scripts/test-browser.sh` (which installs
//! Chromium and chromedriver); a plain `cargo test` skips it.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client as Browser, Locator};
use flowgate::testing::InMemorySource;
use flowgate::{labels, Client, Labels};
use flowgate_tests::browser::{browser, Driver};

const RULES: &str = r#"
[flags.Checkout]
rollout = 50
constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]

[flags.Dark]
enabled = false

[flags.Slow]
enabled = true
concurrency = { max = 2, queue = 8 }
"#;

async fn text(browser: &Browser, css: &str) -> String {
    let element = browser.find(Locator::Css(css)).await.unwrap();
    element.text().await.unwrap()
}

async fn attribute(browser: &Browser, css: &str, name: &str) -> Option<String> {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .attr(name)
        .await
        .unwrap()
}

/// Waits (on the browser, polling the page) until `css` matches an element.
async fn until(browser: &Browser, css: &str) {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("never saw {css}: {e}"));
}

fn profile(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: scripts/test-browser.sh"]
async fn the_status_page_shows_flags_and_its_chart_follows_the_flows() {
    let client = Client::from_toml_str(RULES).unwrap();
    let base = flowgate_tests::serve(
        axum::Router::new().nest("/ops/flowgate", flowgate::status::router(client.clone())),
    )
    .await;
    let driver = Driver::start();
    let dir = profile("status-browser");
    let browser = browser(&driver, &dir).await;

    // Mounted without a trailing slash: the page still finds its JSON.
    browser.goto(&format!("{base}/ops/flowgate")).await.unwrap();
    until(&browser, r#"tr[data-flag="Checkout"]"#).await;
    let row = text(&browser, r#"tr[data-flag="Checkout"]"#).await;
    assert!(
        row.contains("rollout 50% by default when region IN (2 values)"),
        "{row}"
    );
    let dark = text(&browser, r#"tr[data-flag="Dark"]"#).await;
    assert!(dark.contains("off"), "{dark}");
    let slow = text(&browser, r#"tr[data-flag="Slow"]"#).await;
    assert!(slow.contains("0/2 at once"), "{slow}");
    let source = text(&browser, "#source").await;
    assert!(
        source.contains("flowgate.engine") && source.contains("live"),
        "{source}"
    );

    // Gated calls: 40 users in eu, about half in the rollout.
    let chart = r#"svg[data-flag="Checkout"]"#;
    assert_eq!(
        attribute(&browser, chart, "data-accepted").await.as_deref(),
        Some("0")
    );
    let mut accepted = 0;
    for user in 0..40 {
        let flow = client
            .start_flow(
                "Checkout",
                &labels! { "userId" => user, "region" => "eu" },
                Duration::ZERO,
            )
            .await;
        accepted += u32::from(flow.should_run());
        flow.end();
    }
    // The page refreshes by itself: the chart reaches the counts, and draws them.
    until(
        &browser,
        &format!(
            r#"svg[data-flag="Checkout"][data-accepted="{accepted}"][data-rejected="{}"]"#,
            40 - accepted
        ),
    )
    .await;
    let points = attribute(
        &browser,
        r#"svg[data-flag="Checkout"] polyline[data-series="accepted"]"#,
        "points",
    )
    .await
    .unwrap();
    assert!(
        points.split(' ').count() >= 1 && !points.is_empty(),
        "{points}"
    );
    let peak = points
        .split(' ')
        .map(|point| point.split(',').nth(1).unwrap().parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(peak < 46.0, "the accepted line rose: {points}");

    // A flow in flight shows in its row.
    let held = client
        .start_flow("Slow", &Labels::new(), Duration::ZERO)
        .await;
    until(
        &browser,
        r#"svg[data-flag="Slow"][aria-label$="1 in flight"]"#,
    )
    .await;
    held.end();
    let shot = browser.screenshot().await.unwrap();
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(screenshots.join("status.png"), shot).unwrap();

    browser.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: scripts/test-browser.sh"]
async fn hostile_flag_names_and_errors_show_as_text() {
    let hostile = r#"<img src=x onerror="document.title='owned'">"#;
    let source = InMemorySource::new();
    source.set(hostile, true);
    let client = source.into_client();
    client
        .start_flow(hostile, &Labels::new(), Duration::ZERO)
        .await
        .end();
    let base = flowgate_tests::serve(
        axum::Router::new().nest("/status/", flowgate::status::router(client)),
    )
    .await;
    let driver = Driver::start();
    let dir = profile("status-hostile");
    let browser = browser(&driver, &dir).await;
    browser.goto(&format!("{base}/status/")).await.unwrap();
    until(&browser, "#flags tr").await;
    let text = browser
        .find(Locator::Css("#flags"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(hostile), "{text}");
    assert!(browser
        .find_all(Locator::Css("#flags img"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(browser.title().await.unwrap(), "flowgate status");
    browser.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(dir);
}
