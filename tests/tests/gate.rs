//! Behaviour of `#[feature_gate]` against the in-memory source: what runs, what is
//! returned, and how every flow ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, Client, RejectReason, Rejection};

#[derive(Debug, PartialEq)]
enum AppError {
    Rejected(RejectReason),
    Failed,
}

impl From<Rejection> for AppError {
    fn from(rejected: Rejection) -> Self {
        AppError::Rejected(rejected.reason())
    }
}

fn client_with(flag: &str, enabled: bool) -> (InMemorySource, Client) {
    let source = InMemorySource::new();
    source.set(flag, enabled);
    (source.clone(), source.into_client())
}

#[feature_gate("Checkout", client = flags)]
fn checkout(flags: &Client, runs: &AtomicUsize) -> Result<u32, AppError> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(42)
}

#[test]
fn accepted_runs_the_body_once_and_ends_ok() {
    let (_, client) = client_with("Checkout", true);
    let runs = AtomicUsize::new(0);
    assert_eq!(checkout(&client, &runs), Ok(42));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.ok, counts.rejected), (1, 1, 0));
    assert_eq!(
        (counts.error, counts.cancelled, counts.in_flight),
        (0, 0, 0)
    );
}

#[test]
fn rejected_never_runs_the_body_and_converts_the_rejection() {
    let (_, client) = client_with("Checkout", false);
    let runs = AtomicUsize::new(0);
    assert_eq!(
        checkout(&client, &runs),
        Err(AppError::Rejected(RejectReason::FlagDisabled))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.rejected), (0, 1));
    assert_eq!(counts.rejected_by_reason.flag_disabled, 1);
    assert_eq!((counts.ok, counts.error, counts.in_flight), (0, 0, 0));
}

#[feature_gate("Checkout", client = flags, on_reject = || "closed")]
fn on_reject_without_argument(flags: &Client) -> &'static str {
    "open"
}

#[feature_gate("Checkout", client = flags, on_reject = |rejection| format!("no: {rejection}"))]
fn on_reject_with_rejection(flags: &Client) -> String {
    "open".to_owned()
}

fn describe(rejection: &Rejection) -> String {
    format!("{}:{}", rejection.flag(), rejection.reason())
}

#[feature_gate("Checkout", client = flags, on_reject = describe)]
fn on_reject_path(flags: &Client) -> String {
    "open".to_owned()
}

#[feature_gate("Checkout", client = flags)]
fn returns_option(flags: &Client) -> Option<u8> {
    Some(1)
}

#[feature_gate("Checkout", client = flags)]
fn returns_unit(flags: &Client, runs: &AtomicUsize) {
    runs.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn every_on_reject_form_and_default_produces_the_return_value() {
    let (source, client) = client_with("Checkout", true);
    let runs = AtomicUsize::new(0);
    assert_eq!(on_reject_without_argument(&client), "open");
    assert_eq!(on_reject_with_rejection(&client), "open");
    assert_eq!(on_reject_path(&client), "open");
    assert_eq!(returns_option(&client), Some(1));
    returns_unit(&client, &runs);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    source.set("Checkout", false);
    assert_eq!(on_reject_without_argument(&client), "closed");
    assert_eq!(
        on_reject_with_rejection(&client),
        "no: flow `Checkout` was rejected: the flag is off for this call"
    );
    assert_eq!(on_reject_path(&client), "Checkout:flag_disabled");
    assert_eq!(returns_option(&client), None);
    returns_unit(&client, &runs);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let counts = client.metrics().flag("Checkout");
    assert_eq!(
        (counts.accepted, counts.rejected, counts.in_flight),
        (5, 5, 0)
    );
}

#[feature_gate("Checkout", client = flags)]
fn fails(flags: &Client) -> Result<(), AppError> {
    Err(AppError::Failed)
}

#[test]
fn err_ends_the_flow_with_error() {
    let (_, client) = client_with("Checkout", true);
    assert_eq!(fails(&client), Err(AppError::Failed));
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.ok, counts.error), (1, 0, 1));
}

#[feature_gate("Checkout", client = flags)]
fn early_exits(flags: &Client, input: Option<u32>, fail: bool) -> Result<u32, AppError> {
    let value = input.ok_or(AppError::Failed)?;
    if fail {
        return Err(AppError::Failed);
    }
    if value > 10 {
        return Ok(10);
    }
    Ok(value)
}

