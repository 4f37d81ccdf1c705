//! Flag overrides local to one test (the `testing` feature): they win over any source,
//! `global()` included, and two tests running in parallel with opposite values never
//! see each other's.
//!
//! The code under test here asks `flowgate::global()` (gated functions with no
//! `client`), as an app's code does: built from `./flowgate.toml`, where `Pricing` is on
//! for everyone.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use flowgate::testing::{override_flags, scope, InMemorySource};
use flowgate::{feature_gate, labels, Client, Labels, Rejection};

#[feature_gate("Pricing")]
fn price_sync() -> Result<(), Rejection> {
    Ok(())
}

#[feature_gate("Pricing")]
async fn price_async() -> Result<(), Rejection> {
    tokio::task::yield_now().await;
    Ok(())
}

/// What the code under test sees of `Pricing`: the gate runs its body, and
/// `is_enabled` agrees.
fn sees_pricing() -> bool {
    let gated = price_sync().is_ok();
    assert_eq!(
        gated,
        flowgate::global().is_enabled("Pricing", &Labels::new()),
        "a gate and a call by name disagree"
    );
    gated
}

/// Where the two parallel tests meet, so that their rounds overlap for real: each says
/// which round it is in and waits (on a signal, a few seconds at most) for the other.
/// Run alone (`--test-threads=1`), the first wait times out and the test goes on alone.
struct Meeting {
    rounds: Mutex<[Option<usize>; 2]>,
    moved: Condvar,
}

static MEETING: Meeting = Meeting {
    rounds: Mutex::new([None, None]),
    moved: Condvar::new(),
};

impl Meeting {
    /// Side `me` is in `round`; returns whether the other side was met.
    fn meet(&self, me: usize, round: usize) -> bool {
        let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        rounds[me] = Some(round);
        self.moved.notify_all();
        let (rounds, _) = self
            .moved
            .wait_timeout_while(rounds, Duration::from_secs(5), |r| {
                r[1 - me].is_none_or(|other| other < round)
            })
            .unwrap_or_else(PoisonError::into_inner);
        rounds[1 - me].is_some_and(|other| other >= round)
    }
}

const ROUNDS: usize = 40;

/// Forty rounds with `Pricing` off for this test (a guard), while the test below holds
/// it on: the guard's value, every call, every round.
#[test]
fn parallel_tests_with_opposite_overrides_never_interfere_off() {
    let mut met = true;
    for round in 0..ROUNDS {
        let guard = override_flags([("Pricing", false)]);
        if met {
            met = MEETING.meet(0, round);
        }
        for _ in 0..1_000 {
            assert!(
                !sees_pricing(),
                "round {round}: the other test's `on` leaked"
            );
            std::thread::yield_now();
        }
        drop(guard);
        assert!(
            sees_pricing(),
            "round {round}: the source again, without the guard"
        );
    }
}

/// The same with `Pricing` on through the attribute, in an async test whose gated
/// calls await.
#[flowgate::test(flags(Pricing = on))]
#[tokio::test]
async fn parallel_tests_with_opposite_overrides_never_interfere_on() {
    let mut met = true;
    for round in 0..ROUNDS {
        let inner = override_flags([("Pricing", false)]);
        assert!(!sees_pricing(), "the newest override wins");
        drop(inner);
        if met {
            met = MEETING.meet(1, round);
        }
        for _ in 0..1_000 {
            assert!(
                price_async().await.is_ok(),
                "round {round}: the other test's `off` leaked"
            );
            assert!(flowgate::global().is_enabled("Pricing", &Labels::new()));
        }
    }
}

