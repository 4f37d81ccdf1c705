//! Flow control in the gate, with real threads and a real tokio runtime: rate limits,
//! concurrency limits with a FIFO queue bounded by the gate's timeout, keyed limits,
//! reloads, and no slot ever leaked or given twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowgate::engine::Engine;
use flowgate::metrics::FlowCounts;
use flowgate::{feature_gate, labels, Client, Labels, RejectReason, Rejection};

fn client(rules: &str) -> (Engine, Client) {
    let engine = Engine::from_toml_str(rules).unwrap_or_else(|e| panic!("{e}"));
    (engine.clone(), Client::new(engine))
}

/// A flow of `Limited` that takes what is free now and waits for nothing.
fn start_now(client: &Client) -> flowgate::Flow {
    client.start_flow_blocking("Limited", &Labels::new(), Duration::ZERO)
}

fn counts(client: &Client) -> FlowCounts {
    client.metrics().flag("Limited")
}

/// Waits (yielding, with a watchdog) until the flag has `n` queued flows.
fn until_queued(client: &Client, n: u64) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while counts(client).queued != n {
        assert!(std::time::Instant::now() < give_up, "never saw {n} queued");
        std::thread::yield_now();
    }
}

#[test]
fn a_burst_gets_exactly_the_bucket_and_a_retry_after() {
    // One token an hour: nothing refills while the test runs.
    let (_, client) =
        client("[flags.Limited]\nrate_limit = { limit = 1, per = \"1h\", burst = 5 }\n");
    let flows: Vec<_> = (0..20).map(|_| start_now(&client)).collect();
    let admitted = flows.iter().filter(|f| f.should_run()).count();
    assert_eq!(admitted, 5);
    let rejection = flows.iter().find_map(|f| f.rejection()).unwrap();
    assert_eq!(rejection.reason(), RejectReason::RateLimited);
    let retry = rejection.retry_after().unwrap();
    assert!(
        retry > Duration::from_secs(3000) && retry <= Duration::from_secs(3600),
        "{retry:?}"
    );
    drop(flows);
    let counts = counts(&client);
    assert_eq!(
        (counts.accepted, counts.rejected_by_reason.rate_limited),
        (5, 15)
    );
}

#[test]
fn keyed_rate_limits_give_each_label_value_its_own_bucket() {
    let (_, client) = client(
        "[flags.Limited]\nrate_limit = { limit = 1, per = \"1h\", burst = 2, by = \"userId\" }\n",
    );
    let admitted = |user: u32| {
        (0..5)
            .filter(|_| {
                let flow = client.start_flow_blocking(
                    "Limited",
                    &labels! { "userId" => user },
                    Duration::ZERO,
                );
                let ok = flow.should_run();
                flow.end();
                ok
            })
            .count()
    };
    assert_eq!((admitted(1), admitted(2), admitted(1)), (2, 2, 0));
}

#[test]
fn keyed_concurrency_is_per_label_value_and_counted_per_key() {
    let (_, client) =
        client("[flags.Limited]\nconcurrency = { max = 1, queue = 0, by = \"tenant\" }\n");
    let start = |tenant: &str| {
        client.start_flow_blocking("Limited", &labels! { "tenant" => tenant }, Duration::ZERO)
    };
    let acme = start("acme");
    let globex = start("globex");
    assert!(acme.should_run() && globex.should_run());
    assert_eq!(
        start("acme").rejection().unwrap().reason(),
        RejectReason::ConcurrencyLimited
    );
    let metrics = client.metrics();
    let keys: Vec<(&str, u64)> = metrics
        .keys("Limited")
        .iter()
        .map(|k| (k.key.as_str(), k.in_flight))
        .collect();
    assert_eq!(keys, [("acme", 1), ("globex", 1)]);
    drop((acme, globex));
    assert!(client.metrics().keys("Limited").is_empty());
}

#[test]
fn queue_full_and_queue_timeout_are_told_apart() {
    let (_, client) = client("[flags.Limited]\nconcurrency = { max = 1, queue = 1 }\n");
    let holder = start_now(&client);
    assert!(holder.should_run());
    let timed_out = client.start_flow_blocking("Limited", &Labels::new(), Duration::from_millis(5));
    assert_eq!(
        timed_out.rejection().unwrap().reason(),
        RejectReason::QueueTimeout
    );

    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            client.start_flow_blocking("Limited", &Labels::new(), Duration::from_secs(60))
        });
        until_queued(&client, 1);
        let full = client.start_flow_blocking("Limited", &Labels::new(), Duration::from_secs(60));
        assert_eq!(
            full.rejection().unwrap().reason(),
            RejectReason::ConcurrencyLimited
        );
        holder.end();
        assert!(
            waiting.join().unwrap().should_run(),
            "the waiter got the released slot"
        );
    });
    let counts = counts(&client);
    assert_eq!((counts.in_flight, counts.queued), (0, 0));
    assert_eq!(counts.rejected_by_reason.queue_timeout, 1);
    assert_eq!(counts.rejected_by_reason.concurrency_limited, 1);
}

