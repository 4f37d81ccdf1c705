//! Global limits (`scope = "global"`) against a real `redis-server` (started per test by
//! `flowgate_tests::redis_server`, stopped by its PID): several clients, as several
//! instances of a service would be, share one limit; and what a gate does when the
//! store stops, is slow, or comes back empty.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowgate::{labels, Client, Labels, RejectReason};
use flowgate_tests::redis_server::RedisServer;

const TIMEOUT: Duration = Duration::from_secs(5);

fn client(url: &str, flags: &str, store: &str) -> Client {
    Client::builder()
        .toml(format!("{flags}\n[store]\nredis = \"{url}\"\n{store}\n"))
        .build()
        .expect("the rules build")
}

/// Starts `n` flows of `flag` on `client`, blocking; the accepted ones are kept.
fn admitted(client: &Client, flag: &str, labels: &Labels<'_>, n: usize) -> (Vec<flowgate::Flow>, Vec<RejectReason>) {
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..n {
        let flow = client.start_flow_blocking(flag, labels, TIMEOUT);
        match flow.rejection() {
            None => kept.push(flow),
            Some(rejection) => refused.push(rejection.reason()),
        }
    }
    (kept, refused)
}

/// Waits for `what` to hold, up to 20 s (the store's heartbeat is 1 s, leases 2 s).
fn eventually(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !holds() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_instances_share_one_rate_limit() {
    let Some(redis) = RedisServer::start() else { return };
    let flags = "[flags.Checkout]\nrate_limit = { limit = 30, per = \"1h\", scope = \"global\" }";
    let (a, b) = (client(&redis.url(), flags, ""), client(&redis.url(), flags, ""));
    let mut total = 0;
    for i in 0..200 {
        let instance = if i % 2 == 0 { &a } else { &b };
        let flow = instance.start_flow_blocking("Checkout", &Labels::new(), TIMEOUT);
        match flow.rejection() {
            None => total += 1,
            Some(rejection) => {
                assert_eq!(rejection.reason(), RejectReason::RateLimited);
                assert!(rejection.retry_after().is_some_and(|d| d > Duration::ZERO));
            }
        }
    }
    // One bucket of 30 for both (each alone would admit 30: 60 in all).
    eprintln!("admitted {total} of a global 30");
    assert!(total <= 30, "admitted {total} of a global 30");
    assert!(total >= 20, "admitted only {total}: tokens were lost");
    let stats = a.store_stats().expect("a store");
    assert!(stats.up, "{stats:?}");
}
