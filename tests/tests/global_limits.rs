//! Global limits (`scope = "global"`) against a real `redis-server` (started per test by
//! `flowgate_tests::redis_server`, stopped by its PID): several clients, as several
//! instances of a service would be, share one limit; and what a gate does when the
//! store stops, is slow, or comes back empty.

// Counts and bounds are small numbers, compared as floats for the rate's bound.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

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
fn admitted(
    client: &Client,
    flag: &str,
    labels: &Labels<'_>,
    n: usize,
) -> (Vec<flowgate::Flow>, Vec<RejectReason>) {
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
fn eventually(what: &str, holds: impl FnMut() -> bool) {
    flowgate_tests::redis_server::eventually(what, Duration::from_secs(20), holds);
}

#[test]
fn two_instances_share_one_rate_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Checkout]\nrate_limit = { limit = 30, per = \"1h\", scope = \"global\" }";
    let (a, b) = (
        client(&redis.url(), flags, ""),
        client(&redis.url(), flags, ""),
    );
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

#[test]
fn three_instances_never_run_more_than_the_global_max() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Export]\nconcurrency = { max = 3, scope = \"global\" }";
    let instances: Vec<Client> = (0..3).map(|_| client(&redis.url(), flags, "")).collect();
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for round in 0..4 {
        for instance in &instances {
            let (kept, no) = admitted(instance, "Export", &Labels::new(), 1);
            held.extend(kept);
            refused.extend(no);
            let _ = round;
        }
    }
    assert_eq!(held.len(), 3, "held {} of a global 3", held.len());
    assert_eq!(refused.len(), 9);
    assert!(
        refused
            .iter()
            .all(|r| *r == RejectReason::ConcurrencyLimited),
        "{refused:?}"
    );
    // In the store: 3 slots in all, over the instances that hold them.
    let slots: std::collections::HashMap<String, usize> =
        redis.query(redis::cmd("HGETALL").arg("flowgate:{Export}:slots"));
    assert_eq!(slots.values().sum::<usize>(), 3, "{slots:?}");
    // A flow that ends gives its slot back to the fleet: another instance gets it.
    drop(held.pop());
    let waiting = "[flags.Export]\nconcurrency = { max = 3, queue = 4, scope = \"global\" }";
    let late = client(&redis.url(), waiting, "");
    let flow = late.start_flow_blocking("Export", &Labels::new(), Duration::from_secs(10));
    assert!(flow.should_run(), "{:?}", flow.rejection());
    drop(flow);
    drop(held);
    drop(instances);
    drop(late);
    // Every client gave its slots back when dropped.
    let left: usize = redis.query(redis::cmd("HLEN").arg("flowgate:{Export}:slots"));
    assert_eq!(left, 0, "slots left in the store");
}