#[test]
fn early_returns_and_question_mark_end_the_flow_once() {
    let (_, client) = client_with("Checkout", true);
    assert_eq!(early_exits(&client, None, false), Err(AppError::Failed));
    assert_eq!(early_exits(&client, Some(1), true), Err(AppError::Failed));
    assert_eq!(early_exits(&client, Some(50), false), Ok(10));
    assert_eq!(early_exits(&client, Some(5), false), Ok(5));
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.ok, counts.error), (4, 2, 2));
    assert_eq!(counts.in_flight, 0);
}

#[feature_gate("Checkout", client = flags)]
fn panics(flags: &Client) -> Option<()> {
    panic!("boom")
}

#[test]
fn panic_ends_the_flow_with_error_and_keeps_unwinding() {
    let (_, client) = client_with("Checkout", true);
    let caught = std::panic::catch_unwind(|| panics(&client));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.error, counts.in_flight), (1, 1, 0));
}

#[feature_gate("Checkout", client = flags)]
async fn async_panics(flags: Client) -> Option<()> {
    tokio::task::yield_now().await;
    panic!("async boom")
}

#[tokio::test]
async fn async_panic_ends_the_flow_with_error() {
    let (_, client) = client_with("Checkout", true);
    let joined = tokio::spawn(async_panics(client.clone())).await;
    assert!(joined.expect_err("the task panicked").is_panic());
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.error, counts.in_flight), (1, 1, 0));
}

#[feature_gate("Checkout", client = flags)]
async fn waits_forever(flags: Client, started: tokio::sync::oneshot::Sender<()>) -> Option<()> {
    started.send(()).unwrap();
    std::future::pending::<()>().await;
    Some(())
}

#[tokio::test]
async fn dropped_future_ends_the_flow_cancelled() {
    let (_, client) = client_with("Checkout", true);
    let (started, running) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(waits_forever(client.clone(), started));
    running.await.unwrap();
    assert_eq!(client.metrics().flag("Checkout").in_flight, 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let counts = client.metrics().flag("Checkout");
    assert_eq!(
        (counts.accepted, counts.cancelled, counts.in_flight),
        (1, 1, 0)
    );
    assert_eq!((counts.ok, counts.error), (0, 0));
}

#[feature_gate("Checkout", client = flags, labels(userId = user, "x-region" = region))]
fn for_user(flags: &Client, user: u64, region: &str) -> Option<u64> {
    Some(user)
}

#[test]
fn labels_reach_the_source() {
    let source = InMemorySource::new().rule("Checkout", |labels| {
        labels.get("userId") == Some("7") && labels.get("x-region") == Some("eu")
    });
    let client = source.into_client();
    assert_eq!(for_user(&client, 7, "eu"), Some(7));
    assert_eq!(for_user(&client, 8, "eu"), None);
    assert_eq!(for_user(&client, 7, "us"), None);
}

#[feature_gate("OpenByDefault", client = flags, timeout = "0s")]
fn open_by_manifest(flags: &Client) -> Option<()> {
    Some(())
}

#[feature_gate("ClosedByDefault", client = flags, timeout = "0s")]
fn closed_by_manifest(flags: &Client) -> Option<()> {
    Some(())
}

#[feature_gate("ClosedByDefault", client = flags, timeout = "0s", fallback = accept)]
fn opened_by_attribute(flags: &Client) -> Option<()> {
    Some(())
}

#[feature_gate("OpenByDefault", client = flags, timeout = "0s", fallback = reject)]
fn closed_by_attribute(flags: &Client) -> Option<()> {
    Some(())
}

#[feature_gate("Checkout", client = flags, timeout = "0s")]
fn undeclared_fallback(flags: &Client) -> Option<()> {
    Some(())
}

#[test]
fn fallback_applies_when_no_decision_can_be_made() {
    for client in [
        InMemorySource::pending().into_client(),
        Client::new(flowgate::source::EmptySource),
    ] {
        assert_eq!(open_by_manifest(&client), Some(()));
        assert_eq!(closed_by_manifest(&client), None);
        assert_eq!(opened_by_attribute(&client), Some(()));
        assert_eq!(closed_by_attribute(&client), None);
        assert_eq!(undeclared_fallback(&client), None, "reject is the default");
        let metrics = client.metrics();
        let open = metrics.flag("OpenByDefault");
        assert_eq!((open.accepted, open.rejected, open.by_fallback), (1, 1, 2));
        assert_eq!(open.ok, 1);
    }
}

#[test]
fn fallback_reasons_tell_why_no_decision_was_made() {
    let pending = InMemorySource::pending().into_client();
    assert_eq!(closed_by_manifest(&pending), None);
    let counts = pending.metrics().flag("ClosedByDefault");
    assert_eq!(counts.rejected_by_reason.not_ready, 1);

    assert_eq!(
        closed_by_manifest(&Client::new(flowgate::source::EmptySource)),
        None
    );

    let source = InMemorySource::new();
    let client = source.clone().into_client();
    assert_eq!(closed_by_manifest(&client), None);
    source.set_error("ClosedByDefault");
    assert_eq!(closed_by_manifest(&client), None);
    let counts = client.metrics().flag("ClosedByDefault");
    assert_eq!(counts.rejected_by_reason.unknown_flag, 1);
    assert_eq!(counts.rejected_by_reason.source_error, 1);
}

#[feature_gate("Checkout", client = flags, timeout = "20ms")]
fn within_20ms(flags: &Client) -> Result<(), AppError> {
    Ok(())
}

#[feature_gate("Checkout", client = flags, timeout = "20ms")]
async fn within_20ms_async(flags: &Client) -> Result<(), AppError> {
    Ok(())
}

/// A source that never becomes ready: the gate gives up after its timeout instead of
/// hanging, and takes the fallback.
#[tokio::test]
async fn timeout_is_respected_when_the_source_never_answers() {
    let client = InMemorySource::pending().into_client();
    assert_eq!(
        within_20ms(&client),
        Err(AppError::Rejected(RejectReason::NotReady))
    );
    assert_eq!(
        within_20ms_async(&client).await,
        Err(AppError::Rejected(RejectReason::NotReady))
    );
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.rejected, counts.by_fallback), (2, 2));
}