#[test]
fn waiters_are_admitted_first_come_first_served() {
    let (_, client) = client("[flags.Limited]\nconcurrency = { max = 1, queue = 16 }\n");
    let order = Mutex::new(Vec::new());
    let holder = start_now(&client);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let (client, order) = (&client, &order);
            scope.spawn(move || {
                let flow =
                    client.start_flow_blocking("Limited", &Labels::new(), Duration::from_secs(60));
                assert!(flow.should_run());
                order.lock().unwrap().push(i);
                flow.end();
            });
            until_queued(client, i + 1);
        }
        holder.end();
    });
    assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_async_gates_share_one_limit() {
    let (_, client) = client("[flags.Limited]\nconcurrency = { max = 1, queue = 4 }\n");
    let held_by_thread = start_now(&client);
    let waiting_task = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .start_flow("Limited", &Labels::new(), Duration::from_secs(60))
                .await
        })
    };
    let watcher = client.clone();
    tokio::task::spawn_blocking(move || until_queued(&watcher, 1))
        .await
        .unwrap();
    held_by_thread.end();
    let held_by_task = waiting_task.await.unwrap();
    assert!(held_by_task.should_run());
    let blocked = start_now(&client);
    assert_eq!(
        blocked.rejection().unwrap().reason(),
        RejectReason::QueueTimeout
    );
    held_by_task.end();
}

#[derive(Debug)]
struct Failed;

impl From<Rejection> for Failed {
    fn from(_: Rejection) -> Self {
        Failed
    }
}

const MAX: usize = 4;

/// Counts a body as running until it returns, fails, panics or is cancelled.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn enter(running: &'a AtomicUsize, peak: &AtomicUsize) -> Self {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Running(running)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The body tracks how many run at once, and fails, panics or waits as told.
#[feature_gate("Limited", client = flags, timeout = "1m")]
async fn limited(
    flags: &Client,
    running: &AtomicUsize,
    peak: &AtomicUsize,
    fate: u32,
) -> Result<(), Failed> {
    let _running = Running::enter(running, peak);
    for _ in 0..fate % 4 {
        tokio::task::yield_now().await;
    }
    if fate % 3 == 0 {
        // These tasks are aborted by the test: running, or still queued.
        std::future::pending::<()>().await;
    }
    match fate % 10 {
        0 => Err(Failed),
        1 => panic!("body panicked on purpose"),
        _ => Ok(()),
    }
}

#[feature_gate("Limited", client = flags, timeout = "1m")]
async fn held_until_cancelled(
    flags: &Client,
    started: tokio::sync::oneshot::Sender<()>,
) -> Option<()> {
    let _ = started.send(());
    std::future::pending::<()>().await;
    Some(())
}

#[feature_gate("Limited", client = flags, timeout = "1m")]
fn limited_sync(
    flags: &Client,
    running: &AtomicUsize,
    peak: &AtomicUsize,
    fate: u32,
) -> Result<(), Failed> {
    let _running = Running::enter(running, peak);
    std::thread::yield_now();
    match fate % 10 {
        0 => Err(Failed),
        1 => panic!("body panicked on purpose"),
        _ => Ok(()),
    }
}

