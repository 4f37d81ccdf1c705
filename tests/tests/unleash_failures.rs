//! How the Unleash client behaves when the server misbehaves: 5xx and 429 back off,
//! 401/403/404 stop polling, bad or partial bodies never replace the last good state,
//! and the token never leaks.
//!
//! The server here is a stand-in (a scripted HTTP server on 127.0.0.1), because a real
//! Unleash cannot be made to answer 500, 429 or a truncated body on demand, nor show
//! the exact usage counts a client sent (it adds them into hourly buckets, and drops
//! those of flags it has only just learnt of). Everything a real server can show is
//! tested against one in `unleash_live.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flowgate::unleash::{Unleash, UnleashConfig, UnleashStats};
use flowgate::{feature_gate, Client, Labels};

const FEATURES_ON: &str = r#"{"version": 2, "features": [{"name": "Stand.in", "enabled": true, "strategies": [{"name": "default"}]}]}"#;
const TOKEN: &str = "default:development.super-secret-token";

/// What the stand-in answers to `GET /api/client/features`, in order; the last repeats.
#[derive(Clone)]
struct Script {
    replies: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
    if_none_match: Arc<Mutex<Vec<Option<String>>>>,
    /// The bodies of `POST /api/client/metrics`, in order.
    metrics: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn features(State(script): State<Script>, headers: HeaderMap) -> Response {
    script.if_none_match.lock().unwrap().push(
        headers
            .get("if-none-match")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    let (status, body) = {
        let mut replies = script.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies[0]
        }
    };
    let status = StatusCode::from_u16(status).unwrap();
    let mut response = (status, body.to_owned()).into_response();
    if status == StatusCode::OK {
        response
            .headers_mut()
            .insert("etag", "\"v1\"".parse().unwrap());
    }
    response
}

/// Starts the stand-in; returns the API URL and the script's log.
fn stand_in(replies: &[(u16, &'static str)]) -> (String, Script) {
    let script = Script {
        replies: Arc::new(Mutex::new(replies.iter().copied().collect())),
        if_none_match: Arc::new(Mutex::new(Vec::new())),
        metrics: Arc::new(Mutex::new(Vec::new())),
    };
    let app = axum::Router::new()
        .route("/api/client/features", get(features))
        .route(
            "/api/client/register",
            post(|| async { StatusCode::ACCEPTED }),
        )
        .route(
            "/api/client/metrics",
            post(
                |State(script): State<Script>, body: axum::Json<serde_json::Value>| async move {
                    script.metrics.lock().unwrap().push(body.0);
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(script.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
    });
    (url, script)
}

/// Polls the stand-in every 20 ms; sends no metrics unless a test asks.
fn config(url: &str) -> UnleashConfig {
    UnleashConfig::new(url, "stand-in-test", TOKEN)
        .refresh_interval(Duration::from_millis(20))
        .metrics_interval(Duration::from_secs(3600))
        .backup_path(None)
}

fn start(url: &str) -> Unleash {
    Unleash::start(config(url)).unwrap()
}

/// Waits on the client's fetch signal until `done` holds.
fn until(unleash: &Unleash, what: &str, done: impl Fn(&UnleashStats) -> bool) -> UnleashStats {
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    let mut stats = unleash.handle().stats();
    while !done(&stats) {
        assert!(
            std::time::Instant::now() < give_up,
            "never saw: {what} ({stats:?})"
        );
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(1));
    }
    stats
}

#[test]
fn bad_or_partial_bodies_never_replace_the_last_good_state() {
    let (url, script) = stand_in(&[
        (200, FEATURES_ON),
        (
            200,
            r#"{"version": 2, "features": [{"name": "Stand.in", "enab"#,
        ),
        (200, r#"{"version": 2, "features": [{"name": 5}]}"#),
        (304, ""),
    ]);
    let unleash = start(&url);
    let client = Client::new(unleash.clone());
    let stats = until(&unleash, "two bad bodies, then a 304", |s| {
        s.not_modified > 0
    });
    assert_eq!((stats.updates, stats.failures), (1, 2), "{stats:?}");
    assert!(
        client.is_enabled("Stand.in", &Labels::new()),
        "the last good state stays"
    );
    // Inspection tells the same: the rules of the last good state, the failures
    // counted, and (after the 304) no error outstanding.
    let inspection = client.inspect();
    assert_eq!(inspection.source.name, "unleash");
    assert_eq!(inspection.source.serving, "live");
    assert_eq!(
        (
            inspection.source.updates.applied,
            inspection.source.updates.failed
        ),
        (1, 2)
    );
    assert!(inspection.source.updates.last_success.is_some());
    assert_eq!(inspection.source.updates.last_error, None);
    let rules = inspection.flag("Stand.in").unwrap().rules.as_ref().unwrap();
    assert_eq!(rules.strategies[0].kind, "default");
    let sent = script.if_none_match.lock().unwrap().clone();
    assert_eq!(sent[0], None);
    assert_eq!(
        sent.last().unwrap().as_deref(),
        Some("\"v1\""),
        "the ETag is sent back"
    );
    client.shutdown();
}

#[test]
fn server_errors_and_429_back_off_step_by_step_and_success_resets() {
    let (url, _) = stand_in(&[
        (200, FEATURES_ON),
        (500, "oops"),
        (503, "busy"),
        (429, "slow down"),
        (304, ""),
    ]);
    let unleash = start(&url);
    let client = Client::new(unleash.clone());
    let mut steps = Vec::new();
    let mut stats = until(&unleash, "the first state", |s| s.updates == 1);
    while stats.not_modified == 0 {
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(30));
        steps.push(stats.backoff);
    }
    assert_eq!(
        steps,
        [1, 2, 3, 0],
        "one more interval per 429/5xx, reset on success"
    );
    assert!(client.is_enabled("Stand.in", &Labels::new()));
    client.shutdown();
}

/// A fresh directory for this test's backup files.
fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_state_is_backed_up_before_it_is_served_and_a_bad_body_never_overwrites_it() {
    let (url, _script) = stand_in(&[
        (200, FEATURES_ON),
        (200, r#"{"version": 2, "features": [{"name": 5}]}"#),
        (304, ""),
    ]);
    let dir = scratch_dir("backup-order");
    let backup = dir.join("unleash.json");
    let unleash = Unleash::start(config(&url).backup_path(&backup)).unwrap();
    let client = Client::new(unleash.clone());
    // Looked for without a pause, so that the file is read at the first sight of the
    // new state: a wait on the fetch signal would come after the backup either way.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while !client.is_enabled("Stand.in", &Labels::new()) {
        assert!(std::time::Instant::now() < give_up, "never served");
        std::thread::yield_now();
    }
    assert_eq!(
        std::fs::read_to_string(&backup).ok().as_deref(),
        Some(FEATURES_ON),
        "the state served is already on disk"
    );
    until(&unleash, "a bad body, then a 304", |s| s.not_modified > 0);
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        FEATURES_ON,
        "a body that does not read never replaces the backup"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("unleash.json")]);
    client.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_backup_that_cannot_be_written_does_not_hold_back_the_new_state() {
    let (url, _script) = stand_in(&[(200, FEATURES_ON)]);
    let dir = scratch_dir("backup-unwritable");
    // A directory where the file should be: every write (the final rename) fails.
    let backup = dir.join("taken");
    std::fs::create_dir_all(backup.join("occupied")).unwrap();
    let unleash = Unleash::start(config(&url).backup_path(&backup)).unwrap();
    let client = Client::new(unleash.clone());
    until(&unleash, "the first update", |s| s.updates > 0);
    assert!(client.is_enabled("Stand.in", &Labels::new()));
    assert!(backup.join("occupied").is_dir(), "nothing was replaced");
    client.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unauthorized_stops_polling_and_decisions_go_on() {
    for status in [401, 403, 404] {
        let (url, _) = stand_in(&[(200, FEATURES_ON), (status, "no")]);
        let unleash = start(&url);
        let client = Client::new(unleash.clone());
        let stats = until(&unleash, "polling stopped", |s| s.stopped);
        assert_eq!(stats.updates, 1);
        assert!(client.is_enabled("Stand.in", &Labels::new()), "{status}");
        let error = client.inspect().source.updates.last_error.unwrap();
        assert!(error.contains(&status.to_string()), "{error}");
        client.shutdown();
    }
}

#[test]
fn a_server_that_never_answers_leaves_gates_on_their_fallback_after_their_timeout() {
    // Nothing listens on this port: every fetch fails at once, and nothing is ready.
    let unleash = start(&flowgate_tests::unanswered_unleash_url());
    let client = Client::new(unleash.clone());
    let flow = client.start_flow_blocking("Stand.in", &Labels::new(), Duration::from_millis(30));
    assert_eq!(
        flow.rejection().map(flowgate::Rejection::reason),
        Some(flowgate::RejectReason::NotReady)
    );
    until(&unleash, "failed fetches", |s| s.failures > 1);
    client.shutdown();
}

/// Every field of every event, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Text<'a>(&'a mut String);
        impl tracing::field::Visit for Text<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write as _;
                let _ = write!(self.0, "{}={value:?} ", field.name());
            }
        }
        event.record(&mut Text(&mut self.0.lock().unwrap()));
    }
}