#[feature_gate("Checkout", client = flags, timeout = "1h")]
fn patient(flags: &Client) -> Option<()> {
    Some(())
}

#[feature_gate("Checkout", client = flags, timeout = "1h")]
async fn patient_async(flags: &Client) -> Option<()> {
    Some(())
}

/// A gate waiting for a source that is not ready yet is decided as soon as the source
/// becomes ready, not at its timeout.
#[test]
fn a_waiting_gate_is_decided_when_the_source_becomes_ready() {
    let source = InMemorySource::pending();
    source.set("Checkout", true);
    let client = source.clone().into_client();
    let readiness = client.source().readiness().unwrap();
    std::thread::scope(|scope| {
        let blocking = scope.spawn(|| patient(&client));
        let waiting_async = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(patient_async(&client))
        });
        // A watchdog, not a timing assertion: without it a broken wait would hang.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while readiness.waiting() < 2 {
            if std::time::Instant::now() > give_up {
                source.mark_ready(); // lets the scope's threads finish
                panic!("the gates never waited for the source");
            }
            std::thread::yield_now();
        }
        source.mark_ready();
        assert_eq!(blocking.join().unwrap(), Some(()));
        assert_eq!(waiting_async.join().unwrap(), Some(()));
    });
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.by_fallback), (2, 0));
}

#[feature_gate("Checkout", client = flags)]
async fn handler(flags: &Client, id: usize) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    if id % 7 == 0 {
        Err(AppError::Failed)
    } else {
        Ok(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_flows_end_with_none_in_flight() {
    let (_, client) = client_with("Checkout", true);
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..10_000)
        .map(|id| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { handler(&client, id).await })
        })
        .collect();
    let mut oks = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            oks += 1;
        }
    }
    let counts = client.metrics().flag("Checkout");
    assert_eq!(counts.accepted, 10_000);
    assert_eq!(counts.ok, oks);
    assert_eq!(counts.error, 10_000 - oks);
    assert_eq!(counts.in_flight, 0);
}

#[feature_gate("Search", client = flags)]
fn search(flags: &Client) -> Option<()> {
    Some(())
}

#[test]
fn flags_are_counted_apart() {
    let source = InMemorySource::new().enable("Checkout").disable("Search");
    let client = source.into_client();
    assert_eq!(returns_option(&client), Some(1));
    assert_eq!(search(&client), None);
    let metrics = client.metrics();
    assert_eq!(metrics.flag("Checkout").accepted, 1);
    assert_eq!(metrics.flag("Search").rejected, 1);
    assert_eq!(metrics.iter().count(), 2);
}

#[feature_gate("Checkout", client = flags)]
fn io_result(flags: &Client, fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("disk full"))
    } else {
        Ok(())
    }
}

#[test]
fn a_result_behind_a_type_alias_still_ends_with_error() {
    let (_, client) = client_with("Checkout", true);
    io_result(&client, true).unwrap_err();
    io_result(&client, false).unwrap();
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.ok, counts.error), (1, 1));

    let (_, closed) = client_with("Checkout", false);
    let error = io_result(&closed, false).unwrap_err();
    let rejected = error.get_ref().and_then(|e| e.downcast_ref::<Rejection>());
    assert_eq!(
        rejected.map(Rejection::reason),
        Some(RejectReason::FlagDisabled)
    );
}

