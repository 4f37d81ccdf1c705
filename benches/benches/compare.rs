//! flowgate beside the alternatives, in one binary so that every ratio comes from one
//! run on one machine:
//!
//! - flag evaluation: flowgate's engine, unleash-yggdrasil (the Unleash engine) and
//!   unleash-api-client (the Unleash Rust SDK), on the same 100-flag Unleash state;
//! - a gated call (flow started, decided, body run, ended) against the same call
//!   ungated, sync and async, on one thread and on two, on the embedded engine and on
//!   an Unleash source (which counts every call for its usage metrics);
//! - a gated call with a rate limit and with a concurrency limit, beside `governor`
//!   and `tokio::sync::Semaphore` doing only that check;
//! - compiling a 10 000-flag rules file.
//!
//! After criterion's report it prints the allocations per call of every case.
//!
//! `cargo bench -p flowgate-benches --bench compare`

#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use flowgate::engine::Engine;
use flowgate::Client;
use flowgate_benches::{
    concurrency_limited, data_set, gated, gated_async, gated_on_unleash, limits_client,
    rate_limited, run_ready, ten_thousand_flags, ten_thousand_unleash_flags, unleash_client, work,
    Engines, CASES,
};

// ---- the counting allocator -------------------------------------------------------

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed.
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; counting is a relaxed
// atomic add that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations per call of `case`, over many calls (the bench is single-threaded here).
fn allocations_per_call(mut case: impl FnMut(u64)) -> f64 {
    const CALLS: u64 = 10_000;
    case(0);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..CALLS {
        case(i);
    }
    #[allow(clippy::cast_precision_loss)]
    let per_call = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64;
    per_call
}

// ---- the benchmarks -------------------------------------------------------------------

fn evaluation(c: &mut Criterion) {
    let Engines {
        flowgate,
        yggdrasil,
        sdk,
        labels,
        ygg_context,
        sdk_context,
    } = Engines::new();

    let mut group = c.benchmark_group("evaluate");
    for (case, flag) in CASES {
        let variant = case == "variant";
        group.bench_function(format!("flowgate/{case}"), |b| {
            if variant {
                b.iter(|| black_box(flowgate.variant(black_box(flag), &labels)));
            } else {
                b.iter(|| black_box(flowgate.is_enabled(black_box(flag), &labels)));
            }
        });
        group.bench_function(format!("yggdrasil/{case}"), |b| {
            if variant {
                b.iter(|| black_box(yggdrasil.get_variant(black_box(flag), &ygg_context, &None)));
            } else {
                b.iter(|| black_box(yggdrasil.is_enabled(black_box(flag), &ygg_context, &None)));
            }
        });
        group.bench_function(format!("unleash-sdk/{case}"), |b| {
            if variant {
                b.iter(|| black_box(sdk.get_variant_str(black_box(flag), &sdk_context)));
            } else {
                b.iter(|| {
                    black_box(sdk.is_enabled_str(black_box(flag), Some(&sdk_context), false))
                });
            }
        });
    }
    group.finish();
}

fn gate(c: &mut Criterion) {
    let flowgate = Client::new(flowgate::unleash::Unleash::from_json(&data_set()).unwrap());
    let unleash = unleash_client();
    let mut group = c.benchmark_group("gate");
    group.bench_function("ungated call", |b| b.iter(|| work(black_box(7))));
    group.bench_function("gated call, sync", |b| {
        b.iter(|| gated(&flowgate, black_box(7)));
    });
    group.bench_function("gated call, async", |b| {
        b.iter(|| run_ready(gated_async(&flowgate, black_box(7))));
    });
    on_two_threads(
        &mut group,
        "gated call, sync, 2 threads (per thread)",
        &flowgate,
        gated,
    );
    group.bench_function("gated call, sync, Unleash source", |b| {
        b.iter(|| gated_on_unleash(&unleash, black_box(7)));
    });
    on_two_threads(
        &mut group,
        "gated call, sync, Unleash source, 2 threads (per thread)",
        &unleash,
        gated_on_unleash,
    );
    group.finish();
}

/// Two threads gating the same flag: time per call, per thread (equal to one thread's
/// means perfect scaling). The two threads live for the whole benchmark, as a server's
/// workers do, and each times its own loop; the slower one counts.
fn on_two_threads(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    client: &Client,
    gated: fn(&Client, u64) -> u64,
) {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (work_tx, work_rx) = std::sync::mpsc::channel::<u64>();
                let (time_tx, time_rx) = std::sync::mpsc::channel();
                scope.spawn(move || {
                    for iterations in work_rx {
                        let start = Instant::now();
                        for _ in 0..iterations {
                            black_box(gated(client, black_box(7)));
                        }
                        time_tx.send(start.elapsed()).unwrap();
                    }
                });
                (work_tx, time_rx)
            })
            .collect();
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                for (work, _) in &workers {
                    work.send(iterations).unwrap();
                }
                workers
                    .iter()
                    .map(|(_, time)| time.recv().unwrap())
                    .max()
                    .unwrap()
            });
        });
        drop(workers);
    });
}