#[test]
fn the_token_never_shows_in_debug_output_errors_or_logs() {
    use tracing_subscriber::layer::SubscriberExt;

    let config = UnleashConfig::new("http://127.0.0.1:1/api", "app", TOKEN);
    assert!(!format!("{config:?}").contains("super-secret"));

    // A token that is not a valid header value: the error names the header, not it.
    let bad = UnleashConfig::new("http://127.0.0.1:1/api", "app", "secret\nwith-newline")
        .backup_path(None);
    let error = Unleash::start(bad).unwrap_err().to_string();
    assert!(
        error.contains("authorization") && !error.contains("secret"),
        "{error}"
    );

    // Everything logged while the server refuses the token.
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let (url, _) = stand_in(&[(401, "no")]);
    let unleash = start(&url);
    until(&unleash, "polling stopped", |s| s.stopped);
    unleash.handle().shutdown();
    let inspection = serde_json::to_string(&Client::new(unleash.clone()).inspect()).unwrap();
    assert!(inspection.contains("401"), "{inspection}");
    assert!(!inspection.contains("super-secret"), "{inspection}");
    let logs = captured.0.lock().unwrap().clone();
    assert!(logs.contains("401") || logs.contains("refused"), "{logs}");
    assert!(!logs.contains("super-secret"), "{logs}");
    assert!(!format!("{unleash:?}").contains("super-secret"));
}