#[test]
fn queued_flows_of_several_instances_take_turns() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Report]\nconcurrency = { max = 2, queue = 64, scope = \"global\" }";
    let instances: Vec<Arc<Client>> = (0..3)
        .map(|_| Arc::new(client(&redis.url(), flags, "")))
        .collect();
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let instance = Arc::clone(&instances[i % 3]);
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            std::thread::spawn(move || {
                let flow =
                    instance.start_flow_blocking("Report", &Labels::new(), Duration::from_secs(30));
                assert!(flow.should_run(), "{:?}", flow.rejection());
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                drop(flow);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a flow");
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

#[test]
fn a_rate_limit_per_label_value_is_one_bucket_per_value_in_the_fleet() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Api]\nrate_limit = { limit = 2, per = \"1h\", by = \"tenant\", scope = \"global\" }";
    let (a, b) = (
        client(&redis.url(), flags, ""),
        client(&redis.url(), flags, ""),
    );
    // Values a careless or hostile caller sends: braces, separators, long, unicode.
    let long = "t".repeat(5_000);
    let values = [
        "acme",
        "",
        "a}b",
        "{x}",
        "a|b",
        "é😀",
        long.as_str(),
        "acme ",
    ];
    for value in values {
        let labels = labels! { "tenant" => value };
        let (first, _) = admitted(&a, "Api", &labels, 3);
        let (second, refused) = admitted(&b, "Api", &labels, 3);
        assert_eq!(first.len() + second.len(), 2, "tenant {value:?}");
        assert!(refused.contains(&RejectReason::RateLimited));
    }
    let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("flowgate:*rate*"));
    assert_eq!(keys.len(), values.len(), "{keys:?}");
    assert!(keys.iter().all(|k| k.len() < 200), "{keys:?}");
    // Idle keys vanish: each carries a TTL.
    for key in keys {
        let ttl: i64 = redis.query(redis::cmd("PTTL").arg(&key));
        assert!(ttl > 0, "{key} has no TTL");
    }
}

/// A store nobody answers: each `on_store_error` does what it says.
#[test]
fn an_unreachable_store_follows_on_store_error() {
    let url = flowgate_tests::unanswered_unleash_url()
        .replace("http://", "redis://")
        .replace("/api", "/0");
    let flags = "[flags.Pay]\nrate_limit = { limit = 10, per = \"1h\", scope = \"global\" }\n\
                 [flags.Ship]\nconcurrency = { max = 4, scope = \"global\" }";
    let expect = [
        ("local", 5, 2), // the limits divided by `instances = 2`
        ("reject", 0, 0),
        ("accept", 20, 20),
    ];
    for (policy, rate_admitted, concurrency_admitted) in expect {
        let client = client(
            &url,
            flags,
            &format!("on_store_error = \"{policy}\"\ninstances = 2"),
        );
        let (rated, refused) = admitted(&client, "Pay", &Labels::new(), 20);
        assert_eq!(rated.len(), rate_admitted, "{policy}: {refused:?}");
        let (held, _) = admitted(&client, "Ship", &Labels::new(), 20);
        assert_eq!(held.len(), concurrency_admitted, "{policy}");
        let stats = client.store_stats().expect("a store");
        assert!(!stats.up && stats.went_down == 1, "{policy}: {stats:?}");
        assert!(stats.decided_by_policy > 0);
        let error = stats.last_error.unwrap_or_default();
        assert!(!error.contains("127.0.0.1"), "no URL in errors: {error}");
    }
}

#[test]
fn a_store_that_stops_and_comes_back_empty_is_shared_again() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Pay]\nrate_limit = { limit = 4, per = \"1h\", scope = \"global\" }";
    let client = client(&redis.url(), flags, "on_store_error = \"reject\"");
    assert_eq!(admitted(&client, "Pay", &Labels::new(), 10).0.len(), 4);
    redis.stop();
    // Down: every flow is decided by the policy, none waits for the store.
    eventually("the store is seen down", || {
        let _ = client.start_flow_blocking("Pay", &Labels::new(), TIMEOUT);
        !client.store_stats().unwrap().up
    });
    let (none, refused) = admitted(&client, "Pay", &Labels::new(), 5);
    assert!(none.is_empty() && refused.iter().all(|r| *r == RejectReason::RateLimited));
    redis.restart();
    eventually("the store is back", || client.store_stats().unwrap().up);
    // Restarted empty: a full bucket again, shared again.
    let (again, _) = admitted(&client, "Pay", &Labels::new(), 10);
    assert_eq!(again.len(), 4);
    let stats = client.store_stats().unwrap();
    assert_eq!((stats.went_down, stats.came_back), (1, 1), "{stats:?}");
}

/// A store that answers too late: the gate does not wait for it.
#[test]
fn a_slow_store_never_holds_a_gate_past_its_timeout() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Pay]\nrate_limit = { limit = 1000, per = \"1s\", scope = \"global\" }";
    let client = client(&redis.url(), flags, "on_store_error = \"accept\"");
    let slept = Arc::new(AtomicBool::new(false));
    let sleeper = {
        let (slept, mut connection) = (Arc::clone(&slept), redis.connection().unwrap());
        std::thread::spawn(move || {
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(2)
                .query(&mut connection)
                .unwrap();
            slept.store(true, Ordering::SeqCst);
        })
    };
    // Give the sleep a head start: the store blocks every client while it runs.
    eventually("redis is asleep", || redis.is_asleep());
    let flow = client.start_flow_blocking("Pay", &Labels::new(), Duration::from_millis(100));
    assert!(
        !slept.load(Ordering::SeqCst),
        "the gate waited for the store"
    );
    assert!(
        flow.should_run(),
        "on_store_error = \"accept\": {:?}",
        flow.rejection()
    );
    sleeper.join().unwrap();
}

