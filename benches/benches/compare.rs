//! flowgate beside the alternatives, in one binary so that every ratio comes from one
//! run on one machine: every case of `flowgate_benches::cases` (the same closures the
//! `instructions` benchmark counts), then two threads at once on one client, then the
//! allocations per call of every case.
//!
//! `cargo bench -p flowgate-benches --bench compare` (about 5 minutes); a filter as the
//! first argument runs the matching cases only, as criterion's does.

#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use flowgate::Client;
use flowgate_benches::cases::{build, CASES};
use flowgate_benches::service::{file_client, handler, request, requests, variant_handler};
use flowgate_benches::{gated, run_ready, Engines};

// ---- the counting allocator -------------------------------------------------------

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; counting is a relaxed
// atomic add that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations per call of `case`, over many calls on this thread (nothing else runs).
fn allocations_per_call(case: &mut dyn FnMut(u64)) -> f64 {
    const CALLS: u64 = 10_000;
    for i in 0..1_000 {
        case(u64::MAX - i);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..CALLS {
        case(i);
    }
    #[allow(clippy::cast_precision_loss)]
    let per_call = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64;
    per_call
}

// ---- the benchmarks -------------------------------------------------------------------

fn one_thread(c: &mut Criterion) {
    for case in CASES {
        let (group, engine) = case.name.split_once('/').unwrap_or((case.name, "-"));
        let mut group = c.benchmark_group(group);
        let mut run = build(case.name).expect("every listed case builds");
        let mut i = 0_u64;
        group.bench_function(engine, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                run(black_box(i));
            });
        });
        group.finish();
    }
}

/// Two threads calling `call` on one shared client: time per call, per thread (equal
/// to one thread's means perfect scaling). The two threads live for the whole
/// benchmark, as a server's workers do, and each times its own loop; the slower one
/// counts.
fn on_two_threads(c: &mut Criterion, name: &str, call: &(dyn Fn(u64) + Sync)) {
    let mut group = c.benchmark_group("2 threads");
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2_u64)
            .map(|thread| {
                let (work_tx, work_rx) = std::sync::mpsc::channel::<u64>();
                let (time_tx, time_rx) = std::sync::mpsc::channel();
                scope.spawn(move || {
                    let mut i = thread << 40;
                    for iterations in work_rx {
                        let start = Instant::now();
                        for _ in 0..iterations {
                            i += 1;
                            call(black_box(i));
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
                    .unwrap_or(Duration::ZERO)
            });
        });
        drop(workers);
    });
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let engines = Engines::new();
    let constant: &Client = &engines.flowgate;
    on_two_threads(c, "best-gate-sync (constant flag)", &|i| {
        black_box(gated(constant, i));
    });
    let client = file_client();
    let eu = requests("eu");
    on_two_threads(c, "handler/flowgate (fresh users, rollout)", &|i| {
        black_box(run_ready(handler(&client, request(&eu, i))));
    });
    on_two_threads(c, "handler-variant/flowgate", &|i| {
        black_box(variant_handler(&client, request(&eu, i)));
    });
}

/// Allocations per call of every case, printed after criterion's report.
fn allocation_report() {
    println!("\nallocations per call (10 000 calls after 1 000 to warm up)");
    for case in CASES {
        let mut run = build(case.name).expect("every listed case builds");
        println!(
            "  {:<32} {:>6.2}",
            case.name,
            allocations_per_call(&mut *run)
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    one_thread(&mut criterion);
    two_threads(&mut criterion);
    criterion.final_summary();
    allocation_report();
}