/// 10 000 flows from tasks and threads, with random errors, panics and cancellations
/// (some while queued): the limit holds throughout and nothing is left over.
#[test]
fn the_limit_holds_under_ten_thousand_flows_with_failures_and_cancellations() {
    let (_, client) = client(&format!(
        "[flags.Limited]\nconcurrency = {{ max = {MAX}, queue = 100000 }}\n"
    ));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rng = Mutex::new(fastrand::Rng::with_seed(7));
    let fate = || rng.lock().unwrap().u32(..);
    // Panics are part of the test; keep their messages out of the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    std::thread::scope(|scope| {
        // 2 000 flows from plain threads, blocking on the queue.
        for _ in 0..4 {
            let fates: Vec<u32> = (0..500).map(|_| fate()).collect();
            let (client, running, peak) = (&client, &running, &peak);
            scope.spawn(move || {
                for f in fates {
                    let _ = std::panic::catch_unwind(|| limited_sync(client, running, peak, f));
                }
            });
        }
        // 8 000 flows from tasks; a third are aborted after a random number of polls.
        runtime.block_on(async {
            // Cancelled while running, for certain.
            for _ in 0..3 {
                let (started, running_now) = tokio::sync::oneshot::channel();
                let client = client.clone();
                let task =
                    tokio::spawn(async move { held_until_cancelled(&client, started).await });
                running_now.await.unwrap();
                task.abort();
                assert!(task.await.unwrap_err().is_cancelled());
            }
            let mut tasks = Vec::new();
            for _ in 0..8_000 {
                let f = fate();
                let (client, running, peak) =
                    (client.clone(), Arc::clone(&running), Arc::clone(&peak));
                let task = tokio::spawn(async move { limited(&client, &running, &peak, f).await });
                if f % 3 == 0 {
                    for _ in 0..f % 5 {
                        tokio::task::yield_now().await;
                    }
                    task.abort();
                }
                tasks.push(task);
            }
            for task in tasks {
                let _ = task.await;
            }
        });
    });
    std::panic::set_hook(default_hook);

    assert!(
        peak.load(Ordering::SeqCst) <= MAX,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(running.load(Ordering::SeqCst), 0);
    let counts = counts(&client);
    assert_eq!((counts.in_flight, counts.queued), (0, 0), "{counts:?}");
    assert!(
        counts.error > 0 && counts.cancelled > 0 && counts.ok > 0,
        "{counts:?}"
    );
    assert_eq!(
        counts.accepted,
        counts.ok + counts.error + counts.cancelled,
        "every admitted flow ended once"
    );

    // Exactly MAX slots are free again: no leak, no extra.
    let held: Vec<_> = (0..MAX).map(|_| start_now(&client)).collect();
    assert!(held.iter().all(flowgate::Flow::should_run));
    let one_more = start_now(&client);
    assert_eq!(
        one_more.rejection().unwrap().reason(),
        RejectReason::QueueTimeout
    );
}

#[test]
fn reloaded_limits_apply_to_new_flows_and_held_slots_stay_held() {
    let (engine, client) = client("[flags.Limited]\nconcurrency = { max = 1 }\n");
    let start = || start_now(&client);
    let first = start();
    assert!(first.should_run());
    assert!(!start().should_run());

    engine
        .replace_from_toml_str("[flags.Limited]\nconcurrency = { max = 2 }\n")
        .unwrap();
    let second = start();
    assert!(second.should_run(), "the raised limit applies at once");
    assert!(!start().should_run());

    engine
        .replace_from_toml_str("[flags.Limited]\nconcurrency = { max = 1 }\n")
        .unwrap();
    first.end();
    assert!(
        !start().should_run(),
        "one still held, and the limit is 1 again"
    );
    second.end();
    let third = start();
    assert!(third.should_run());
    third.end();

    engine
        .replace_from_toml_str("[flags.Limited]\nenabled = true\n")
        .unwrap();
    let unlimited: Vec<_> = (0..10).map(|_| start()).collect();
    assert!(unlimited.iter().all(flowgate::Flow::should_run));
}

#[feature_gate("Limited", client = flags, timeout = "0s", labels(tenant = tenant))]
fn gated_once(flags: &Client, tenant: &str) -> Option<()> {
    Some(())
}

/// A gated function remembers, per rules snapshot, whether its flag has limits and
/// keeps the limits it met first. Through reloads that add, reshape, remove and restore
/// the limits, the same call site applies exactly the rules in force.
#[test]
fn a_call_site_follows_its_flags_limits_through_reloads() {
    // Another flag has limits throughout, so that the call site has to remember that
    // its own flag has none.
    let unlimited = "[flags.Limited]\nenabled = true\n\n[flags.Other]\nconcurrency = { max = 1 }\n";
    let burst = |burst: u32, by: &str| {
        format!(
            "[flags.Limited]\nrate_limit = {{ limit = 1, per = \"1h\", burst = {burst}{by} }}\n"
        )
    };
    let (engine, client) = client(unlimited);
    let admitted = |tenant: &str, calls: usize| {
        (0..calls)
            .filter(|_| gated_once(&client, tenant).is_some())
            .count()
    };
    assert_eq!(admitted("a", 5), 5, "no limits yet");

    engine.replace_from_toml_str(&burst(2, "")).unwrap();
    assert_eq!(
        admitted("a", 5),
        2,
        "limits added: the call site applies them"
    );
    assert_eq!(admitted("b", 5), 0, "one bucket for every tenant");

    engine
        .replace_from_toml_str(&burst(3, ", by = \"tenant\""))
        .unwrap();
    assert_eq!(
        admitted("a", 5),
        1,
        "reshaped per tenant: each tenant's bucket starts as empty as the shared one \
         (a reload never refills a bucket); the burst of 3 adds one token"
    );
    assert_eq!(admitted("b", 5), 1);

    engine.replace_from_toml_str(unlimited).unwrap();
    assert_eq!(admitted("a", 5), 5, "limits removed");

    engine.replace_from_toml_str(&burst(1, "")).unwrap();
    assert_eq!(
        admitted("a", 5),
        1,
        "limits back, with a bucket of their own"
    );
    assert_eq!(
        counts(&client)
            .rejected_by_reason
            .get(RejectReason::RateLimited),
        3 + 5 + 4 + 4 + 4
    );
}

