//! A gated call with a rate limit or a concurrency limit, beside `governor` and
//! `tokio::sync::Semaphore` doing the same check alone, in one run.
//!
//! `cargo bench -p flowgate-benches --bench limits`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use flowgate::{feature_gate, Client};

const RULES: &str = r#"
[flags.Plain]
enabled = true

[flags.RateLimited]
rate_limit = { limit = 1000000000, per = "1s", burst = 1000000000 }

[flags.ConcurrencyLimited]
concurrency = { max = 1000, queue = 0 }
"#;

fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[feature_gate("Plain", client = flags, on_reject = || 0)]
fn plain(flags: &Client, x: u64) -> u64 {
    work(x)
}

#[feature_gate("RateLimited", client = flags, on_reject = || 0)]
fn rate_limited(flags: &Client, x: u64) -> u64 {
    work(x)
}

#[feature_gate("ConcurrencyLimited", client = flags, on_reject = || 0)]
fn concurrency_limited(flags: &Client, x: u64) -> u64 {
    work(x)
}

fn limits(c: &mut Criterion) {
    let client = Client::from_toml_str(RULES).unwrap();
    let mut group = c.benchmark_group("limits");
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("ungated call", |b| b.iter(|| work(black_box(7))));
    group.bench_function("flowgate gate, no limit", |b| {
        b.iter(|| plain(&client, black_box(7)));
    });

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

    // The limits never ran out: every call above ran its body.
    let metrics = client.metrics();
    for flag in ["Plain", "RateLimited", "ConcurrencyLimited"] {
        assert_eq!(metrics.control_point(flag).rejected, 0, "{flag}");
    }
}

criterion_group!(benches, limits);
criterion_main!(benches);
