//! Replies a real Unleash server never sends, from the stand-in (`flowgate_tests::stand_in`):
//! a reply that is not a feature state is never a state; cut-off, trickled, hanging and
//! huge replies keep the last state and never block a gate; a server's `Retry-After` is
//! waited out; a redirect elsewhere never carries the token; a stop is prompt while a
//! request hangs.

use std::time::{Duration, Instant};

use flowgate::unleash::{Unleash, UnleashConfig, UnleashStats};
use flowgate::{Client, Labels, RejectReason};
use flowgate_tests::stand_in::{Reply, StandIn};

const ON: &str = r#"{"version": 2, "features": [{"name": "Stand.in", "enabled": true, "strategies": [{"name": "default"}]}]}"#;
const TOKEN: &str = "default:development.hostile-test-token";

fn ok(body: &str) -> Reply {
    Reply::Status(200, body.to_owned())
}

fn not_modified() -> Reply {
    Reply::Status(304, String::new())
}

fn config(url: &str) -> UnleashConfig {
    UnleashConfig::new(url, "hostile-test", TOKEN)
        .refresh_interval(Duration::from_millis(10))
        .metrics_interval(Duration::from_secs(3600))
        .backup_path(None)
}

/// Waits on the client's fetch signal until `done` holds.
fn until(unleash: &Unleash, what: &str, done: impl Fn(&UnleashStats) -> bool) -> UnleashStats {
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut stats = unleash.handle().stats();
    while !done(&stats) {
        assert!(Instant::now() < give_up, "never saw: {what} ({stats:?})");
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(1));
    }
    stats
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flowgate-hostile-{name}-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_reply_that_is_not_a_feature_state_is_never_a_state() {
    let not_states = [
        "{}",
        "[]",
        "null",
        "true",
        "\"features\"",
        r#"{"error": "database down"}"#,
        r#"{"version": 2}"#,
        r#"{"features": {}}"#,
        r#"{"features": null}"#,
        r#"{"features": [{"name": 5}]}"#,
        r#"{"features": [{"enabled": true}]}"#,
        "<html>502 Bad Gateway</html>",
        "",
        "\u{feff}{\"features\": [",
    ];
    let mut replies = vec![ok(ON)];
    replies.extend(not_states.iter().map(|body| ok(body)));
    replies.push(not_modified());
    let server = StandIn::start(replies);
    let dir = scratch("not-states");
    let backup = dir.join("backup.json");
    let unleash = Unleash::start(config(&server.url).backup_path(&backup)).unwrap();
    let client = Client::new(unleash.clone());
    let stats = until(&unleash, "every reply, then a 304", |s| s.not_modified > 0);
    assert_eq!(stats.updates, 1, "{stats:?}");
    assert_eq!(stats.failures, not_states.len() as u64, "{stats:?}");
    assert!(
        client.is_enabled("Stand.in", &Labels::new()),
        "the last good state stays"
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        ON,
        "and so does its backup"
    );
    // The ETag of a reply that was not a state is not sent back.
    let fetches = server.fetches();
    assert_eq!(fetches[1].if_none_match.as_deref(), Some("\"v1\""));
    client.shutdown();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_features_list_is_a_real_empty_state() {
    let server = StandIn::start(vec![
        ok(ON),
        ok(r#"{"version": 2, "features": []}"#),
        not_modified(),
    ]);
    let unleash = Unleash::start(config(&server.url)).unwrap();
    let client = Client::new(unleash.clone());
    until(&unleash, "the empty state", |s| s.updates == 2);
    let flow = client.start_flow_blocking("Stand.in", &Labels::new(), Duration::ZERO);
    assert_eq!(
        flow.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::UnknownFlag),
        "the flag is gone"
    );
    drop(flow);
    client.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_trickled_hanging_and_huge_replies_keep_the_state_and_never_block_a_gate() {
    let server = StandIn::start(vec![
        ok(ON),
        Reply::CutOff(ON.replace("Stand.in", "Other")),
        // Slower than the request timeout: 10 bytes every 50 ms.
        Reply::Trickle {
            body: ON.replace("Stand.in", "Other"),
            chunk: 10,
            every: Duration::from_millis(50),
        },
        Reply::Huge(100 << 20),
        Reply::Hang,
        not_modified(),
    ]);
    let unleash =
        Unleash::start(config(&server.url).request_timeout(Duration::from_millis(500))).unwrap();
    let client = Client::new(unleash.clone());
    assert!(client.ready(Duration::from_secs(30)).await);

    // While the client's request hangs, gates decide at once from the last state.
    server.hanging().await;
    for _ in 0..1_000 {
        let flow =
            client.start_flow_blocking("Stand.in", &Labels::new(), Duration::from_secs(3600));
        assert!(flow.should_run() && !flow.by_fallback());
        flow.end();
    }
    let stats = until(&unleash, "every bad reply, then a 304", |s| {
        s.not_modified > 0
    });
    assert_eq!((stats.updates, stats.failures), (1, 4), "{stats:?}");
    assert!(client.is_enabled("Stand.in", &Labels::new()));
    assert!(
        !client.is_enabled("Other", &Labels::new()),
        "no part of a bad reply is served"
    );
    let sent = server.huge_bytes_sent();
    assert!(
        sent < 80 << 20,
        "the 100 MB reply was not read to its end ({sent} bytes sent before the client stopped)"
    );
    client.shutdown();
}

#[test]
fn retry_after_is_waited_out_in_seconds_or_as_a_date() {
    // Four seconds from now: when the 503 comes, a second after the 429, about three are
    // left, at least two in the date's whole seconds.
    let in_four_seconds = {
        let at = std::time::SystemTime::now() + Duration::from_secs(4);
        let seconds = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        // An HTTP date, written by hand: `Thu, 01 Jan 1970 00:00:00 GMT` + seconds.
        http_date(seconds)
    };
    let server = StandIn::start(vec![
        ok(ON),
        Reply::RetryAfter(429, "1".into()),
        Reply::RetryAfter(503, in_four_seconds),
        not_modified(),
    ]);
    let unleash = Unleash::start(config(&server.url)).unwrap();
    let client = Client::new(unleash.clone());
    until(&unleash, "both waits, then a 304", |s| s.not_modified > 0);
    let fetches = server.fetches();
    let after_429 = fetches[2].at - fetches[1].at;
    assert!(
        after_429 >= Duration::from_secs(1),
        "waited {after_429:?} after `Retry-After: 1`"
    );
    let after_date = fetches[3].at - fetches[2].at;
    assert!(
        after_date >= Duration::from_secs(1),
        "waited {after_date:?} after a date 3 s ahead"
    );
    client.shutdown();
}

/// `seconds` since the epoch as an IMF-fixdate.
fn http_date(seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = seconds / 86_400;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {hour:02}:{minute:02}:{second:02} GMT",
        DAYS[usize::try_from(days % 7).unwrap()],
        MONTHS[usize::try_from(month - 1).unwrap()],
    )
}

#[test]
fn a_redirect_is_followed_and_never_carries_the_token_to_another_host() {
    let elsewhere = StandIn::start(vec![ok(&ON.replace("Stand.in", "Elsewhere"))]);
    let server = StandIn::start(vec![
        Reply::Redirect(format!("{}/elsewhere/client/features", elsewhere.url)),
        not_modified(),
    ]);
    let unleash = Unleash::start(config(&server.url)).unwrap();
    let client = Client::new(unleash.clone());
    until(&unleash, "the redirected state", |s| s.updates == 1);
    assert!(client.is_enabled("Elsewhere", &Labels::new()));
    let there = elsewhere.fetches();
    assert!(!there.is_empty());
    assert!(
        there.iter().all(|seen| seen.authorization.is_none()),
        "the token stays with the configured server"
    );
    assert!(server.fetches()[0].authorization.as_deref() == Some(TOKEN));
    client.shutdown();
}

#[tokio::test]
async fn shutdown_is_prompt_while_a_request_hangs() {
    let server = StandIn::start(vec![ok(ON), Reply::Hang]);
    // A request may take an hour: a shutdown that waited for it would hang the test.
    let unleash =
        Unleash::start(config(&server.url).request_timeout(Duration::from_secs(3600))).unwrap();
    let client = Client::new(unleash.clone());
    server.hanging().await;
    let stopped = tokio::task::spawn_blocking(move || client.shutdown());
    tokio::time::timeout(Duration::from_secs(60), stopped)
        .await
        .expect("the shutdown returned while the request still hung")
        .unwrap();
    assert!(
        !unleash.handle().stats().stopped,
        "stopped by us, not by the server"
    );
}