#[test]
fn the_flag_is_decided_before_the_limits() {
    let (_, client) = client(
        "[flags.Limited]\nenabled = false\nrate_limit = { limit = 1, per = \"1h\", burst = 1 }\n",
    );
    let flow = start_now(&client);
    assert_eq!(
        flow.rejection().unwrap().reason(),
        RejectReason::FlagDisabled
    );
}

#[test]
fn limit_errors_name_the_flag_and_key() {
    let cases = [
        ("rate_limit = { limit = 0, per = \"1s\" }", "key `limit`"),
        (
            "rate_limit = { limit = 5, per = \"1 second\" }",
            "key `per`",
        ),
        (
            "rate_limit = { limit = 5, per = \"1s\", burst = 0 }",
            "key `burst`",
        ),
        ("concurrency = { max = 0 }", "key `max`"),
        ("concurrency = { max = 2, queue = -1 }", "key `queue`"),
        ("concurrency = { max = 2, qeue = 1 }", "qeue"),
    ];
    for (rule, expected) in cases {
        let error = Engine::from_toml_str(&format!("[flags.Limited]\n{rule}\n")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("flag `Limited`") && message.contains(expected),
            "{message}"
        );
    }
}

#[test]
fn rejections_answer_http_requests() {
    use axum::response::IntoResponse;
    use flowgate::Rejection;

    let cases = [
        (RejectReason::FlagDisabled, None, 404, None),
        (
            RejectReason::RateLimited,
            Some(Duration::from_millis(1_200)),
            429,
            Some("2"),
        ),
        (RejectReason::ConcurrencyLimited, None, 503, None),
        (
            RejectReason::QueueTimeout,
            Some(Duration::from_secs(3)),
            503,
            Some("3"),
        ),
        (RejectReason::NotReady, None, 503, None),
    ];
    for (reason, retry_after, status, header) in cases {
        let mut rejection = Rejection::new("Limited", reason);
        if let Some(retry_after) = retry_after {
            rejection = rejection.with_retry_after(retry_after);
        }
        let response = rejection.into_response();
        assert_eq!(response.status().as_u16(), status, "{reason}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            header,
            "{reason}"
        );
    }
}

mod model {
    //! A property test: random starts (sync, timeout zero), ends, cancellations
    //! (drops) and reloads, checked against a model of the limit.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Start,
        End(usize),
        Cancel(usize),
        Reload(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Start),
            2 => (0..8usize).prop_map(Op::End),
            2 => (0..8usize).prop_map(Op::Cancel),
            1 => (1..5usize).prop_map(Op::Reload),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn admission_follows_the_model(ops in proptest::collection::vec(op(), 1..60)) {
            let (engine, client) = client("[flags.Limited]\nconcurrency = { max = 2 }\n");
            let mut max = 2;
            let mut held = Vec::new();
            for op in ops {
                match op {
                    Op::Start => {
                        let flow = start_now(&client);
                        prop_assert_eq!(flow.should_run(), held.len() < max, "held {} max {}", held.len(), max);
                        if flow.should_run() {
                            held.push(flow);
                        }
                    }
                    Op::End(i) if !held.is_empty() => held.swap_remove(i % held.len()).end(),
                    Op::Cancel(i) if !held.is_empty() => drop(held.swap_remove(i % held.len())),
                    Op::Reload(new_max) => {
                        engine
                            .replace_from_toml_str(&format!("[flags.Limited]\nconcurrency = {{ max = {new_max} }}\n"))
                            .unwrap();
                        max = new_max;
                    }
                    Op::End(_) | Op::Cancel(_) => {}
                }
                let counts = counts(&client);
                prop_assert_eq!(counts.in_flight, held.len() as u64);
                prop_assert_eq!(counts.queued, 0);
            }
            held.clear();
            prop_assert_eq!(counts(&client).in_flight, 0);
        }
    }
}
