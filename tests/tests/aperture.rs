//! An Aperture agent as the decision source, against the stand-in agent of
//! `flowgate_tests::aperture_agent` (real gRPC on 127.0.0.1; a stand-in because the real
//! agent cannot run here): what reaches the agent, what each answer means, what a
//! missing answer means, and that every flow holding the agent's tokens gives them back
//! exactly once, however it ends.

use std::collections::HashMap;
use std::time::Duration;

use flowgate::aperture::{Aperture, ApertureConfig, ApertureHandle};
use flowgate::{feature_gate, labels, Client, RejectReason, Rejection};
use flowgate_tests::aperture_agent::{Script, StandInAgent};

const SETTLE: Duration = Duration::from_secs(30);

flowgate::flags!();

fn client_of(address: &str, key: Option<&str>) -> (Client, ApertureHandle) {
    let mut config = ApertureConfig::new(address);
    if let Some(key) = key {
        config = config.api_key(key);
    }
    let source = Aperture::connect(config).expect("a valid address");
    let handle = source.handle();
    (Client::new(source), handle)
}

#[derive(Debug, PartialEq)]
enum AppError {
    Rejected(Rejection),
    Failed,
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        AppError::Rejected(rejection)
    }
}

#[feature_gate("Payments", client = flags, timeout = "5s", labels(userId = user, "plan" = "pro"))]
async fn pay(flags: &Client, user: u64, fail: bool) -> Result<u64, AppError> {
    if fail {
        return Err(AppError::Failed);
    }
    Ok(user)
}

#[feature_gate("Payments", client = flags, timeout = "5s")]
async fn pay_and_panic(flags: &Client) -> Result<(), AppError> {
    panic!("the payment provider exploded");
}

#[feature_gate("Payments", client = flags, timeout = "5s")]
async fn pay_until_dropped(
    flags: &Client,
    started: tokio::sync::oneshot::Sender<()>,
) -> Result<(), AppError> {
    let _ = started.send(());
    std::future::pending::<()>().await;
    Ok(())
}

#[feature_gate("Reports", client = flags, timeout = "5s")]
async fn report(flags: &Client) -> Result<&'static str, AppError> {
    Ok("report")
}

#[feature_gate("Reports", client = flags, timeout = "200ms")]
async fn report_quickly(flags: &Client) -> Result<&'static str, AppError> {
    Ok("report")
}

#[feature_gate("Payments", client = flags, timeout = "200ms")]
async fn pay_quickly(flags: &Client) -> Result<(), AppError> {
    Ok(())
}

#[feature_gate("Payments", client = flags, timeout = "5s")]
fn pay_blocking(flags: &Client) -> Result<&'static str, AppError> {
    Ok("paid")
}