/// Generated limits and fleets: however the batches fall, the fleet never admits more
/// than the bucket holds (`per` is an hour, so nothing refills during the test), and
/// loses few tokens to batches that expire.
#[test]
fn generated_limits_never_admit_more_than_the_bucket() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(18);
    for case in 0..12 {
        let (limit, burst, instances) = (rng.u64(1..5_000), rng.u64(1..300), rng.usize(1..5));
        let flag = format!("Gen{case}");
        let flags = format!(
            "[flags.{flag}]\nrate_limit = {{ limit = {limit}, per = \"1h\", burst = {burst}, scope = \"global\" }}"
        );
        let fleet: Vec<Client> = (0..instances)
            .map(|_| client(&redis.url(), &flags, ""))
            .collect();
        let started = Instant::now();
        let mut total = 0;
        for i in 0..(burst as usize + 50) * 2 {
            let flow =
                fleet[i % instances].start_flow_blocking(flag.as_str(), &Labels::new(), TIMEOUT);
            total += u64::from(flow.should_run());
        }
        let refilled =
            (limit as f64 * (started.elapsed().as_secs_f64() + 0.1) / 3600.0).ceil() as u64;
        assert!(
            total <= burst + refilled,
            "case {case}: {total} admitted of {burst} (+{refilled}) over {instances} instances"
        );
        assert!(
            total * 10 >= burst * 8,
            "case {case}: only {total} of {burst} admitted"
        );
    }
}

/// A store URL's password never shows: not in the client's `Debug`, not in the store's
/// errors, not in a load error.
#[test]
fn the_store_password_never_shows() {
    let flags = "[flags.Pay]\nrate_limit = { limit = 1, per = \"1s\", scope = \"global\" }";
    let client = client("redis://default:Sup3rS3cret@127.0.0.1:1/0", flags, "");
    let _ = client.start_flow_blocking("Pay", &Labels::new(), Duration::from_millis(50));
    let shown = format!(
        "{client:?} {:?} {:?}",
        client.store_stats(),
        client.inspect()
    );
    assert!(!shown.contains("Sup3rS3cret"), "{shown}");
    for url in [
        "rediss://:Sup3rS3cret@cache:6379",
        "redis://:Sup3rS3cret@/0",
        "Sup3rS3cret@cache",
    ] {
        let error = Client::builder()
            .toml(format!("{flags}\n[store]\nredis = \"{url}\"\n"))
            .build()
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("Sup3rS3cret"), "{shown}");
    }
}

/// A global limit without a store URL anywhere is a load error naming what to add.
#[test]
fn a_global_limit_needs_a_store() {
    if std::env::var_os("FLOWGATE_REDIS_URL").is_some() {
        return;
    }
    let error = Client::builder()
        .toml("[flags.Pay]\nconcurrency = { max = 1, scope = \"global\" }\n")
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("[store] redis") && error.contains("FLOWGATE_REDIS_URL"),
        "{error}"
    );
}

/// What the store holds may have been written by anyone: garbage, a bucket owed far
/// into the future, another type under the key, counts that are not numbers. A gate
/// still answers, within the limit's own bounds, and never crashes.
#[test]
fn hostile_store_contents_are_bounded() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Pay]\nrate_limit = { limit = 10, per = \"1s\", scope = \"global\" }\n\
                 [flags.Ship]\nconcurrency = { max = 2, scope = \"global\" }";
    let client = client(&redis.url(), flags, "on_store_error = \"reject\"");
    for value in ["garbage", "-1e308", "1e308", "nan", "99999999999999999999"] {
        let _: () = redis.query(redis::cmd("SET").arg("flowgate:{Pay}:rate").arg(value));
        let flow = client.start_flow_blocking("Pay", &Labels::new(), TIMEOUT);
        if let Some(rejection) = flow.rejection() {
            // Refused for at most the time a bucket takes to refill from empty.
            let retry = rejection.retry_after().unwrap_or_default();
            assert!(
                retry <= Duration::from_secs(1),
                "{value}: retry after {retry:?}"
            );
        }
    }
    // Another type under the slots' key, and counts that are not numbers.
    let _: () = redis.query(
        redis::cmd("HSET")
            .arg("flowgate:{Ship}:slots")
            .arg("ghost")
            .arg("many"),
    );
    let (held, _) = admitted(&client, "Ship", &Labels::new(), 4);
    assert_eq!(held.len(), 2, "a count that is not a number counts as none");
    drop(held);
    let _: () = redis.query(redis::cmd("DEL").arg("flowgate:{Pay}:rate"));
    let _: () = redis.query(redis::cmd("LPUSH").arg("flowgate:{Pay}:rate").arg("x"));
    let flow = client.start_flow_blocking("Pay", &Labels::new(), TIMEOUT);
    // The store refuses the script (wrong type): `on_store_error` decides.
    assert!(!flow.should_run());
    assert!(client.store_stats().unwrap().failures > 0);
}

