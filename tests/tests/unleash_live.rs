//! The Unleash backend against a real `unleash-server` (8.2.0, on `PostgreSQL` 15),
//! driven through its Admin API. These tests need the server, so a plain `cargo test`
//! skips them; `scripts/test-live.sh` starts the server, runs them, and stops it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flowgate::unleash::{Unleash, UnleashConfig};
use flowgate::{labels, Client, Labels};
use serde_json::{json, Value};

struct Server {
    api_url: String,
    admin_url: String,
    admin_token: String,
    api_token: String,
    http: reqwest::Client,
}

fn state_dir() -> PathBuf {
    std::env::var_os("FLOWGATE_UNLEASH_STATE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/unleash-live"),
        PathBuf::from,
    )
}

impl Server {
    /// The server started by `scripts/unleash-up.sh`; fails (never skips) without one.
    fn connect() -> Server {
        let env = std::fs::read_to_string(state_dir().join("env"))
            .expect("no running Unleash server: start one with scripts/unleash-up.sh");
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing from the server's env file"))
                .to_owned()
        };
        Server {
            api_url: var("UNLEASH_URL"),
            admin_url: var("UNLEASH_ADMIN_URL"),
            admin_token: var("UNLEASH_ADMIN_TOKEN"),
            api_token: var("UNLEASH_API_TOKEN"),
            http: reqwest::Client::new(),
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/api/admin{path}", self.admin_url))
            .header("authorization", &self.admin_token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `GET` an Admin API path; `None` unless it answers 2xx.
    async fn admin_get(&self, path: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/api/admin{path}", self.admin_url))
            .header("authorization", &self.admin_token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// Creates a flag in the default project with one strategy, enabled in development.
    async fn create_flag(&self, name: &str, strategy: Value) {
        self.admin(
            reqwest::Method::POST,
            "/projects/default/features",
            Some(json!({ "name": name, "type": "release" })),
        )
        .await;
        self.admin(
            reqwest::Method::POST,
            &format!("/projects/default/features/{name}/environments/development/strategies"),
            Some(strategy),
        )
        .await;
        self.toggle(name, true).await;
    }

    async fn toggle(&self, name: &str, on: bool) {
        let state = if on { "on" } else { "off" };
        self.admin(
            reqwest::Method::POST,
            &format!("/projects/default/features/{name}/environments/development/{state}"),
            None,
        )
        .await;
    }

    fn config(&self, app: &str) -> UnleashConfig {
        UnleashConfig::new(&self.api_url, app, &self.api_token)
            .environment("development")
            .refresh_interval(Duration::from_millis(200))
            .metrics_interval(Duration::from_millis(500))
            .request_timeout(Duration::from_secs(2))
    }
}

/// A name no earlier run used: the server keeps its flags between runs.
fn unique(name: &str) -> String {
    format!("{name}.{:08x}", fastrand::u32(..))
}

/// Waits on the source's fetch signal (each fetch ends after its state is served)
/// until `done` holds.
fn until(unleash: &Unleash, what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut stats = unleash.handle().stats();
    while !done() {
        assert!(Instant::now() < give_up, "never saw: {what}");
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_millis(500));
    }
}

fn default_strategy() -> Value {
    json!({ "name": "default", "parameters": {}, "constraints": [] })
}

#[tokio::test]
#[ignore = "needs a real Unleash server: run scripts/test-live.sh"]
async fn a_flag_enabled_on_the_server_is_seen_and_toggling_it_off_rejects() {
    let server = Server::connect();
    let flag = unique("live.toggle");
    server.create_flag(&flag, default_strategy()).await;

    let unleash = Unleash::start(server.config("flowgate-live-toggle")).unwrap();
    let client = Client::new(unleash.clone());
    assert!(
        client.ready(Duration::from_secs(30)).await,
        "first state fetched"
    );
    until(&unleash, "the new flag", || {
        client.is_enabled(&flag, &Labels::new())
    });
    let flow = client
        .start_flow(&flag, &Labels::new(), Duration::from_secs(1))
        .await;
    assert!(flow.should_run() && !flow.by_fallback());
    flow.end();

    server.toggle(&flag, false).await;
    until(&unleash, "the flag turned off", || {
        !client.is_enabled(&flag, &Labels::new())
    });
    let flow = client
        .start_flow(&flag, &Labels::new(), Duration::from_secs(1))
        .await;
    assert_eq!(
        flow.rejection().map(flowgate::Rejection::reason),
        Some(flowgate::RejectReason::FlagDisabled)
    );
    flow.end();
    // Nothing changes on the server now: the next fetches send the ETag and get 304.
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut stats = unleash.handle().stats();
    while stats.not_modified == 0 {
        assert!(Instant::now() < give_up, "no 304 ever came: {stats:?}");
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(1));
    }
    client.shutdown();
}

#[tokio::test]
#[ignore = "needs a real Unleash server: run scripts/test-live.sh"]
async fn rollout_with_a_constraint_matches_the_servers_own_evaluation() {
    let server = Server::connect();
    let flag = unique("live.rollout");
    server
        .create_flag(
            &flag,
            json!({
                "name": "flexibleRollout",
                "parameters": { "rollout": "37", "stickiness": "default", "groupId": flag },
                "constraints": [{ "contextName": "region", "operator": "IN", "values": ["eu", "us"] }]
            }),
        )
        .await;
    let unleash = Unleash::start(server.config("flowgate-live-rollout")).unwrap();
    let client = Client::new(unleash.clone());
    assert!(client.ready(Duration::from_secs(30)).await);
    until(&unleash, "the rollout flag", || {
        unleash.flags().contains(&flag)
    });

    let mut enabled = 0;
    for i in 0..1_000 {
        let region = ["eu", "us", "apac"][i % 3];
        let user = format!("user-{i}");
        let playground = server
            .admin(
                reqwest::Method::POST,
                "/playground",
                Some(json!({
                    "environment": "development",
                    "projects": "*",
                    "context": { "appName": "flowgate-live-rollout", "userId": user, "properties": { "region": region } }
                })),
            )
            .await;
        let theirs = playground["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == flag.as_str())
            .map(|f| f["isEnabled"].as_bool().unwrap())
            .unwrap();
        let ours = client.is_enabled(&flag, &labels! { "userId" => user, "region" => region });
        assert_eq!(ours, theirs, "user {i}, region {region}");
        enabled += usize::from(ours);
    }
    assert!(enabled > 100 && enabled < 400, "{enabled} of 1000");
    client.shutdown();
}

#[tokio::test]
#[ignore = "needs a real Unleash server: run scripts/test-live.sh"]
async fn registration_and_metrics_reach_the_server() {
    let server = Server::connect();
    let flag = unique("live.metrics");
    server.create_flag(&flag, default_strategy()).await;
    let app = unique("flowgate-live-metrics");
    let unleash = Unleash::start(server.config(&app)).unwrap();
    let client = Client::new(unleash.clone());
    assert!(client.ready(Duration::from_secs(30)).await);
    until(&unleash, "the metrics flag", || {
        client.is_enabled(&flag, &Labels::new())
    });

    // The server learns new flag names for its metrics a little after they are
    // created and drops usage of names it does not know yet, so the service keeps
    // working (and reporting every 500 ms) until the server shows the usage.
    let give_up = Instant::now() + Duration::from_secs(90);
    loop {
        for _ in 0..25 {
            let flow = client
                .start_flow(&flag, &Labels::new(), Duration::from_secs(1))
                .await;
            flow.end();
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // the server has no signal to wait on
        let metrics = server
            .admin(
                reqwest::Method::GET,
                &format!("/client-metrics/features/{flag}"),
                None,
            )
            .await;
        let yes: u64 = metrics["lastHourUsage"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|bucket| bucket["yes"].as_u64().unwrap_or(0))
            .sum();
        let seen = metrics["seenApplications"]
            .as_array()
            .is_some_and(|apps| apps.iter().any(|a| a == app.as_str()));
        // The registration (with the strategies this SDK implements) shows too, once
        // the server has written its batch of registrations.
        let registered = server
            .admin_get(&format!("/metrics/applications/{app}"))
            .await
            .is_some_and(|application| {
                application["strategies"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["name"] == "flexibleRollout"))
            });
        if yes >= 25 && seen && registered {
            break;
        }
        assert!(Instant::now() < give_up, "metrics never arrived: {metrics}");
    }
    client.shutdown();
    let stats = unleash.handle().stats();
    assert!(stats.registered && stats.metrics_sent > 0, "{stats:?}");
}

/// Runs last (libtest orders by name): it stops and restarts the server.
#[tokio::test]
#[ignore = "needs a real Unleash server: run scripts/test-live.sh"]
async fn z_outage_decisions_continue_backup_serves_restarts_and_updates_resume() {
    let server = Server::connect();
    let flag = unique("live.outage");
    server.create_flag(&flag, default_strategy()).await;
    let backup = state_dir().join(format!("{flag}.backup.json"));
    let config = |app: &str| server.config(app).backup_path(&backup);

    let first = Unleash::start(config("flowgate-live-outage")).unwrap();
    let client = Client::new(first.clone());
    assert!(client.ready(Duration::from_secs(30)).await);
    until(&first, "the outage flag", || {
        client.is_enabled(&flag, &Labels::new())
    });
    assert!(backup.is_file(), "the state was backed up");

    // The server goes away: decisions continue from the last state.
    let down = std::process::Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/unleash-down.sh"))
        .status()
        .unwrap();
    assert!(down.success());
    let failures = first.handle().stats().failures;
    let give_up = Instant::now() + Duration::from_secs(60);
    while first.handle().stats().failures == failures {
        assert!(Instant::now() < give_up, "the outage was never noticed");
        tokio::time::sleep(Duration::from_millis(100)).await; // no signal for a failed fetch
    }
    assert!(
        client.is_enabled(&flag, &Labels::new()),
        "the last state stays"
    );
    client.shutdown();

    // A restart while the server is down serves the backup at once.
    let second = Unleash::start(config("flowgate-live-outage-restarted")).unwrap();
    let restarted = Client::new(second.clone());
    assert!(
        restarted.is_ready(),
        "ready from the backup, before any fetch"
    );
    assert!(restarted.is_enabled(&flag, &Labels::new()));

    // The server comes back: updates resume without a restart.
    let up = std::process::Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/unleash-up.sh"))
        .status()
        .unwrap();
    assert!(up.success());
    server.toggle(&flag, false).await;
    until(&second, "updates after the outage", || {
        !restarted.is_enabled(&flag, &Labels::new())
    });
    restarted.shutdown();
    let _ = std::fs::remove_file(backup);
}