fn limits(c: &mut Criterion) {
    let client = limits_client();
    let mut group = c.benchmark_group("limits");
    let governor = governor::RateLimiter::direct(governor::Quota::per_second(
        NonZeroU32::new(1_000_000_000).unwrap(),
    ));
    group.bench_function("governor check", |b| {
        b.iter(|| black_box(governor.check().is_ok()));
    });
    group.bench_function("flowgate gate, rate limit", |b| {
        b.iter(|| rate_limited(&client, black_box(7)));
    });
    let semaphore = tokio::sync::Semaphore::new(1000);
    group.bench_function("tokio semaphore acquire+release", |b| {
        b.iter(|| drop(black_box(semaphore.try_acquire().unwrap())));
    });
    group.bench_function("flowgate gate, concurrency limit", |b| {
        b.iter(|| concurrency_limited(&client, black_box(7)));
    });
    group.finish();
    let metrics = client.metrics();
    assert_eq!(metrics.flag("RateLimited").rejected, 0);
    assert_eq!(metrics.flag("ConcurrencyLimited").rejected, 0);
}

fn reload(c: &mut Criterion) {
    let text = ten_thousand_flags();
    let json = ten_thousand_unleash_flags();
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.bench_function("compile 10 000 flags (flowgate.toml)", |b| {
        b.iter(|| black_box(Engine::from_toml_str(black_box(&text)).unwrap()));
    });
    group.bench_function("compile 10 000 flags (Unleash JSON)", |b| {
        b.iter(|| black_box(flowgate::unleash::Unleash::from_json(black_box(&json)).unwrap()));
    });
    group.finish();
}

/// Allocations per call of every case, printed after criterion's report.
fn allocation_report() {
    let Engines {
        flowgate,
        yggdrasil,
        sdk,
        labels,
        ygg_context,
        sdk_context,
    } = Engines::new();
    println!("\nallocations per call");
    for (case, flag) in CASES {
        let variant = case == "variant";
        let ours = allocations_per_call(|_| {
            if variant {
                black_box(flowgate.variant(flag, &labels));
            } else {
                black_box(flowgate.is_enabled(flag, &labels));
            }
        });
        let theirs = allocations_per_call(|_| {
            if variant {
                black_box(yggdrasil.get_variant(flag, &ygg_context, &None));
            } else {
                black_box(yggdrasil.is_enabled(flag, &ygg_context, &None));
            }
        });
        let sdk_allocations = allocations_per_call(|_| {
            if variant {
                black_box(sdk.get_variant_str(flag, &sdk_context));
            } else {
                black_box(sdk.is_enabled_str(flag, Some(&sdk_context), false));
            }
        });
        println!("  evaluate/{case:<22} flowgate {ours:>5.2}   yggdrasil {theirs:>5.2}   unleash-sdk {sdk_allocations:>5.2}");
    }
    let sync_gate = allocations_per_call(|i| {
        black_box(gated(&flowgate, i));
    });
    let async_gate = allocations_per_call(|i| {
        black_box(run_ready(gated_async(&flowgate, i)));
    });
    let limited = limits_client();
    let rate = allocations_per_call(|i| {
        black_box(rate_limited(&limited, i));
    });
    let concurrency = allocations_per_call(|i| {
        black_box(concurrency_limited(&limited, i));
    });
    let unleash = unleash_client();
    let unleash_gate = allocations_per_call(|i| {
        black_box(gated_on_unleash(&unleash, i));
    });
    println!("  gate/sync {sync_gate:.2}   gate/async {async_gate:.2}   gate/rate limit {rate:.2}   gate/concurrency limit {concurrency:.2}   gate/Unleash source {unleash_gate:.2}");

    let text = ten_thousand_flags();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes_before = LIVE_BYTES.load(Ordering::Relaxed);
    let engine = Engine::from_toml_str(&text).unwrap();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let kept = LIVE_BYTES
        .load(Ordering::Relaxed)
        .saturating_sub(bytes_before);
    println!(
        "  reload/10 000 flags: {} allocations per flag while compiling; {} bytes per flag kept \
         (rollout + constraint + two variants)",
        allocations / 10_000,
        kept / 10_000
    );
    drop(engine);
    let _ = (Duration::ZERO, Instant::now());
}

criterion_group!(benches, evaluation, gate, limits, reload);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    allocation_report();
}
