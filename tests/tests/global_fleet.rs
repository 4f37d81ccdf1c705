//! Global limits across separate OS processes sharing one real `redis-server`: the
//! fleet never runs more than `max` flows at once, admits no more than the rate
//! limit's stated bound, leaves no lease behind, and takes over the slots of a process
//! killed with SIGKILL once its lease ends.
//!
//! The processes are this test binary run again with `FLEET_ROLE` set: the ignored test
//! `fleet_worker` is the worker, and does nothing without it.

// Counts and bounds are small numbers, compared as floats for the rate's bound.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowgate::{Client, FlowStatus, Labels};
use flowgate_tests::redis_server::RedisServer;

const FLAGS: &str = r#"
[flags.Fleet]
concurrency = { max = 8, queue = 64, scope = "global", lease = "2s" }

[flags.FleetRate]
rate_limit = { limit = 2000, per = "1s", burst = 100, scope = "global" }

[flags.Hold]
concurrency = { max = 4, queue = 8, scope = "global", lease = "2s" }
"#;

/// The Lua the workers count with: flows running now over the fleet, and the most seen.
const ENTER: &str = "local n = redis.call('INCR', KEYS[1]) \
    if n > tonumber(redis.call('GET', KEYS[2]) or 0) then redis.call('SET', KEYS[2], n) end \
    return n";
const ADMITTED_AT: &str = "local t = redis.call('TIME') \
    return redis.call('RPUSH', KEYS[1], t[1] * 1000000 + t[2])";

fn spawn_worker(redis: &RedisServer, role: &str, name: &str, flows: usize) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "fleet_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FLEET_ROLE", role)
        .env("FLEET_NAME", name)
        .env("FLEET_FLOWS", flows.to_string())
        .env("FLEET_URL", redis.url())
        .spawn()
        .expect("a worker process")
}

fn eventually(what: &str, holds: impl FnMut() -> bool) {
    flowgate_tests::redis_server::eventually(what, Duration::from_secs(30), holds);
}

#[test]
fn four_processes_share_one_concurrency_and_one_rate_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let workers: Vec<Child> = (0..4)
        .map(|i| spawn_worker(&redis, "mixed", &format!("w{i}"), 5_000))
        .collect();
    for mut worker in workers {
        assert!(
            worker.wait().expect("the worker ends").success(),
            "a worker failed"
        );
    }
    let get = |key: &str| -> i64 {
        redis
            .query::<Option<i64>>(redis::cmd("GET").arg(key))
            .unwrap_or(0)
    };
    let peak = get("test:peak");
    let done = get("test:flows");
    let ran = get("test:ran");
    eprintln!("flows {done}, ran {ran}, peak in flight {peak} (max 8)");
    assert_eq!(done, 20_000, "every flow of every worker");
    assert!(peak <= 8, "{peak} flows ran at once over the fleet, max 8");
    assert!(
        peak >= 2,
        "the flows never overlapped: the test proves nothing"
    );
    assert_eq!(get("test:inflight"), 0);
    // Every process gave its slots back as it ended.
    let slots: HashMap<String, i64> =
        redis.query(redis::cmd("HGETALL").arg("flowgate:{Fleet}:slots"));
    assert!(slots.is_empty(), "leases left: {slots:?}");

    // The rate limit: at most `burst + limit × (W + 100 ms) / per` in any window W.
    let mut times: Vec<i64> = redis.query(redis::cmd("LRANGE").arg("test:rate").arg(0).arg(-1));
    times.sort_unstable();
    let window = 1_000_000; // µs
    let (mut most, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end] - times[start] >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    let span = (times.last().unwrap_or(&0) - times.first().unwrap_or(&0)) as f64 / 1e6;
    let exact = 100 + 2000; // burst + limit × W / per, W = 1 s
    let bound = 100 + 2200; // with the 100 ms of batches
    eprintln!(
        "rate: {} admitted over {span:.2} s; most in a 1 s window {most} (exact GCRA {exact}, stated bound {bound}, overshoot {:.1}%)",
        times.len(),
        (most as f64 - f64::from(exact)).max(0.0) / f64::from(exact) * 100.0
    );
    assert!(
        most <= bound,
        "{most} admitted in one second, bound {bound}"
    );
    if span >= 1.0 {
        assert!(
            times.len() as f64 <= 100.0 + 2000.0 * (span + 0.1),
            "{} in {span} s",
            times.len()
        );
    }
}

#[test]
fn a_killed_instance_gives_its_slots_back_within_its_lease() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let held = |name: &str| -> i64 {
        redis
            .query::<Option<i64>>(redis::cmd("GET").arg(format!("test:held:{name}")))
            .unwrap_or(0)
    };
    let mut first = spawn_worker(&redis, "hold", "A", 8);
    eventually("A holds every slot", || held("A") == 4);
    let mut second = spawn_worker(&redis, "hold", "B", 8);
    // B's flows queue: the fleet is full (A's keeper holds all 4 in the store).
    eventually("B is waiting", || {
        redis.query::<i64>(redis::cmd("EXISTS").arg("test:waiting:B")) == 1
    });
    assert_eq!(held("B"), 0);
    first.kill().expect("SIGKILL"); // no chance to give anything back
    let killed = Instant::now();
    first.wait().expect("reaped");
    eventually("B takes the dead instance's slots", || held("B") == 4);
    eprintln!(
        "B held every slot {:?} after A was killed (lease 2 s)",
        killed.elapsed()
    );
    let slots: HashMap<String, i64> =
        redis.query(redis::cmd("HGETALL").arg("flowgate:{Hold}:slots"));
    assert_eq!(slots.len(), 1, "only B holds slots: {slots:?}");
    let _: () = redis.query(redis::cmd("SET").arg("test:release").arg(1));
    assert!(second.wait().expect("B ends").success());
    let left: i64 = redis.query(redis::cmd("HLEN").arg("flowgate:{Hold}:slots"));
    assert_eq!(left, 0, "B gave its slots back");
}

