//! The tower layer on a real tonic server, called by a real tonic client (the gRPC
//! health service of `tonic-health`, over HTTP/2 on 127.0.0.1): a gated service answers
//! while its flag is on, a gRPC `NOT_FOUND` while it is off, `RESOURCE_EXHAUSTED` with
//! `google.rpc.RetryInfo` when rate-limited; the flows are counted.

use std::time::Duration;

use flowgate::testing::InMemorySource;
use flowgate::tower::FlowgateLayer;
use flowgate::{Client, RejectReason, Rejection};
use tonic::transport::{Channel, Server};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt as _;

/// The health service, saying it serves; keep the reporter while it is called.
async fn health() -> (
    tonic_health::server::HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    (reporter, health)
}

/// Runs the server `serve` makes of a listener's connections, on an ephemeral port; a
/// client of it.
async fn start<F, Fut>(serve: F) -> HealthClient<Channel>
where
    F: FnOnce(Incoming) -> Fut,
    Fut: std::future::Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(tokio_stream(listener)));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// The health service behind `layer`, served; a client of it (and the reporter).
async fn serve(
    layer: FlowgateLayer,
) -> (HealthClient<Channel>, tonic_health::server::HealthReporter) {
    let (reporter, health) = health().await;
    let client = start(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(incoming)
    })
    .await;
    (client, reporter)
}

type Incoming =
    std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send>>;

/// The listener's connections as the stream tonic takes.
fn tokio_stream(listener: tokio::net::TcpListener) -> Incoming {
    Box::pin(futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    }))
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn a_gated_grpc_service_answers_not_found_while_its_flag_is_off() {
    let source = InMemorySource::new().enable("Health");
    let client = source.clone().into_client();
    let (mut health, _reporter) =
        serve(FlowgateLayer::new("Health").client(client.clone()).grpc()).await;
    assert!(health.check(check()).await.is_ok());

    source.set("Health", false);
    let status = health.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        !status.message().contains("Health"),
        "the flag is not named"
    );

    let counts = client.metrics().flag("Health");
    assert_eq!(
        (counts.accepted, counts.ok, counts.rejected),
        (1, 1, 1),
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_rate_limited_call_is_resource_exhausted_with_retry_info() {
    let client = Client::from_toml_str(
        "[flags.Health]\nrate_limit = { limit = 1, per = \"1h\", burst = 1 }\n",
    )
    .unwrap();
    let (mut health, _reporter) = serve(FlowgateLayer::new("Health").client(client).grpc()).await;
    assert!(health.check(check()).await.is_ok());
    let status = health.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status.get_details_retry_info().expect("retry info");
    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
}

/// The conversion on its own, for handlers that return `Result<_, tonic::Status>`.
#[test]
fn rejections_map_to_grpc_codes() {
    let cases = [
        (RejectReason::FlagDisabled, Code::NotFound),
        (RejectReason::UnknownFlag, Code::NotFound),
        (RejectReason::RateLimited, Code::ResourceExhausted),
        (RejectReason::ConcurrencyLimited, Code::Unavailable),
        (RejectReason::QueueTimeout, Code::Unavailable),
        (RejectReason::NotReady, Code::Unavailable),
    ];
    for (reason, code) in cases {
        let status = tonic::Status::from(
            Rejection::new("Secret", reason).with_retry_after(Duration::from_millis(1_500)),
        );
        assert_eq!(status.code(), code, "{reason:?}");
        assert!(!status.message().contains("Secret"));
        assert_eq!(
            status.get_details_retry_info().is_some(),
            code != Code::NotFound,
            "{reason:?}"
        );
    }
}

/// One service of a server, one method of it: the health service's `Check` is gated,
/// its `Watch` is not, and the layer wraps the service itself (its name kept).
#[tokio::test]
async fn one_method_of_one_service_is_gated() {
    use tower_layer::Layer as _;

    let source = InMemorySource::new().disable("Health");
    let (_reporter, health) = health().await;
    let gated = FlowgateLayer::new("Health")
        .client(source.clone().into_client())
        .grpc()
        .only_paths(["/grpc.health.v1.Health/Check"])
        .layer(health);
    let mut health = start(|incoming| {
        Server::builder()
            .add_service(gated)
            .serve_with_incoming(incoming)
    })
    .await;
    let status = health.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let mut watch = health.watch(check()).await.unwrap().into_inner();
    assert!(
        watch.message().await.unwrap().is_some(),
        "Watch is not gated"
    );
    source.set("Health", true);
    assert!(health.check(check()).await.is_ok());
}