/// Flows that come seldom (a new user's first trial found a global limit of 20 a
/// minute admitting 8 of them): no token is fetched ahead of them to expire unused,
/// and whatever expires goes back, so the fleet gets the whole limit.
#[test]
fn flows_that_come_seldom_get_the_whole_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Slow]\nrate_limit = { limit = 20, per = \"1m\", scope = \"global\" }";
    let (a, b) = (
        client(&redis.url(), flags, ""),
        client(&redis.url(), flags, ""),
    );
    let started = Instant::now();
    let mut total = 0;
    for i in 0..60 {
        let instance = if i % 2 == 0 { &a } else { &b };
        total += u64::from(
            instance
                .start_flow_blocking("Slow", &Labels::new(), TIMEOUT)
                .should_run(),
        );
        // The pace of the traffic, not a wait for anything.
        std::thread::sleep(Duration::from_millis(20 + 15 * (i % 3)));
    }
    let refilled = (20.0 * (started.elapsed().as_secs_f64() + 0.1) / 60.0).ceil() as u64;
    assert!(
        total <= 20 + refilled,
        "{total} admitted, at most {} allowed",
        20 + refilled
    );
    assert!(
        total >= 20,
        "{total} admitted of 20: tokens were lost to batches"
    );
}

/// A busy instance whose own queue never empties does not keep every slot: an
/// instance that starts later gets its fair share while the first is still busy.
#[test]
fn a_busy_instance_does_not_starve_the_others() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = "[flags.Render]\nconcurrency = { max = 4, queue = 64, scope = \"global\" }";
    let busy = Arc::new(client(&redis.url(), flags, ""));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (busy, stop) = (Arc::clone(&busy), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let flow = busy.start_flow_blocking("Render", &Labels::new(), TIMEOUT);
                    std::thread::sleep(Duration::from_millis(5));
                    drop(flow);
                }
            })
        })
        .collect();
    eventually("the busy instance holds every slot", || {
        let slots: std::collections::HashMap<String, usize> =
            redis.query(redis::cmd("HGETALL").arg("flowgate:{Render}:slots"));
        slots.values().sum::<usize>() == 4
    });
    let late = Arc::new(client(&redis.url(), flags, ""));
    let flows: Vec<_> = (0..2)
        .map(|_| {
            let late = Arc::clone(&late);
            std::thread::spawn(move || {
                let flow =
                    late.start_flow_blocking("Render", &Labels::new(), Duration::from_secs(3));
                let reason = flow.rejection().map(flowgate::Rejection::reason);
                std::thread::sleep(Duration::from_millis(20));
                reason
            })
        })
        .collect();
    let refused: Vec<_> = flows
        .into_iter()
        .filter_map(|f| f.join().unwrap())
        .collect();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        refused.is_empty(),
        "the late instance was starved: {refused:?}"
    );
}

/// A Redis Cluster of three nodes: each limit's keys hash to one slot, so its scripts
/// run there, and two instances share the limit through the cluster.
#[test]
fn a_redis_cluster_holds_the_limits() {
    let Some(cluster) = flowgate_tests::redis_server::RedisCluster::start() else {
        return;
    };
    let flags = "[flags.Pay]\nrate_limit = { limit = 6, per = \"1h\", by = \"tenant\", scope = \"global\" }\n\
                 [flags.Ship]\nconcurrency = { max = 2, scope = \"global\" }";
    let nodes: Vec<String> = cluster
        .urls()
        .iter()
        .map(|url| format!("{url:?}"))
        .collect();
    let store = format!("[store]\ncluster = [{}]\n", nodes.join(", "));
    let build = || {
        Client::builder()
            .toml(format!("{flags}\n{store}"))
            .build()
            .expect("the rules build")
    };
    let (a, b) = (build(), build());
    for tenant in ["acme", "globex", "initech"] {
        let labels = labels! { "tenant" => tenant };
        let (first, _) = admitted(&a, "Pay", &labels, 4);
        let (second, _) = admitted(&b, "Pay", &labels, 4);
        assert_eq!(first.len() + second.len(), 6, "tenant {tenant}");
    }
    let (held_a, _) = admitted(&a, "Ship", &Labels::new(), 2);
    let (held_b, refused) = admitted(&b, "Ship", &Labels::new(), 2);
    assert_eq!(held_a.len() + held_b.len(), 2, "{refused:?}");
    // The concurrency limit's keys live on one node, together.
    let node = cluster.node_of("flowgate:{Ship}:slots");
    let slots: std::collections::HashMap<String, usize> =
        node.query(redis::cmd("HGETALL").arg("flowgate:{Ship}:slots"));
    assert_eq!(slots.values().sum::<usize>(), 2, "{slots:?}");
    assert!(a.store_stats().unwrap().up);
}
