//! Reloads never break a limit. A reload that changes any part of a limit (`max`,
//! `queue`, `by`, `max_keys`, `limit`, `per`, `burst`, a second limit added or removed)
//! applies to new flows at once, while flows in flight keep their slots: new admissions
//! never take in flight past the new `max`, a rate bucket is never refilled, and
//! `max_keys` changes take effect.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flowgate::engine::Engine;
use flowgate::{feature_gate, labels, Client, Flow, Labels, RejectReason};

fn client(rules: &str) -> (Engine, Client) {
    let engine = Engine::from_toml_str(rules).unwrap_or_else(|e| panic!("{e}"));
    (engine.clone(), Client::new(engine))
}

fn limited(concurrency: &str) -> String {
    format!("[flags.Limited]\nconcurrency = {{ {concurrency} }}\n")
}

/// A flow that takes what is free now and waits for nothing.
fn start(client: &Client, labels: &Labels<'_>) -> Flow {
    client.start_flow_blocking("Limited", labels, Duration::ZERO)
}

fn admitted(client: &Client, labels: &Labels<'_>) -> bool {
    let flow = start(client, labels);
    let admitted = flow.should_run();
    flow.end();
    admitted
}

fn reason(flow: &Flow) -> Option<RejectReason> {
    flow.rejection().map(flowgate::Rejection::reason)
}

#[test]
fn a_lower_max_waits_for_the_flows_in_flight_to_end() {
    let (engine, client) = client(&limited("max = 4"));
    let mut held: Vec<Flow> = (0..4).map(|_| start(&client, &Labels::new())).collect();
    assert!(held.iter().all(Flow::should_run));
    engine.replace_from_toml_str(&limited("max = 2")).unwrap();
    let refused = start(&client, &Labels::new());
    assert_eq!(
        reason(&refused),
        Some(RejectReason::ConcurrencyLimited),
        "4 in flight, max 2"
    );
    refused.end();
    held.truncate(2);
    assert!(!admitted(&client, &Labels::new()), "2 in flight, max 2");
    held.pop();
    assert!(admitted(&client, &Labels::new()), "1 in flight, max 2");
}

#[test]
fn adding_by_counts_the_flows_in_flight_against_every_new_key() {
    let (engine, client) = client(&limited("max = 2"));
    let mut held: Vec<Flow> = (0..2)
        .map(|_| start(&client, &labels! { "tenant" => "a" }))
        .collect();
    engine
        .replace_from_toml_str(&limited("max = 2, by = \"tenant\""))
        .unwrap();
    // The two old flows could be anyone's: they count against every tenant.
    assert!(!admitted(&client, &labels! { "tenant" => "b" }));
    held.pop();
    let b = start(&client, &labels! { "tenant" => "b" });
    assert!(b.should_run(), "one old flow and none of b's: under 2");
    assert!(
        !admitted(&client, &labels! { "tenant" => "b" }),
        "one old, one of b's"
    );
    held.pop();
    assert!(admitted(&client, &labels! { "tenant" => "c" }));
    let c: Vec<Flow> = (0..2)
        .map(|_| start(&client, &labels! { "tenant" => "c" }))
        .collect();
    assert!(
        c.iter().all(Flow::should_run),
        "the old flows gone, each tenant has its max"
    );
    drop(b);
}

#[test]
fn removing_or_changing_by_counts_every_keys_flows() {
    let (engine, client) = client(&limited("max = 2, by = \"tenant\""));
    let held: Vec<Flow> = ["a", "a", "b", "b"]
        .iter()
        .map(|tenant| start(&client, &labels! { "tenant" => *tenant }))
        .collect();
    assert!(held.iter().all(Flow::should_run));
    engine.replace_from_toml_str(&limited("max = 3")).unwrap();
    assert!(
        !admitted(&client, &Labels::new()),
        "4 in flight over two keys, max 3"
    );
    engine
        .replace_from_toml_str(&limited("max = 5, by = \"userId\""))
        .unwrap();
    // Per key now: the 4 old flows could all be user 1's.
    let one = start(&client, &labels! { "userId" => 1 });
    assert!(one.should_run(), "4 old + 0 of user 1's: under 5");
    assert!(
        !admitted(&client, &labels! { "userId" => 1 }),
        "4 old + 1 of user 1's: 5"
    );
    drop(held);
    let more: Vec<Flow> = (0..4)
        .map(|_| start(&client, &labels! { "userId" => 1 }))
        .collect();
    assert!(
        more.iter().all(Flow::should_run),
        "the old flows gone, user 1 has 5"
    );
    drop((one, more));
}