/// Overrides win over a source that is not ready (no wait for it) and over a rule, for
/// gates, calls by name and variants.
#[flowgate::test(flags(Checkout = on, Search = off))]
fn overrides_win_over_any_source_and_its_readiness() {
    let pending: Client = InMemorySource::pending().into_client();
    assert!(pending.is_enabled("Checkout", &labels! {}));
    assert!(!pending.is_enabled("Search", &labels! {}));
    let variant = pending.variant("Checkout", &labels! {});
    assert!(variant.feature_enabled() && !variant.enabled());

    let source = InMemorySource::new()
        .rule("Search", |_| true)
        .disable("Checkout");
    let client = source.into_client();
    assert!(client.is_enabled("Checkout", &labels! { "userId" => 1 }));
    assert!(!client.is_enabled("Search", &labels! { "userId" => 1 }));
    let flow = client.start_flow_blocking("Checkout", &labels! {}, Duration::ZERO);
    assert!(flow.should_run());
    flow.end();
}

/// The attribute as its own test attribute: a plain function, and an async one run on a
/// runtime it makes.
#[flowgate::test(flags(Pricing = off))]
fn the_attribute_alone_makes_a_test() {
    assert!(!sees_pricing());
}

#[flowgate::test(flags("Pricing" = false))]
async fn the_attribute_alone_runs_an_async_test() {
    assert!(price_async().await.is_err());
}

/// Above or below `#[tokio::test]`, either flavour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[flowgate::test(flags(Pricing = off))]
async fn below_a_multi_thread_tokio_test() {
    assert!(price_async().await.is_err());
}

/// Tasks on a multi-thread runtime's workers move between threads: a scope goes with
/// them, and a thread's guard does not reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_follows_its_task_across_worker_threads() {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let on = i % 2 == 0;
        tasks.push(tokio::spawn(scope([("Pricing", on)], async move {
            for _ in 0..200 {
                assert_eq!(price_async().await.is_ok(), on, "task {i}");
                tokio::task::yield_now().await;
            }
        })));
    }
    // Nested: the inner scope wins, and the outer comes back after it.
    tasks.push(tokio::spawn(scope([("Pricing", false)], async {
        scope([("Pricing", true)], async {
            assert!(price_async().await.is_ok());
        })
        .await;
        assert!(price_async().await.is_err());
    })));
    for task in tasks {
        task.await.unwrap();
    }
    let _guard = override_flags([("Pricing", false)]);
    let unscoped = tokio::spawn(async { flowgate::global().is_enabled("Pricing", &Labels::new()) });
    assert!(
        unscoped.await.unwrap(),
        "a worker thread does not see this thread's guard"
    );
}

/// Many generated sequences of guards made and dropped in any order, checked against a
/// model: the newest live override of a flag wins, and with none the source answers.
#[test]
fn generated_guard_sequences_match_the_model() {
    let flags = ["A", "B", "C"];
    let source = InMemorySource::new().enable("A").disable("B"); // C: unknown, fallback off
    let client = source.into_client();
    let base = |flag: &str| flag == "A";
    let mut rng = fastrand::Rng::with_seed(15);
    for _ in 0..300 {
        let mut live: Vec<(Vec<(&str, bool)>, flowgate::testing::OverrideGuard)> = Vec::new();
        for _ in 0..rng.usize(1..30) {
            if live.is_empty() || rng.bool() {
                let set: Vec<(&str, bool)> = (0..rng.usize(1..4))
                    .map(|_| (flags[rng.usize(..flags.len())], rng.bool()))
                    .collect();
                let guard = override_flags(set.iter().copied());
                live.push((set, guard));
            } else {
                let (_, guard) = live.remove(rng.usize(..live.len()));
                drop(guard);
            }
            for flag in flags {
                let expected = live
                    .iter()
                    .rev()
                    .find_map(|(set, _)| set.iter().rev().find(|(f, _)| *f == flag))
                    .map_or_else(|| base(flag), |(_, on)| *on);
                assert_eq!(
                    client.is_enabled(flag, &labels! {}),
                    expected,
                    "{flag} with {:?}",
                    live.iter().map(|(s, _)| s).collect::<Vec<_>>()
                );
            }
        }
    }
}