#[tokio::test]
async fn manual_flows_follow_the_aperture_pattern() {
    use flowgate::{FlowStatus, Labels};
    use std::time::Duration;

    let source = InMemorySource::new().enable("Checkout");
    let client = Client::builder()
        .source(source.clone())
        .fallback("Search", flowgate::Fallback::Accept)
        .build()
        .unwrap();
    let labels = Labels::new().with("userId", 1);

    let mut flow = client
        .start_flow("Checkout", &labels, Duration::from_millis(200))
        .await;
    assert!(!flow.by_fallback() && flow.should_run());
    assert_eq!(flow.rejection(), None);
    flow.set_status(FlowStatus::Error);
    flow.end();

    let forgotten = client.start_flow_blocking("Checkout", &labels, Duration::ZERO);
    drop(forgotten);

    let by_fallback = client.start_flow_blocking("Search", &labels, Duration::ZERO);
    assert!(by_fallback.by_fallback() && by_fallback.should_run());
    by_fallback.end();

    source.set("Checkout", false);
    let rejected = client
        .start_flow("Checkout", &labels, Duration::from_millis(200))
        .await;
    assert!(!rejected.by_fallback() && !rejected.should_run());
    assert_eq!(
        rejected.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::FlagDisabled)
    );
    rejected.end();

    let metrics = client.metrics();
    let checkout = metrics.flag("Checkout");
    assert_eq!((checkout.accepted, checkout.rejected), (2, 1));
    assert_eq!((checkout.error, checkout.cancelled, checkout.ok), (1, 1, 0));
    let search = metrics.flag("Search");
    assert_eq!((search.accepted, search.by_fallback, search.ok), (1, 1, 1));

    assert!(client.is_enabled("Search", &labels), "fallback accept");
    assert!(!client.is_enabled("Checkout", &labels));
    assert_eq!(
        metrics.flag("Checkout").accepted,
        client.metrics().flag("Checkout").accepted,
        "is_enabled starts no flow"
    );
}

/// Counts how often the attribute's `client = ...` expression is evaluated.
struct CountedClient {
    client: Client,
    evaluated: AtomicUsize,
}

impl CountedClient {
    fn get(&self) -> &Client {
        self.evaluated.fetch_add(1, Ordering::SeqCst);
        &self.client
    }
}

#[feature_gate("Checkout", client = flags.get(), on_reject = || None)]
async fn counted_async(flags: &CountedClient) -> Option<u32> {
    Some(1)
}

/// An async gate evaluates its `client` expression once per call, whether the flow is
/// accepted at once or goes the longer way (here: rejected).
#[tokio::test]
async fn async_gate_evaluates_the_client_expression_once() {
    let (source, client) = client_with("Checkout", true);
    let flags = CountedClient {
        client,
        evaluated: AtomicUsize::new(0),
    };
    assert_eq!(counted_async(&flags).await, Some(1));
    assert_eq!(flags.evaluated.load(Ordering::SeqCst), 1);
    source.set("Checkout", false);
    assert_eq!(counted_async(&flags).await, None);
    assert_eq!(flags.evaluated.load(Ordering::SeqCst), 2);
    let counts = flags.client.metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.rejected, counts.ok), (1, 1, 1));
}

#[feature_gate("Search", client = flags)]
fn served_by_many(flags: &Client) -> Result<(), AppError> {
    Ok(())
}

/// A call site keeps the counters of the first few clients it serves; the clients
/// after those count through the map. Every client, kept or not, on two threads at
/// once, sees exactly its own calls.
#[test]
fn one_gate_serving_many_clients_counts_each_clients_calls_on_its_own() {
    let clients: Vec<(InMemorySource, Client)> =
        (0..7).map(|i| client_with("Search", i % 3 != 2)).collect();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for (i, (_, client)) in clients.iter().enumerate() {
                    for _ in 0..=i {
                        let _ = served_by_many(client);
                    }
                }
            });
        }
    });
    for (i, (_, client)) in clients.iter().enumerate() {
        let counts = client.metrics().flag("Search");
        let calls = 2 * (i as u64 + 1);
        if i % 3 == 2 {
            assert_eq!((counts.accepted, counts.rejected), (0, calls), "client {i}");
        } else {
            assert_eq!((counts.accepted, counts.ok), (calls, calls), "client {i}");
        }
    }
}