#[test]
fn a_waiter_is_admitted_when_an_old_flow_ends() {
    let (engine, client) = client(&limited("max = 1"));
    let old = start(&client, &Labels::new());
    engine
        .replace_from_toml_str(&limited("max = 1, queue = 4, by = \"tenant\""))
        .unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let flow = client.start_flow_blocking(
                "Limited",
                &labels! { "tenant" => "x" },
                Duration::from_secs(3600),
            );
            flow.should_run()
        });
        // Once the new flow waits, the old one ends: that must wake it.
        while client.metrics().flag("Limited").queued == 0 {
            std::thread::yield_now();
        }
        drop(old);
        assert!(
            waiter.join().unwrap(),
            "woken by the end of a flow of the old limit"
        );
    });
}

#[test]
fn a_smaller_max_keys_takes_effect() {
    let (engine, client) = client(&limited("max = 1, by = \"tenant\", max_keys = 10000"));
    let held: Vec<Flow> = (0..200)
        .map(|i| start(&client, &labels! { "tenant" => i }))
        .collect();
    assert!(held.iter().all(Flow::should_run));
    assert_eq!(client.metrics().keys("Limited").len(), 200);
    drop(held);
    engine
        .replace_from_toml_str(&limited("max = 1, by = \"tenant\", max_keys = 16"))
        .unwrap();
    let held: Vec<Flow> = (1000..1200)
        .map(|i| start(&client, &labels! { "tenant" => i }))
        .collect();
    let admitted = held.iter().filter(|f| f.should_run()).count();
    // At most 16 tracked values (one per shard), each with its slot, and one overflow
    // slot that every other value shares.
    assert!(admitted <= 16 + 1, "{admitted} admitted");
    assert!(client.metrics().keys("Limited").len() <= 16);
}

#[test]
fn no_reload_refills_a_rate_bucket() {
    let rate = |rest: &str| {
        format!("[flags.Limited]\nrate_limit = {{ limit = 1, per = \"1h\", burst = 3{rest} }}\n")
    };
    let (engine, client) = client(&rate(""));
    let tokens = |labels: Labels<'_>| (0..10).filter(|_| admitted(&client, &labels)).count();
    assert_eq!(tokens(Labels::new()), 3, "a full bucket");
    for (change, rules) in [
        ("the same rules again", rate("")),
        (
            "another limit",
            "[flags.Limited]\nrate_limit = { limit = 2, per = \"1h\", burst = 3 }\n".to_owned(),
        ),
        ("another period", rate("").replace("\"1h\"", "\"2h\"")),
        (
            "a second limit added",
            format!("{}concurrency = {{ max = 10 }}\n", rate("")),
        ),
        ("the second limit removed", rate("")),
        ("keyed by a label", rate(", by = \"tenant\"")),
        ("keyed by another", rate(", by = \"userId\"")),
        ("keyed no more", rate("")),
    ] {
        engine.replace_from_toml_str(&rules).unwrap();
        assert_eq!(
            tokens(labels! { "tenant" => "t", "userId" => 7 }),
            0,
            "{change}: not refilled"
        );
    }
}

#[feature_gate("Limited", client = flags, timeout = "10s", labels(tenant = "one", userId = 7), on_reject = || false)]
fn running(flags: &Client, now: &AtomicUsize, peak: &AtomicUsize) -> bool {
    let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(in_flight, Ordering::SeqCst);
    std::thread::yield_now();
    now.fetch_sub(1, Ordering::SeqCst);
    true
}

/// Under load, reloads reshape the limit again and again (unkeyed, by tenant, by user,
/// with more or less queue); every flow has the same tenant and user, so the limit means
/// the same throughout, and in flight never passes its `max`.
#[test]
fn reshaping_reloads_under_load_never_let_more_in_than_max() {
    const MAX: usize = 3;
    let shapes = [
        format!("max = {MAX}, queue = 64"),
        format!("max = {MAX}, queue = 64, by = \"tenant\""),
        format!("max = {MAX}, queue = 8, by = \"userId\""),
        format!("max = {MAX}, queue = 64, by = \"tenant\", max_keys = 16"),
    ];
    let (engine, client) = client(&limited(&shapes[0]));
    let (now, peak, stop) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicBool::new(false),
    );
    let ran = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..6 {
            let (client, now, peak, stop, ran) = (&client, &now, &peak, &stop, Arc::clone(&ran));
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if running(client, now, peak) {
                        ran.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for round in 0..400 {
            engine
                .replace_from_toml_str(
                    &limited(&shapes[round % shapes.len()])
                        .replace("[flags.Limited]", "[flags.Limited]\nenabled = true"),
                )
                .unwrap();
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(ran.load(Ordering::Relaxed) > 0);
    assert!(
        peak.load(Ordering::SeqCst) <= MAX,
        "peak {} over max {MAX}",
        peak.load(Ordering::SeqCst)
    );
    let counts = client.metrics().flag("Limited");
    assert_eq!((counts.in_flight, counts.queued), (0, 0));
}