fn rejection(result: Result<impl std::fmt::Debug, AppError>) -> Rejection {
    match result {
        Err(AppError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn an_accepted_flow_runs_and_the_agent_sees_its_control_point_labels_and_timeout() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    let result =
        flowgate::labels::scope(labels! { "region" => "eu" }, pay(&client, 7, false)).await;
    assert_eq!(result, Ok(7));
    let checks = agent.checks();
    assert_eq!(checks.len(), 1);
    let check = &checks[0];
    assert_eq!(check.control_point, "Payments");
    let expected: HashMap<String, String> = [("userId", "7"), ("plan", "pro"), ("region", "eu")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(check.labels, expected, "explicit and ambient labels");
    assert!(check.expect_end);
    assert!(check.ramp_mode, "fallback reject asks for ramp mode");
    let timeout = check
        .grpc_timeout
        .as_deref()
        .expect("the gate's timeout is sent");
    assert!(
        timeout.ends_with('m') || timeout.ends_with('u'),
        "{timeout}"
    );
    // No tokens were lent: no FlowEnd.
    let stats = handle.settled(SETTLE).await;
    assert_eq!((stats.accepted, stats.ends_sent), (1, 0));
    assert!(agent.ends().is_empty());
    let counts = client.metrics().flag("Payments");
    assert_eq!((counts.accepted, counts.ok, counts.by_fallback), (1, 1, 0));
}

#[tokio::test]
async fn every_reject_reason_maps_to_flowgates_with_wait_time_and_status() {
    use flowgate::aperture::proto::RejectReason as Aperture;
    let agent = StandInAgent::start(None).await;
    let (client, _handle) = client_of(&agent.address, None);
    let cases = [
        (Aperture::RateLimited, RejectReason::RateLimited),
        (Aperture::NoTokens, RejectReason::ConcurrencyLimited),
        (Aperture::NotSampled, RejectReason::FlagDisabled),
        (Aperture::NoMatchingRamp, RejectReason::FlagDisabled),
        (Aperture::None, RejectReason::FlagDisabled),
    ];
    for (index, (reason, expected)) in cases.into_iter().enumerate() {
        let wait = Duration::from_millis(1500 + 100 * index as u64);
        for status in [0, 200, 418, 451, 503, 600] {
            agent.script(
                "Payments",
                Script::Reject {
                    reason,
                    wait: Some(wait),
                    status,
                },
            );
            let rejection = rejection(pay(&client, 1, false).await);
            assert_eq!(rejection.reason(), expected, "{reason:?}");
            assert_eq!(rejection.retry_after(), Some(wait));
            let kept = (400..=599)
                .contains(&status)
                .then(|| u16::try_from(status).unwrap());
            assert_eq!(rejection.status_code(), kept, "{status}");
        }
    }
    let counts = client.metrics().flag("Payments");
    assert_eq!(counts.by_fallback, 0, "the agent decided every one");
}

#[tokio::test]
async fn an_unreachable_agent_gives_each_gate_its_fallback() {
    let (client, handle) = client_of(
        &flowgate_tests::unanswered_unleash_url().replace("/api", ""),
        None,
    );
    let rejection = rejection(pay(&client, 1, false).await);
    assert_eq!(rejection.reason(), RejectReason::SourceError);
    assert_eq!(report(&client).await, Ok("report"), "fallback accept runs");
    let stats = handle.stats();
    assert_eq!(stats.unreachable, 2);
    assert_eq!(stats.transitions, 1, "one transition, logged once");
    assert_eq!(client.metrics().flag("Payments").by_fallback, 1);
    assert_eq!(client.metrics().flag("Reports").by_fallback, 1);
}

#[tokio::test]
async fn a_slow_agent_is_given_up_at_the_gates_timeout() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    agent.script(
        "Payments",
        Script::Slow {
            delay: Duration::from_secs(30),
            then: Box::new(Script::Accept),
        },
    );
    agent.script(
        "Reports",
        Script::Slow {
            delay: Duration::from_secs(30),
            then: Box::new(Script::Accept),
        },
    );
    // The gates wait 200 ms; the agent would answer after 30 s.
    let rejection = rejection(pay_quickly(&client).await);
    assert_eq!(rejection.reason(), RejectReason::SourceError);
    assert_eq!(handle.stats().timeouts, 1);
    assert_eq!(
        report_quickly(&client).await,
        Ok("report"),
        "fail-open runs"
    );
    assert_eq!(handle.stats().timeouts, 2);
}

#[tokio::test]
async fn a_flow_dropped_while_the_agent_decides_gives_back_what_the_agent_then_lends() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    agent.script(
        "Payments",
        Script::Slow {
            delay: Duration::from_millis(300),
            then: Box::new(Script::Concurrency { max: 10 }),
        },
    );
    tokio::select! {
        _ = pay(&client, 1, false) => unreachable!("the agent answers later"),
        () = agent.seen(1, 0) => {} // the flow is dropped while the agent holds its check
    }
    // The agent answers, lends a token to a flow that is gone: it comes back.
    agent.seen(1, 1).await;
    assert_eq!(agent.in_flight(), 0);
    assert_eq!(handle.settled(SETTLE).await.ends_sent, 1);
    assert_eq!(
        client.metrics().flag("Payments").accepted,
        0,
        "no flow started"
    );
}

#[tokio::test]
async fn a_refused_api_key_is_the_fallbacks_case_and_never_shows() {
    let agent = StandInAgent::start(Some("right-key")).await;
    let (client, handle) = client_of(&agent.address, Some("wrong-key-secret"));
    let rejection = rejection(pay(&client, 1, false).await);
    assert_eq!(rejection.reason(), RejectReason::SourceError);
    assert_eq!(handle.stats().unauthenticated, 1);
    assert_eq!(agent.unauthenticated(), 1);
    for text in [
        format!("{client:?}"),
        format!("{handle:?}"),
        format!("{rejection:?} {rejection}"),
        format!(
            "{:?}",
            ApertureConfig::new("x:1").api_key("wrong-key-secret")
        ),
    ] {
        assert!(!text.contains("secret"), "{text}");
    }
    // The right key is accepted.
    let (client, _) = client_of(&agent.address, Some("right-key"));
    assert_eq!(pay(&client, 3, false).await, Ok(3));
}

#[tokio::test]
async fn tokens_go_back_once_for_ok_err_panic_and_a_dropped_future() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    agent.script("Payments", Script::Concurrency { max: 100 });

    assert_eq!(pay(&client, 1, false).await, Ok(1));
    assert_eq!(pay(&client, 2, true).await, Err(AppError::Failed));
    let flags = client.clone();
    let panicked = tokio::spawn(async move { pay_and_panic(&flags).await }).await;
    assert!(panicked.unwrap_err().is_panic());
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::select! {
        _ = pay_until_dropped(&client, started) => unreachable!("it never ends"),
        _ = running => {} // dropped here, while running
    }
    let flags = client.clone();
    let blocking = tokio::task::spawn_blocking(move || pay_blocking(&flags));
    assert_eq!(blocking.await.unwrap(), Ok("paid"));

    let stats = handle.settled(SETTLE).await;
    assert_eq!(
        (stats.ends_sent, stats.ends_failed, stats.ends_pending),
        (5, 0, 0)
    );
    let ends = agent.ends();
    assert_eq!(ends.len(), 5, "one FlowEnd per flow");
    let mut ids: Vec<_> = ends
        .iter()
        .flat_map(|end| end.inflight_requests.iter().map(|r| r.request_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each flow gave back its own tokens");
    assert!(ends.iter().all(|end| end.control_point == "Payments"));
    assert_eq!(agent.in_flight(), 0);
    assert!(agent.unknown_returns().is_empty());
    let counts = client.metrics().flag("Payments");
    assert_eq!((counts.ok, counts.error, counts.cancelled), (2, 2, 1));
}

#[tokio::test]
async fn tokens_lent_before_a_rejection_go_back_too() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    agent.script("Payments", Script::LendThenReject);
    let rejection = rejection(pay(&client, 1, false).await);
    assert_eq!(rejection.reason(), RejectReason::RateLimited);
    handle.settled(SETTLE).await;
    assert_eq!(agent.ends().len(), 1);
    assert_eq!(agent.in_flight(), 0);
}

#[tokio::test]
async fn the_fallback_sets_ramp_mode() {
    let agent = StandInAgent::start(None).await;
    let (client, _handle) = client_of(&agent.address, None);
    agent.script("Payments", Script::RampOnly);
    agent.script("Reports", Script::RampOnly);
    agent.script("Checkout", Script::RampOnly);
    // Fallback reject: ramp mode, so the agent rejects what no ramp admits.
    assert_eq!(
        rejection(pay(&client, 1, false).await).reason(),
        RejectReason::FlagDisabled
    );
    // Fallback accept (fail-open): no ramp mode, the agent admits.
    assert_eq!(report(&client).await, Ok("report"));
    // No fallback declared (by name, no rules file): no ramp mode, and an agent with
    // no load ramp admits.
    let flow = client
        .start_flow("Checkout", &labels! {}, Duration::from_secs(5))
        .await;
    assert!(flow.should_run());
    flow.end();
    let modes: Vec<_> = agent
        .checks()
        .iter()
        .map(|c| (c.control_point.clone(), c.ramp_mode))
        .collect();
    assert_eq!(
        modes,
        [
            ("Payments".to_owned(), true),
            ("Reports".to_owned(), false),
            ("Checkout".to_owned(), false)
        ]
    );
}

#[tokio::test]
async fn a_decision_type_no_agent_sends_is_no_decision() {
    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    for decision in [2, -1, i32::MAX] {
        agent.script("Payments", Script::UnknownDecision(decision));
        agent.script("Reports", Script::UnknownDecision(decision));
        assert_eq!(
            rejection(pay(&client, 1, false).await).reason(),
            RejectReason::SourceError
        );
        assert_eq!(report(&client).await, Ok("report"));
    }
    assert_eq!(handle.stats().errors, 6);
}

#[tokio::test]
async fn is_enabled_takes_the_fallback_on_a_per_flow_source() {
    let agent = StandInAgent::start(None).await;
    let (client, _handle) = client_of(&agent.address, None);
    assert!(!client.is_enabled("Payments", &labels! {}));
    assert!(agent.checks().is_empty(), "no flow, no Check");
}

#[test]
fn blocking_gates_decide_on_a_plain_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let agent = runtime.block_on(StandInAgent::start(None));
    agent.script("Payments", Script::Concurrency { max: 4 });
    let (client, handle) = client_of(&agent.address, None);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || (0..25).map(|_| pay_blocking(&client)).collect::<Vec<_>>())
        })
        .collect();
    for thread in threads {
        for result in thread.join().unwrap() {
            match result {
                Ok("paid") => {}
                Err(AppError::Rejected(r)) => {
                    assert_eq!(r.reason(), RejectReason::ConcurrencyLimited);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let stats = runtime.block_on(handle.settled(SETTLE));
    assert_eq!(stats.ends_pending, 0);
    assert_eq!(stats.ends_sent, stats.accepted);
    assert_eq!(agent.in_flight(), 0);
    assert!(agent.peak("Payments") <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_flows_leave_the_agent_holding_no_tokens() {
    let agent = StandInAgent::start(None).await;
    agent.script("Payments", Script::Concurrency { max: 64 });
    let (client, handle) = client_of(&agent.address, None);
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..10_000_u64 {
        let client = client.clone();
        tasks.spawn(async move {
            match user % 4 {
                // Some fail, some panic, some are dropped mid-flow.
                0 => drop(pay(&client, user, true).await),
                1 if user % 8 == 1 => drop(pay_and_panic(&client).await),
                2 => {
                    let (started, running) = tokio::sync::oneshot::channel();
                    tokio::select! {
                        _ = pay_until_dropped(&client, started) => {}
                        _ = running => {}
                    }
                }
                _ => drop(pay(&client, user, false).await),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let stats = handle.settled(SETTLE).await;
    assert_eq!(stats.ends_pending, 0);
    assert_eq!(stats.ends_failed + stats.ends_dropped, 0);
    assert_eq!(agent.in_flight(), 0, "the agent holds no token");
    assert!(
        agent.unknown_returns().is_empty(),
        "no token given back twice"
    );
    assert!(agent.peak("Payments") <= 64);
    assert_eq!(stats.accepted + stats.rejected, 10_000);
    assert_eq!(
        stats.ends_sent, stats.accepted,
        "one FlowEnd per flow that held tokens"
    );
}

#[tokio::test]
async fn the_tower_layer_answers_with_the_agents_status_and_wait_time() {
    use axum::routing::get;
    use flowgate::tower::FlowgateLayer;

    let agent = StandInAgent::start(None).await;
    let (client, handle) = client_of(&agent.address, None);
    let app = axum::Router::new().route(
        "/pay",
        get(|| async { "paid" }).layer(
            FlowgateLayer::new("Payments")
                .client(client.clone())
                .labels(|parts| labels! { "path" => parts.uri.path().to_owned() }),
        ),
    );
    let base = flowgate_tests::serve(app).await;
    let get = |url: String| async move { reqwest::get(url).await.expect("the app answers") };

    agent.script("Payments", Script::Concurrency { max: 1 });
    let accepted = get(format!("{base}/pay")).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.text().await.unwrap(), "paid");
    assert_eq!(
        agent.checks()[0].labels.get("path").map(String::as_str),
        Some("/pay")
    );

    agent.script(
        "Payments",
        Script::Reject {
            reason: flowgate::aperture::proto::RejectReason::RateLimited,
            wait: Some(Duration::from_millis(2500)),
            status: 451,
        },
    );
    let rejected = get(format!("{base}/pay")).await;
    assert_eq!(rejected.status(), 451, "the agent's status");
    assert_eq!(
        rejected.headers()["retry-after"],
        "3",
        "the agent's wait, rounded up"
    );

    // No status from the agent: the reason's own (429 for a rate limit).
    agent.script(
        "Payments",
        Script::Reject {
            reason: flowgate::aperture::proto::RejectReason::RateLimited,
            wait: None,
            status: 0,
        },
    );
    assert_eq!(get(format!("{base}/pay")).await.status(), 429);

    handle.settled(SETTLE).await;
    assert_eq!(
        agent.ends().len(),
        1,
        "the accepted request gave its token back"
    );
    assert_eq!(agent.in_flight(), 0);
}

#[test]
fn addresses_and_keys_that_cannot_work_are_errors_that_name_them_not_the_key() {
    for address in [
        "ftp://agent:8089",
        "http://",
        "not a uri at all",
        "http://[::1",
    ] {
        let error = Aperture::connect(ApertureConfig::new(address))
            .expect_err(address)
            .to_string();
        assert!(error.contains("Aperture agent address"), "{error}");
    }
    for key in [
        "line\nbreak-secret",
        "tab\there-secret",
        "nul\0-secret",
        "é-secret",
    ] {
        let error = Aperture::connect(ApertureConfig::new("http://127.0.0.1:1").api_key(key))
            .expect_err("a key no header can carry")
            .to_string();
        assert!(
            error.contains("API key") && !error.contains("secret"),
            "{error}"
        );
    }
    // A key read from a file, with its line break, works.
    Aperture::connect(ApertureConfig::new("http://127.0.0.1:1").api_key("from-a-file\n"))
        .expect("the line break goes");
    // What works: plain gRPC with or without a scheme, TLS for https.
    for address in [
        "127.0.0.1:8089",
        "http://localhost:8089",
        "https://agent.example.com:443",
        " http://10.0.0.1:8089/ ",
    ] {
        Aperture::connect(ApertureConfig::new(address)).expect(address);
    }
}

/// A bad address or key is an error, not a panic, also inside a runtime (the source's
/// own runtime is dropped on the error path).
#[tokio::test]
async fn a_bad_config_inside_a_runtime_is_an_error() {
    assert!(Aperture::connect(ApertureConfig::new("ftp://agent")).is_err());
    assert!(Aperture::connect(ApertureConfig::new("http://127.0.0.1:1").api_key("a\nb")).is_err());
    let built = Client::builder()
        .aperture(ApertureConfig::new("ftp://agent"))
        .build();
    assert!(built.is_err());
    // And a good one is dropped inside a runtime without a panic either.
    drop(client_of("http://127.0.0.1:1", None));
}

#[tokio::test]
async fn inspect_shows_the_agents_answers_and_its_last_failure() {
    let agent = StandInAgent::start(Some("right")).await;
    let (client, _handle) = client_of(&agent.address, Some("wrong"));
    let _ = pay(&client, 1, false).await;
    let updates = client.inspect().source.updates;
    assert_eq!(
        (updates.attempts, updates.applied, updates.failed),
        (1, 0, 1)
    );
    assert_eq!(
        updates.last_error.as_deref(),
        Some("the agent refused the API key")
    );
    assert!(updates.last_success.is_none());

    let (client, _handle) = client_of(&agent.address, Some("right"));
    let _ = pay(&client, 1, false).await;
    let updates = client.inspect().source.updates;
    assert_eq!(
        (updates.attempts, updates.applied, updates.failed),
        (1, 1, 0)
    );
    assert!(updates.last_error.is_none() && updates.last_success.is_some());
}

/// `Checkout` declares no fallback: its gate rejects when undecided, but does not ask
/// the agent for ramp mode (which would reject whatever no load ramp admits).
#[feature_gate("Checkout", client = flags, timeout = "5s")]
async fn checkout(flags: &Client) -> Option<&'static str> {
    Some("checked out")
}

#[tokio::test]
async fn an_undeclared_fallback_does_not_ask_for_ramp_mode() {
    let agent = StandInAgent::start(None).await;
    let (client, _handle) = client_of(&agent.address, None);
    agent.script("Checkout", Script::RampOnly);
    assert_eq!(checkout(&client).await, Some("checked out"));
    assert!(!agent.checks()[0].ramp_mode);
    // With no agent, the undeclared default still rejects.
    let (dead, _) = client_of(
        &flowgate_tests::unanswered_unleash_url().replace("/api", ""),
        None,
    );
    assert_eq!(checkout(&dead).await, None);
}

/// A layer made from a typed handle takes the fallback `flowgate.toml` declares, as the
/// attribute does (found by a new user's trial: a layer by name ignored it).
#[tokio::test]
async fn a_layer_from_a_typed_handle_takes_the_declared_fallback() {
    use axum::routing::get;
    use flowgate::tower::FlowgateLayer;

    let (dead, _) = client_of(
        &flowgate_tests::unanswered_unleash_url().replace("/api", ""),
        None,
    );
    let app = axum::Router::new()
        .route(
            "/reports",
            get(|| async { "report" })
                .layer(FlowgateLayer::new(flags::Reports).client(dead.clone())),
        )
        .route(
            "/payments",
            get(|| async { "paid" })
                .layer(FlowgateLayer::new(flags::Payments).client(dead.clone())),
        );
    let base = flowgate_tests::serve(app).await;
    let reports = reqwest::get(format!("{base}/reports")).await.unwrap();
    assert_eq!(
        reports.status(),
        200,
        "fallback = \"accept\" from flowgate.toml"
    );
    let payments = reqwest::get(format!("{base}/payments")).await.unwrap();
    assert_eq!(payments.status(), 404, "fallback = \"reject\"");
}

/// The client's own limits apply after the agent's decision: a flow the agent admits
/// can still queue for a local slot, and time out there; the agent's tokens come back
/// either way.
#[tokio::test]
async fn local_limits_apply_after_the_agent_and_tokens_come_back_from_the_queue() {
    let agent = StandInAgent::start(None).await;
    agent.script("Payments", Script::Concurrency { max: 100 });
    let dir = std::env::temp_dir().join(format!("flowgate-aperture-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("flowgate.toml");
    std::fs::write(
        &rules,
        "[flags.Payments]\nconcurrency = { max = 1, queue = 4 }\n",
    )
    .unwrap();
    let source = Aperture::connect(ApertureConfig::new(&agent.address)).unwrap();
    let handle = source.handle();
    let client = Client::builder()
        .source(source)
        .limits_file(&rules)
        .watch(false)
        .build()
        .unwrap();

    let first = client
        .start_flow("Payments", &labels! {}, Duration::from_secs(5))
        .await;
    assert!(first.should_run());
    // The agent admits the second too; the local slot is taken, so it queues, and
    // times out there.
    let second = client
        .start_flow("Payments", &labels! {}, Duration::from_millis(100))
        .await;
    assert_eq!(
        second.rejection().map(Rejection::reason),
        Some(RejectReason::QueueTimeout)
    );
    second.end();
    first.end();
    let stats = handle.settled(SETTLE).await;
    assert_eq!((stats.accepted, stats.ends_sent), (2, 2));
    assert_eq!(agent.in_flight(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