/// The worker process (see the module documentation).
#[test]
#[ignore = "run by the fleet tests as a separate process"]
fn fleet_worker() {
    let Ok(role) = std::env::var("FLEET_ROLE") else {
        return;
    };
    let name = std::env::var("FLEET_NAME").unwrap();
    let flows: usize = std::env::var("FLEET_FLOWS").unwrap().parse().unwrap();
    let url = std::env::var("FLEET_URL").unwrap();
    let client = Arc::new(
        Client::builder()
            .toml(format!("{FLAGS}\n[store]\nredis = \"{url}\"\n"))
            .build()
            .unwrap(),
    );
    let redis = redis::Client::open(url.as_str()).unwrap();
    match role.as_str() {
        "mixed" => mixed(&client, &redis, flows),
        "hold" => hold(&client, &redis, &name, flows),
        other => panic!("role {other}"),
    }
    drop(client);
}

/// `flows` flows of `Fleet` over 16 threads, each running a little while; some end
/// with an error, some panic, some are dropped unfinished (cancelled). Each thread also
/// tries the global rate limit once per flow, recording when it was admitted.
fn mixed(client: &Arc<Client>, redis: &redis::Client, flows: usize) {
    std::panic::set_hook(Box::new(|_| {})); // the panics below are on purpose
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (client, next) = (Arc::clone(client), Arc::clone(&next));
            let mut connection = redis.get_connection().unwrap();
            std::thread::spawn(move || {
                let enter = redis::Script::new(ENTER);
                let admitted_at = redis::Script::new(ADMITTED_AT);
                while next.fetch_add(1, Ordering::SeqCst) < flows {
                    let _: i64 = redis::cmd("INCR")
                        .arg("test:flows")
                        .query(&mut connection)
                        .unwrap();
                    let rate = client.start_flow_blocking(
                        "FleetRate",
                        &Labels::new(),
                        Duration::from_millis(200),
                    );
                    if rate.should_run() {
                        let _: i64 = admitted_at
                            .key("test:rate")
                            .invoke(&mut connection)
                            .unwrap();
                    }
                    drop(rate);
                    let mut flow = client.start_flow_blocking(
                        "Fleet",
                        &Labels::new(),
                        Duration::from_secs(10),
                    );
                    if !flow.should_run() {
                        continue;
                    }
                    let _: i64 = enter
                        .key("test:inflight")
                        .key("test:peak")
                        .invoke(&mut connection)
                        .unwrap();
                    let _: i64 = redis::cmd("INCR")
                        .arg("test:ran")
                        .query(&mut connection)
                        .unwrap();
                    std::thread::sleep(Duration::from_micros(fastrand::u64(0..500)));
                    // Out of the fleet's count before the slot is given back.
                    let _: i64 = redis::cmd("DECR")
                        .arg("test:inflight")
                        .query(&mut connection)
                        .unwrap();
                    match fastrand::u8(0..10) {
                        0 => {
                            let panicked =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                                    let _flow = flow;
                                    panic!("on purpose");
                                }));
                            assert!(panicked.is_err());
                        }
                        1 => drop(flow), // cancelled
                        2 => {
                            flow.set_status(FlowStatus::Error);
                            flow.end();
                        }
                        _ => flow.end(),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let _ = std::panic::take_hook();
}

/// `threads` threads each take a slot of `Hold` and keep it until `test:release` is
/// set; `test:held:NAME` counts the slots taken, `test:waiting:NAME` says a thread waits.
fn hold(client: &Arc<Client>, redis: &redis::Client, name: &str, threads: usize) {
    let threads: Vec<_> = (0..threads)
        .map(|_| {
            let client = Arc::clone(client);
            let name = name.to_owned();
            let mut connection = redis.get_connection().unwrap();
            std::thread::spawn(move || {
                let _: () = redis::cmd("SET")
                    .arg(format!("test:waiting:{name}"))
                    .arg(1)
                    .query(&mut connection)
                    .unwrap();
                let flow =
                    client.start_flow_blocking("Hold", &Labels::new(), Duration::from_secs(60));
                if !flow.should_run() {
                    return;
                }
                let _: i64 = redis::cmd("INCR")
                    .arg(format!("test:held:{name}"))
                    .query(&mut connection)
                    .unwrap();
                while redis::cmd("EXISTS")
                    .arg("test:release")
                    .query::<i64>(&mut connection)
                    .unwrap()
                    == 0
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                flow.end();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