#[tokio::test]
async fn limits_from_the_rules_file_apply_to_flags_unleash_decides() {
    let (url, _) = stand_in(&[(200, FEATURES_ON), (304, "")]);
    let rules = std::env::temp_dir().join(format!(
        "flowgate-unleash-limits-{}.toml",
        std::process::id()
    ));
    std::fs::write(&rules, "[flags.\"Stand.in\"]\nconcurrency = { max = 1 }\n").unwrap();
    let client = Client::builder()
        .unleash(
            UnleashConfig::new(&url, "stand-in-limits", TOKEN)
                .refresh_interval(Duration::from_millis(20))
                .backup_path(None),
        )
        .limits_file(&rules)
        .build()
        .unwrap();
    assert!(
        client.ready(Duration::from_secs(30)).await,
        "the first state"
    );
    let held = client.start_flow_blocking("Stand.in", &Labels::new(), Duration::ZERO);
    assert!(held.should_run());
    let refused = client.start_flow_blocking("Stand.in", &Labels::new(), Duration::ZERO);
    assert_eq!(
        refused.rejection().map(flowgate::Rejection::reason),
        Some(flowgate::RejectReason::ConcurrencyLimited),
        "no queue: refused at once"
    );
    held.end();
    client.shutdown();
    std::fs::remove_file(rules).unwrap();
}

const CHECKOUT_ON_SEARCH_OFF: &str = r#"{"version": 2, "features": [
    {"name": "Checkout", "enabled": true, "strategies": [{"name": "default"}]},
    {"name": "Search", "enabled": false, "strategies": [{"name": "default"}]}]}"#;
const CHECKOUT_ON_SEARCH_OFF_AGAIN: &str = r#"{"version": 2, "features": [
    {"name": "Search", "enabled": false, "strategies": [{"name": "default"}]},
    {"name": "Checkout", "enabled": true, "strategies": [{"name": "default"}]}]}"#;

#[feature_gate("Checkout", client = flags, on_reject = || false)]
fn checkout(flags: &Client) -> bool {
    true
}

#[feature_gate("Search", client = flags, on_reject = || false)]
fn search(flags: &Client) -> bool {
    true
}

/// Every evaluation counts once in Unleash's usage metrics, however it was answered:
/// by a gate's call site that remembers the answer, or by name; on any thread; across
/// reloads (the state is replaced again and again while the threads gate).
#[test]
fn usage_reports_every_evaluation_once_from_every_thread_and_across_reloads() {
    const THREADS: usize = 4;
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push((200, CHECKOUT_ON_SEARCH_OFF));
        replies.push((200, CHECKOUT_ON_SEARCH_OFF_AGAIN));
    }
    replies.push((304, ""));
    let (url, script) = stand_in(&replies);
    let unleash = Unleash::start(
        config(&url)
            .refresh_interval(Duration::from_millis(5))
            .metrics_interval(Duration::from_millis(30)),
    )
    .unwrap();
    let client = Client::new(unleash.clone());
    until(&unleash, "the first state", |s| s.updates > 0);

    // The threads gate until the state has been replaced ten times more.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (calls, by_name) = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let (mut calls, mut by_name) = (0_u64, 0_u64);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        assert!(checkout(&client));
                        assert!(!search(&client));
                        calls += 1;
                        if calls % 10 == 0 {
                            assert!(client.is_enabled("Checkout", &Labels::new()));
                            by_name += 1;
                        }
                    }
                    (calls, by_name)
                })
            })
            .collect();
        until(&unleash, "ten reloads more", |s| s.updates > 10);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .fold((0, 0), |total, each| (total.0 + each.0, total.1 + each.1))
    });
    // Shutting down sends what was counted since the last report.
    client.shutdown();

    let mut totals = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for body in script.metrics.lock().unwrap().iter() {
        for (name, counts) in body["bucket"]["toggles"].as_object().unwrap() {
            let total = totals.entry(name.clone()).or_default();
            total.0 += counts["yes"].as_u64().unwrap();
            total.1 += counts["no"].as_u64().unwrap();
        }
    }
    assert!(calls > 0);
    assert_eq!(
        totals.get("Checkout"),
        Some(&(calls + by_name, 0)),
        "{totals:?}"
    );
    assert_eq!(totals.get("Search"), Some(&(0, calls)));
}
