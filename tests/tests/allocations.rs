//! The hot path allocates nothing: once a flag has been seen, a gated call
//! (flow started, decided, body run, flow ended) makes no heap allocation, accepted or
//! rejected, sync or async, with a few short labels.
//!
//! A counting global allocator (the reason this file may use `unsafe`) counts the
//! allocations of the current thread only, so other tests' threads cannot disturb it.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, labels, Client};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local without a destructor, so it never allocates itself.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

/// Polls a future that never waits to completion, without a runtime (a runtime's own
/// bookkeeping would be counted otherwise).
fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the gated call waited"),
    }
}

#[feature_gate("Checkout", client = flags, labels(userId = user_id, region = region))]
fn gated(flags: &Client, user_id: u64, region: &str) -> Option<u64> {
    Some(user_id)
}

#[feature_gate("Checkout", client = flags, labels(userId = user_id, region = region))]
async fn gated_async(flags: &Client, user_id: u64, region: &str) -> Option<u64> {
    Some(user_id)
}

#[feature_gate("Checkout", client = flags, on_reject = |rejection| rejection.reason().as_str())]
fn gated_reason(flags: &Client) -> &'static str {
    "accepted"
}

#[test]
fn gated_calls_do_not_allocate() {
    let source = InMemorySource::new().enable("Checkout");
    let client = source.clone().into_client();
    // The first call of each gated function registers it: that one may allocate.
    assert_eq!(gated(&client, 1, "eu"), Some(1));
    assert_eq!(run_ready(gated_async(&client, 1, "eu")), Some(1));
    assert_eq!(gated_reason(&client), "accepted");

    let sync_accepted = allocations_during(|| {
        for user in 0..1_000 {
            assert_eq!(gated(&client, user, "eu-west-1"), Some(user));
        }
    });
    let async_accepted = allocations_during(|| {
        for user in 0..1_000 {
            assert_eq!(run_ready(gated_async(&client, user, "eu")), Some(user));
        }
    });
    source.set("Checkout", false);
    let rejected = allocations_during(|| {
        for user in 0..1_000 {
            assert_eq!(gated(&client, user, "eu"), None);
            assert_eq!(gated_reason(&client), "flag_disabled");
        }
    });

    assert_eq!(
        (sync_accepted, async_accepted, rejected),
        (0, 0, 0),
        "allocations in 1000 calls: (sync accepted, async accepted, rejected)"
    );
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.rejected), (2_003, 2_000));
}

#[test]
fn the_counter_sees_allocations() {
    let boxed = allocations_during(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(boxed, 1);
}

/// Rules of every kind, evaluated by the embedded engine: after the first call of each
/// flag, evaluating allocates nothing (no string built, nothing re-parsed).
#[test]
fn engine_evaluation_does_not_allocate() {
    let client = Client::from_toml_str(
        r#"
        [flags.AlwaysOn]
        enabled = true
        [flags.Half]
        rollout = 50
        [flags.RegionalHalf]
        rollout = 50
        constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
        [flags.Colour]
        variants = [{ name = "blue", weight = 50 }, { name = "green", weight = 50 }]
        [flags.Everything]
        constraints = [
          { label = "email", operator = "STR_ENDS_WITH", values = ["@EXAMPLE.com"], case_insensitive = true },
          { label = "age", operator = "NUM_GTE", value = "18" },
          { label = "appVersion", operator = "SEMVER_GT", value = "2.1.0" },
          { label = "currentTime", operator = "DATE_BEFORE", value = "2999-01-01T00:00:00+02:00" },
          { label = "email", operator = "REGEX", value = "^[a-z]+@" },
          { label = "remoteAddress", operator = "IN_CIDR", values = ["10.0.0.0/8"] },
        ]
        "#,
    )
    .unwrap();
    let everything = labels! {
        "userId" => 7,
        "email" => "ana@example.COM",
        "age" => 30,
        "appVersion" => "2.3.0",
        "remoteAddress" => "10.1.2.3",
    };
    assert!(client.is_enabled("Everything", &everything));
    let flags = ["AlwaysOn", "Half", "RegionalHalf", "Colour", "Everything"];
    for flag in flags {
        let _ = client.is_enabled(flag, &everything);
    }
    // A thread's first hand-out of each variant makes its own copy (once per thread).
    for user in 0..100_u32 {
        let _ = client.variant("Colour", &labels! { "userId" => user });
    }

    let evaluations = allocations_during(|| {
        for user in 0..1_000_u32 {
            let labels = labels! { "userId" => user, "region" => "eu" };
            for flag in flags {
                std::hint::black_box(client.is_enabled(flag, &labels));
            }
            std::hint::black_box(client.is_enabled("Everything", &everything));
            std::hint::black_box(client.variant("Colour", &labels));
        }
    });
    assert_eq!(evaluations, 0, "allocations in 7000 evaluations");
}

/// The same on an Unleash source, which counts every evaluation for its usage
/// metrics: counting allocates nothing either. No server runs; the state is the
/// bootstrap, and the source's own thread (which may allocate) is not counted.
#[test]
fn gated_calls_on_an_unleash_source_do_not_allocate() {
    let unleash = flowgate::unleash::Unleash::start(
        flowgate::unleash::UnleashConfig::new(
            flowgate_tests::unanswered_unleash_url(),
            "allocations-test",
            "default:development.token",
        )
        .refresh_interval(std::time::Duration::from_secs(3600))
        .backup_path(None)
        .bootstrap(flowgate::unleash::Bootstrap::Json(
            r#"{"version": 2, "features": [{"name": "Checkout", "enabled": true,
                "strategies": [{"name": "flexibleRollout", "parameters":
                  {"rollout": "100", "stickiness": "default", "groupId": "Checkout"}}]}]}"#
                .into(),
        )),
    )
    .unwrap();
    let client = Client::new(unleash);
    assert!(client.is_ready(), "ready from the bootstrap");
    assert_eq!(gated(&client, 1, "eu"), Some(1));
    assert_eq!(run_ready(gated_async(&client, 1, "eu")), Some(1));

    let calls = allocations_during(|| {
        for user in 0..1_000 {
            assert_eq!(gated(&client, user, "eu-west-1"), Some(user));
            assert_eq!(run_ready(gated_async(&client, user, "eu")), Some(user));
            assert!(client.is_enabled("Checkout", &flowgate::Labels::new()));
        }
    });
    assert_eq!(calls, 0, "allocations in 3000 evaluations");
    client.shutdown();
}
