//! Instructions per call of every case, counted by callgrind: repeatable where the
//! timings of `compare` move 20–50% between runs on these shared machines.
//!
//! `cargo bench -p flowgate-benches --bench instructions` runs this binary once per case
//! under `valgrind --tool=callgrind`, collecting only inside [`measured`], and prints
//! instructions per call (the loop's own cost, measured on an empty case, subtracted).
//! Instructions are not nanoseconds: a cache miss or a contended atomic costs far more
//! than its one instruction. They show what the code does, repeatably.
//!
//! `instructions <case>` runs one case natively (for `perf`); `instructions --list`
//! lists the cases.

use std::hint::black_box;
use std::process::Command;

use flowgate_benches::{
    concurrency_limited, gated, gated_async, gated_on_unleash, limits_client, rate_limited,
    run_ready, unleash_client, work, Engines,
};

/// Calls per case: enough that start-up and the first, cold calls are noise.
const CALLS: u64 = 20_000;

/// Calls of a native run (`instructions <case>`): `CALLS` in the environment, for
/// `perf record`, else [`CALLS`].
fn calls() -> u64 {
    std::env::var("CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(CALLS)
}

/// The only function callgrind collects in (`--toggle-collect`): everything the case
/// calls, nothing the set-up does.
#[inline(never)]
fn measured(case: &mut dyn FnMut(u64), calls: u64) {
    for i in 0..calls {
        case(black_box(i));
    }
}

fn run_case(name: &str) -> bool {
    let engines = Engines::new();
    let Engines {
        flowgate,
        yggdrasil,
        sdk,
        labels,
        ygg_context,
        sdk_context,
    } = &engines;
    let limited = limits_client();
    let unleash = unleash_client();
    let governor = governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::new(1_000_000_000).unwrap(),
    ));
    let semaphore = tokio::sync::Semaphore::new(1000);
    let flag_of = |kind: &str| match kind {
        "always-on" => "on-7",
        "rollout" => "half-7",
        "constraint+rollout" => "regional-7",
        _ => "variant-7",
    };
    let (engine, kind) = name.split_once('/').unwrap_or((name, ""));
    let flag = flag_of(kind);
    let mut case: Box<dyn FnMut(u64) + '_> = match (engine, kind) {
        ("empty", _) => Box::new(|i| {
            black_box(i);
        }),
        ("atomic-bool", _) => {
            let on = Box::leak(Box::new(std::sync::atomic::AtomicBool::new(true)));
            Box::new(move |_| {
                black_box(black_box(&*on).load(std::sync::atomic::Ordering::Relaxed));
            })
        }
        ("flowgate", "variant") => Box::new(|_| drop(black_box(flowgate.variant(flag, labels)))),
        ("flowgate", _) => Box::new(|_| {
            black_box(flowgate.is_enabled(flag, labels));
        }),
        ("yggdrasil", "variant") => Box::new(|_| {
            black_box(yggdrasil.get_variant(flag, ygg_context, &None));
        }),
        ("yggdrasil", _) => Box::new(|_| {
            black_box(yggdrasil.is_enabled(flag, ygg_context, &None));
        }),
        ("unleash-sdk", "variant") => Box::new(|_| {
            black_box(sdk.get_variant_str(flag, sdk_context));
        }),
        ("unleash-sdk", _) => Box::new(|_| {
            black_box(sdk.is_enabled_str(flag, Some(sdk_context), false));
        }),
        ("ungated", _) => Box::new(|i| {
            black_box(work(i));
        }),
        ("gate-sync", _) => Box::new(|i| {
            black_box(gated(flowgate, i));
        }),
        ("gate-unleash", _) => Box::new(|i| {
            black_box(gated_on_unleash(&unleash, i));
        }),
        ("gate-async", _) => Box::new(|i| {
            black_box(run_ready(gated_async(flowgate, i)));
        }),
        ("gate-rate-limit", _) => Box::new(|i| {
            black_box(rate_limited(&limited, i));
        }),
        ("governor", _) => Box::new(|_| {
            black_box(governor.check().is_ok());
        }),
        ("gate-concurrency-limit", _) => Box::new(|i| {
            black_box(concurrency_limited(&limited, i));
        }),
        ("semaphore", _) => Box::new(|_| drop(black_box(semaphore.try_acquire().unwrap()))),
        _ => return false,
    };
    // Warm: first calls fill caches (call sites, per-thread snapshots).
    for i in 0..100 {
        case(i);
    }
    let calls = calls();
    let start = std::time::Instant::now();
    measured(&mut *case, calls);
    let elapsed = start.elapsed();
    if std::env::var_os("CALLS").is_some() {
        #[allow(clippy::cast_precision_loss)]
        let per_call = elapsed.as_nanos() as f64 / calls as f64;
        eprintln!("{name}: {per_call:.1} ns per call (wall clock, loop included)");
    }
    true
}

const CASES: &[&str] = &[
    "atomic-bool",
    "flowgate/always-on",
    "yggdrasil/always-on",
    "unleash-sdk/always-on",
    "flowgate/rollout",
    "yggdrasil/rollout",
    "unleash-sdk/rollout",
    "flowgate/constraint+rollout",
    "yggdrasil/constraint+rollout",
    "unleash-sdk/constraint+rollout",
    "flowgate/variant",
    "yggdrasil/variant",
    "unleash-sdk/variant",
    "ungated",
    "gate-sync",
    "gate-unleash",
    "gate-async",
    "governor",
    "gate-rate-limit",
    "semaphore",
    "gate-concurrency-limit",
];

/// Instructions callgrind counted in [`measured`] for one run of `case`.
fn count(case: &str) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file =
        std::env::temp_dir().join(format!("flowgate-callgrind-{}.out", std::process::id()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*instructions::measured*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .arg(case)
        .output()
        .map_err(|e| format!("cannot run valgrind (is it installed?): {e}"))?;
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{case}: valgrind failed:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|line| {
            let (_, collected) = line.split_once("Collected :")?;
            collected.trim().parse().ok()
        })
        .ok_or_else(|| format!("{case}: no instruction count in valgrind's output:\n{stderr}"))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("--list") => {
            for case in CASES {
                println!("{case}");
            }
        }
        Some(case) => {
            if !run_case(case) {
                eprintln!("unknown case {case}; `--list` lists them");
                std::process::exit(2);
            }
        }
        None => {
            let baseline = count("empty").unwrap_or_else(|e| panic!("{e}"));
            println!("instructions per call (callgrind, {CALLS} calls, loop cost subtracted)");
            for case in CASES {
                let total = count(case).unwrap_or_else(|e| panic!("{e}"));
                #[allow(clippy::cast_precision_loss)]
                let per_call = total.saturating_sub(baseline) as f64 / CALLS as f64;
                println!("  {case:<32} {per_call:>8.1}");
            }
        }
    }
}
