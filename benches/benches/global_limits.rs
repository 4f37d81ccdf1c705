//! Gates on global limits (`scope = "global"`, kept in a real `redis-server` on
//! loopback) beside the same gates on local limits and a plain Redis `INCR` round trip,
//! in one run. Every call builds its labels with a fresh user, as a request would.
//!
//! - `rate/local`, `rate/global`: a rate limit far from exhausted (a billion a second):
//!   the global one hands out tokens from batches fetched in the background;
//! - `rate/global, 2 threads`: the same from two threads at once (time per call);
//! - `rate/global, exhausted`: 100 a second with a burst of 1, called far more often:
//!   nearly every call is refused, from the retry time the store gave;
//! - `concurrency/local`, `concurrency/global`: a concurrency limit far from full;
//! - `redis INCR`: one `INCR` with the redis crate's multiplexed connection, what a
//!   limit that asks the store on every call would pay at least.
//!
//! After the timings, the round trips to the store per decision of each global case
//! (from the server's own `INFO commandstats`).
//!
//! With `-- --instructions`, instead: instructions per call of each case counted by
//! callgrind (only the calling thread inside [`measured`]: the gate's own work, not the
//! background refills nor the server), beside the times.
//!
//! `bash scripts/install-redis.sh && cargo bench -p flowgate-benches --bench global_limits`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use flowgate::{labels, Client};
use flowgate_tests::redis_server::RedisServer;

const RULES: &str = r#"
[flags.rate-local]
rate_limit = { limit = 1000000000, per = "1s", burst = 1000000 }
[flags.rate-global]
rate_limit = { limit = 1000000000, per = "1s", burst = 1000000, scope = "global" }
[flags.rate-exhausted]
rate_limit = { limit = 100, per = "1s", burst = 1, scope = "global" }
[flags.concurrency-local]
concurrency = { max = 1000000 }
[flags.concurrency-global]
concurrency = { max = 1000000, scope = "global" }
"#;

fn call(client: &Client, flag: &str, user: u64) -> bool {
    let flow =
        client.start_flow_blocking(flag, &labels! { "userId" => user }, Duration::from_secs(1));
    let ran = flow.should_run();
    flow.end();
    ran
}

/// Script calls the server ran so far.
fn store_calls(redis: &RedisServer) -> u64 {
    let info: String = redis.query(redis::cmd("INFO").arg("commandstats"));
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| {
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

const CASES: [&str; 5] = [
    "rate-local",
    "rate-global",
    "rate-exhausted",
    "concurrency-local",
    "concurrency-global",
];

/// Calls counted per case under callgrind.
const CALLS: u64 = 20_000;

/// The only function callgrind collects in.
#[inline(never)]
fn measured(client: &Client, flag: &str, calls: u64) {
    for i in 0..calls {
        black_box(call(client, flag, black_box(i)));
    }
}

/// One case under callgrind (`--one CASE`): warm, then `CALLS` calls in [`measured`].
fn run_one(flag: &str) {
    let redis = RedisServer::start().expect("redis-server");
    let client = Client::builder()
        .toml(format!("{RULES}\n[store]\nredis = \"{}\"\n", redis.url()))
        .build()
        .expect("the rules");
    for i in 0..5_000 {
        black_box(call(&client, flag, u64::MAX - i));
    }
    let calls = if flag == "empty" { 0 } else { CALLS };
    measured(&client, flag, calls);
}

/// Instructions callgrind counted in [`measured`] for `case`.
fn count(case: &str) -> u64 {
    let out_file = std::env::temp_dir().join(format!("flowgate-global-{}.out", std::process::id()));
    let output = std::process::Command::new("valgrind")
        .args(["--tool=callgrind", "--collect-atstart=no"])
        .arg("--toggle-collect=*global_limits::measured*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(std::env::current_exe().expect("this bench"))
        .args(["--one", case])
        .output()
        .expect("valgrind (apt-get install valgrind)");
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .find_map(|line| line.split_once("Collected :")?.1.trim().parse().ok())
        .unwrap_or_else(|| panic!("{case}: no count from valgrind:\n{stderr}"))
}

#[allow(clippy::cast_precision_loss)] // ratios of counts for people
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--one") {
        run_one(&args[at + 1]);
        return;
    }
    if args.iter().any(|a| a == "--instructions") {
        let empty = count("empty");
        for case in CASES {
            #[allow(clippy::cast_precision_loss)]
            let per_call = count(case).saturating_sub(empty) as f64 / CALLS as f64;
            println!("{case}: {per_call:.0} instructions per call");
        }
        return;
    }
    let Some(redis) = RedisServer::start() else {
        eprintln!("redis-server is not installed: bash scripts/install-redis.sh");
        return;
    };
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let client = Client::builder()
        .toml(format!("{RULES}\n[store]\nredis = \"{}\"\n", redis.url()))
        .build()
        .expect("the rules");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut connection = runtime
        .block_on(
            redis::Client::open(redis.url())
                .unwrap()
                .get_multiplexed_async_connection(),
        )
        .expect("a connection");

    let mut group = criterion.benchmark_group("global_limits");
    let mut user = 0_u64;
    for flag in CASES {
        let name = flag.replacen('-', "/", 1);
        group.bench_function(name, |b| {
            b.iter(|| {
                user = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
                black_box(call(&client, flag, user))
            });
        });
    }
    for flag in ["rate-local", "rate-global"] {
        group.bench_function(
            format!("{} (2 threads, time per call)", flag.replacen('-', "/", 1)),
            |b| {
                b.iter_custom(|iterations| {
                    let started = std::time::Instant::now();
                    std::thread::scope(|scope| {
                        for thread in 0..2_u64 {
                            let client = &client;
                            scope.spawn(move || {
                                for i in 0..iterations.div_ceil(2) {
                                    black_box(call(client, flag, (thread << 48) | i));
                                }
                            });
                        }
                    });
                    started.elapsed()
                });
            },
        );
    }
    group.bench_function("redis INCR (round trip)", |b| {
        b.iter(|| {
            let n: i64 = runtime
                .block_on(
                    redis::cmd("INCR")
                        .arg("bench:incr")
                        .query_async(&mut connection),
                )
                .expect("INCR");
            black_box(n)
        });
    });
    group.finish();

    for flag in ["rate-global", "rate-exhausted", "concurrency-global"] {
        let decisions = 200_000_u64;
        let before = store_calls(&redis);
        let mut admitted = 0_u64;
        for i in 0..decisions {
            admitted += u64::from(call(&client, flag, i));
        }
        let calls = store_calls(&redis) - before;
        println!(
            "{flag}: {decisions} decisions ({admitted} admitted), {calls} store round trips: {:.4} per decision, {:.3} per admitted flow",
            calls as f64 / decisions as f64,
            calls as f64 / admitted.max(1) as f64,
        );
    }
}
