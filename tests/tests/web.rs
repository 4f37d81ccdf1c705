//! The tower layer on axum, over real HTTP: a server on an ephemeral 127.0.0.1 port,
//! requests from reqwest. The layer answers before any extractor runs, limits answer
//! 429/503 with `Retry-After`, a streamed body holds its slot until it ends, a client
//! that goes away ends the flow cancelled, labels come from the request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Json, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use flowgate::testing::InMemorySource;
use flowgate::tower::FlowgateLayer;
use flowgate::{labels, Client, RejectReason};
use tokio::sync::{mpsc, Notify};

async fn get_text(url: &str) -> (StatusCode, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.text().await.unwrap())
}

/// `GET url` as the user `id` (its `x-user-id` header): status and body.
async fn as_user(http: &reqwest::Client, url: &str, id: &str) -> (u16, String) {
    let response = http.get(url).header("x-user-id", id).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[derive(serde::Deserialize)]
struct Order {
    #[allow(dead_code)]
    item: String,
}

async fn order(Path(id): Path<u64>) -> String {
    format!("order {id}")
}

async fn create(Path(id): Path<u64>, Json(_): Json<Order>) -> String {
    format!("created {id}")
}

fn orders(client: Client) -> Router {
    Router::new()
        .route("/orders/{id}", get(order).post(create))
        .route_layer(FlowgateLayer::new("Orders").client(client))
}

/// With the flag off, a bad path, a good path and a bad body all answer the router's
/// own empty 404: nothing tells the route exists. With it on, the extractors run.
#[tokio::test]
async fn a_gated_route_answers_404_before_any_extractor_runs() {
    let source = InMemorySource::new().disable("Orders");
    let base = flowgate_tests::serve(orders(source.clone().into_client())).await;
    let http = reqwest::Client::new();
    let (missing_status, missing_body) = get_text(&format!("{base}/no-such-route")).await;
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    for path in ["/orders/abc", "/orders/5", "/orders/99999999999999999999"] {
        assert_eq!(
            get_text(&format!("{base}{path}")).await,
            (missing_status, missing_body.clone()),
            "{path}"
        );
    }
    let bad_body = http
        .post(format!("{base}/orders/5"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status().as_u16(), 404);
    assert_eq!(bad_body.text().await.unwrap(), missing_body);

    source.set("Orders", true);
    assert_eq!(
        get_text(&format!("{base}/orders/abc")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get_text(&format!("{base}/orders/5")).await,
        (StatusCode::OK, "order 5".into())
    );
}

/// On a `MethodRouter`, a nested router, and a whole router (`Router::layer`, which
/// gates its fallback too).
#[tokio::test]
async fn method_routers_nested_routers_and_whole_routers() {
    let source = InMemorySource::new()
        .enable("Admin")
        .disable("Beta")
        .disable("Site");
    let client = source.clone().into_client();
    let admin = Router::new()
        .route("/users", get(|| async { "users" }))
        .layer(FlowgateLayer::new("Admin").client(client.clone()));
    let app = Router::new()
        .route(
            "/beta",
            get(|| async { "beta" }).layer(FlowgateLayer::new("Beta").client(client.clone())),
        )
        .route("/open", get(|| async { "open" }))
        .nest("/admin", admin);
    let base = flowgate_tests::serve(app).await;
    assert_eq!(get_text(&format!("{base}/admin/users")).await.1, "users");
    assert_eq!(
        get_text(&format!("{base}/beta")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_text(&format!("{base}/open")).await.1, "open");
    source.set("Admin", false);
    source.set("Beta", true);
    assert_eq!(
        get_text(&format!("{base}/admin/users")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_text(&format!("{base}/beta")).await.1, "beta");

    let site = Router::new()
        .route("/", get(|| async { "home" }))
        .fallback(|| async { (StatusCode::IM_A_TEAPOT, "fallback") })
        .layer(FlowgateLayer::new("Site").client(client));
    let base = flowgate_tests::serve(site).await;
    assert_eq!(get_text(&format!("{base}/")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get_text(&format!("{base}/elsewhere")).await.0,
        StatusCode::NOT_FOUND
    );
    source.set("Site", true);
    assert_eq!(
        get_text(&format!("{base}/elsewhere")).await.0,
        StatusCode::IM_A_TEAPOT
    );
}

/// A rate limit answers 429 and a full concurrency limit 503, both with `Retry-After`
/// where it is known, and bodies that do not name the flag.
#[tokio::test]
async fn limits_answer_429_and_503_with_retry_after() {
    let client = Client::from_toml_str(
        "[flags.Limited]\nrate_limit = { limit = 1, per = \"1h\", burst = 1 }\n\n\
         [flags.Checkout]\nconcurrency = { max = 1, queue = 0 }\n",
    )
    .unwrap();
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (entered_in, release_in) = (Arc::clone(&entered), Arc::clone(&release));
    let app = Router::new()
        .route(
            "/limited",
            get(|| async { "ok" }).layer(FlowgateLayer::new("Limited").client(client.clone())),
        )
        .route(
            "/checkout",
            get(move || async move {
                entered_in.notify_one();
                release_in.notified().await;
                "paid"
            })
            .layer(
                FlowgateLayer::new("Checkout")
                    .client(client.clone())
                    .timeout(Duration::ZERO),
            ),
        );
    let base = flowgate_tests::serve(app).await;
    assert_eq!(get_text(&format!("{base}/limited")).await.0, StatusCode::OK);
    let limited = reqwest::get(format!("{base}/limited")).await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    let body = limited.text().await.unwrap();
    assert!(
        body.contains("rate_limited") && !body.contains("Limited"),
        "{body}"
    );

    let first = tokio::spawn(reqwest::get(format!("{base}/checkout")));
    entered.notified().await;
    let busy = reqwest::get(format!("{base}/checkout")).await.unwrap();
    assert_eq!(busy.status().as_u16(), 503);
    assert!(!busy.text().await.unwrap().contains("Checkout"));
    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().text().await.unwrap(), "paid");
    let counts = client.metrics().flag("Checkout");
    assert_eq!(
        counts
            .rejected_by_reason
            .get(RejectReason::ConcurrencyLimited),
        1
    );
}

/// A streamed response keeps its concurrency slot until its last byte: a second
/// request meanwhile is turned away, one after the end is served.
#[tokio::test]
async fn a_streamed_body_holds_its_slot_until_it_ends() {
    let client =
        Client::from_toml_str("[flags.Checkout]\nconcurrency = { max = 1, queue = 0 }\n").unwrap();
    let (chunks_in, chunks) = mpsc::channel::<Result<String, std::io::Error>>(4);
    let chunks = Arc::new(tokio::sync::Mutex::new(Some(chunks)));
    let app = Router::new().route(
        "/stream",
        get(move || {
            let chunks = Arc::clone(&chunks);
            async move {
                match chunks.lock().await.take() {
                    Some(receiver) => Body::from_stream(tokio_stream(receiver)).into_response(),
                    None => "short".into_response(),
                }
            }
        })
        .layer(
            FlowgateLayer::new("Checkout")
                .client(client.clone())
                .timeout(Duration::ZERO),
        ),
    );
    let base = flowgate_tests::serve(app).await;
    let mut streamed = reqwest::get(format!("{base}/stream")).await.unwrap();
    assert_eq!(streamed.status().as_u16(), 200);
    chunks_in.send(Ok("one ".into())).await.unwrap();
    assert_eq!(streamed.chunk().await.unwrap().unwrap(), "one ");
    assert_eq!(
        get_text(&format!("{base}/stream")).await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "the slot is held while the body streams"
    );
    chunks_in.send(Ok("two".into())).await.unwrap();
    drop(chunks_in);
    assert_eq!(streamed.chunk().await.unwrap().unwrap(), "two");
    assert!(streamed.chunk().await.unwrap().is_none());
    // The flow ends as the body's end is read; a request after it is served.
    let mut served = None;
    for _ in 0..100 {
        let (status, body) = get_text(&format!("{base}/stream")).await;
        if status == StatusCode::OK {
            served = Some(body);
            break;
        }
        tokio::task::yield_now().await; // the server task ends the flow after the last frame
    }
    assert_eq!(served.as_deref(), Some("short"));
    let counts = client.metrics().flag("Checkout");
    assert_eq!(
        (counts.ok, counts.cancelled, counts.in_flight),
        (2, 0, 0),
        "{counts:?}"
    );
}

/// The receiver as a stream of chunks (`futures` without its `StreamExt` import).
fn tokio_stream(
    mut receiver: mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Says when the handler's future is dropped: the server dropped the request's work.
struct DroppedSignal(Arc<Notify>);

impl Drop for DroppedSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// A client that goes away while the handler works ends the flow cancelled, and a 5xx
/// ends it as an error.
#[tokio::test]
async fn a_disconnected_client_cancels_and_a_5xx_is_an_error() {
    let client = InMemorySource::new().enable("Checkout").into_client();
    let (entered, dropped) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (entered_in, dropped_in) = (Arc::clone(&entered), Arc::clone(&dropped));
    let app = Router::new()
        .route(
            "/hang",
            get(move || async move {
                let _signal = DroppedSignal(dropped_in);
                entered_in.notify_one();
                std::future::pending::<()>().await;
            }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route_layer(FlowgateLayer::new("Checkout").client(client.clone()));
    let base = flowgate_tests::serve(app).await;
    assert_eq!(
        get_text(&format!("{base}/fail")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let hanging = tokio::spawn(reqwest::get(format!("{base}/hang")));
    entered.notified().await;
    hanging.abort(); // the connection closes
    let _ = hanging.await;
    // The server drops the request's work, the flow with it (one task, one thread).
    dropped.notified().await;
    let counts = client.metrics().flag("Checkout");
    assert_eq!(
        (counts.error, counts.cancelled, counts.in_flight),
        (1, 1, 0),
        "{counts:?}"
    );
}

/// Labels from a header decide a rollout per user, as the client decides for the same
/// labels: both answers show up across users.
#[tokio::test]
async fn labels_from_the_request_decide_a_rollout_per_user() {
    let client =
        Client::from_toml_str("[flags.Search]\nrollout = 50\nstickiness = \"userId\"\n").unwrap();
    let app = Router::new()
        .route("/search", get(|| async { "results" }))
        .route_layer(
            FlowgateLayer::new("Search")
                .client(client.clone())
                .label_from_header("userId", "x-user-id"),
        );
    let base = flowgate_tests::serve(app).await;
    let http = reqwest::Client::new();
    let mut seen = [0; 2];
    for user in 0..60 {
        let id = format!("user-{user}");
        let status = as_user(&http, &format!("{base}/search"), &id).await.0;
        let expected = client.is_enabled("Search", &labels! { "userId" => id.as_str() });
        assert_eq!(status == 200, expected, "{id}: {status}");
        seen[usize::from(expected)] += 1;
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

/// A hook renders any response for a rejection, from the rejection's reason.
#[tokio::test]
async fn on_reject_renders_any_response() {
    let client = InMemorySource::new().disable("Beta").into_client();
    let app = Router::new().route(
        "/beta",
        post(|| async { "beta" }).layer(FlowgateLayer::new("Beta").client(client).on_reject(
            |rejection| -> Response {
                (
                    StatusCode::FORBIDDEN,
                    format!("no: {}", rejection.reason().as_str()),
                )
                    .into_response()
            },
        )),
    );
    let base = flowgate_tests::serve(app).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/beta"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(response.text().await.unwrap(), "no: flag_disabled");
}

#[flowgate::feature_gate("Search", client = client)]
async fn deep_search(client: &Client) -> Result<&'static str, flowgate::Rejection> {
    Ok("found")
}

#[flowgate::feature_gate("Search", client = client, labels(userId = "always-the-same"))]
async fn search_as_one_user(client: &Client) -> Result<&'static str, flowgate::Rejection> {
    Ok("found")
}

/// The layer's labels are ambient in the handler: a gate deep inside, given no labels,
/// decides on the request's user; a gate's own labels win over them.
#[tokio::test]
async fn request_labels_reach_a_gate_deep_in_the_handler() {
    let client = Client::from_toml_str(
        "[flags.Search]\nrollout = 50\nstickiness = \"userId\"\n\n[flags.Orders]\nenabled = true\n",
    )
    .unwrap();
    let handler_client = client.clone();
    let app = Router::new()
        .route(
            "/search",
            get(move || {
                let client = handler_client.clone();
                async move {
                    let deep = deep_search(&client).await.is_ok();
                    let fixed = search_as_one_user(&client).await.is_ok();
                    format!("{deep} {fixed}")
                }
            }),
        )
        .route_layer(
            FlowgateLayer::new("Orders")
                .client(client.clone())
                .label_from_header("userId", "x-user-id"),
        );
    let base = flowgate_tests::serve(app).await;
    let http = reqwest::Client::new();
    let fixed = client.is_enabled("Search", &labels! { "userId" => "always-the-same" });
    let mut seen = [0; 2];
    for user in 0..60 {
        let id = format!("user-{user}");
        let body = as_user(&http, &format!("{base}/search"), &id).await.1;
        let expected = client.is_enabled("Search", &labels! { "userId" => id.as_str() });
        assert_eq!(body, format!("{expected} {fixed}"), "{id}");
        seen[usize::from(expected)] += 1;
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    assert_eq!(
        deep_search(&client).await.is_ok(),
        client.is_enabled("Search", &labels! {}),
        "outside a request, no user"
    );
}

flowgate::flags!();

async fn page(search: flowgate::extract::Flag<flags::Search>) -> &'static str {
    if search.is_enabled() {
        "with search"
    } else {
        "without"
    }
}

/// A handler that branches: `Flag<F>` holds the flag's answer for the request's
/// labels, from the layer's client (or an `Extension<Client>`).
#[tokio::test]
async fn a_handler_branches_on_a_flag_extractor() {
    let client = Client::from_toml_str(
        "[flags.Search]\nrollout = 50\nstickiness = \"userId\"\n\n[flags.Orders]\nenabled = true\n",
    )
    .unwrap();
    let layered = Router::new().route("/", get(page)).route_layer(
        FlowgateLayer::new(flags::Orders)
            .client(client.clone())
            .label_from_header("userId", "x-user-id"),
    );
    let base = flowgate_tests::serve(layered).await;
    let http = reqwest::Client::new();
    for user in 0..30 {
        let id = format!("user-{user}");
        let body = as_user(&http, &format!("{base}/"), &id).await.1;
        let on = client.is_enabled(flags::Search, &labels! { "userId" => id.as_str() });
        assert_eq!(body, if on { "with search" } else { "without" }, "{id}");
    }

    let source = InMemorySource::new().enable("Search");
    let plain = Router::new()
        .route("/", get(page))
        .layer(axum::Extension(source.clone().into_client()));
    let base = flowgate_tests::serve(plain).await;
    assert_eq!(get_text(&format!("{base}/")).await.1, "with search");
    source.set("Search", false);
    assert_eq!(get_text(&format!("{base}/")).await.1, "without");
}

/// Layers nest as users stack them: an outer `Router::layer` takes the user from a
/// header, an inner `route_layer` gates with no labels of its own. The handler's
/// `Flag<F>` still decides on the outer layer's user, with the innermost client set
/// (an inner layer with another client wins; one without a client keeps the outer's).
#[tokio::test]
async fn nested_layers_keep_the_outer_labels_and_the_innermost_client() {
    let outer = Client::from_toml_str(
        "[flags.Search]\nrollout = 50\nstickiness = \"userId\"\n\n[flags.Orders]\nenabled = true\n",
    )
    .unwrap();
    let inner = InMemorySource::new()
        .enable("Orders")
        .enable("Search")
        .into_client();
    let app = |inner_client: Option<Client>| {
        let gate = FlowgateLayer::new("Orders");
        let gate = match inner_client {
            Some(client) => gate.client(client),
            None => gate.client(outer.clone()),
        };
        Router::new().route("/", get(page)).route_layer(gate).layer(
            FlowgateLayer::new("Orders")
                .client(outer.clone())
                .label_from_header("userId", "x-user-id"),
        )
    };
    let same = flowgate_tests::serve(app(None)).await;
    let other = flowgate_tests::serve(app(Some(inner))).await;
    let http = reqwest::Client::new();
    let (mut with, mut without) = (0, 0);
    for user in 0..40 {
        let id = format!("nested-{user}");
        let on = outer.is_enabled("Search", &labels! { "userId" => id.as_str() });
        let body = as_user(&http, &format!("{same}/"), &id).await.1;
        assert_eq!(body, if on { "with search" } else { "without" }, "{id}");
        if on {
            with += 1;
        } else {
            without += 1;
        }
        let body = as_user(&http, &format!("{other}/"), &id).await.1;
        assert_eq!(
            body, "with search",
            "the inner layer's client decides: {id}"
        );
    }
    assert!(with > 0 && without > 0, "a 50% rollout splits 40 users");
}

/// Labels from the query (percent-decoded) and from a closure over the request's
/// parts, for generated values a client would send, odd characters included: the gate
/// decides on exactly the value sent.
#[tokio::test]
async fn labels_from_the_query_and_a_closure_are_the_values_sent() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = Arc::clone(&seen);
    let client = InMemorySource::new()
        .rule("Orders", move |labels| {
            let pairs = [
                ("user", labels.get("userId").unwrap_or("-").to_owned()),
                ("method", labels.get("method").unwrap_or("-").to_owned()),
            ];
            let mut record = record.lock().unwrap();
            for (k, v) in pairs {
                record.push((k.to_owned(), v));
            }
            true
        })
        .into_client();
    let app = Router::new()
        .route("/q", get(|| async { "ok" }))
        .route_layer(
            FlowgateLayer::new("Orders")
                .client(client)
                .label_from_query("userId", "user")
                .labels(|parts| {
                    flowgate::Labels::new().with("method", parts.method.as_str().to_owned())
                }),
        );
    let base = flowgate_tests::serve(app).await;
    let http = reqwest::Client::new();
    let mut rng = fastrand::Rng::with_seed(15);
    let alphabet: Vec<char> = "aZ09 &=+%/?#é漢-_.~\u{1F600}".chars().collect();
    for _ in 0..200 {
        let value: String = (0..rng.usize(1..12))
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        seen.lock().unwrap().clear();
        let response = http
            .get(format!("{base}/q"))
            .query(&[("other", "x"), ("user", value.as_str()), ("user", "second")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                ("user".to_owned(), value.clone()),
                ("method".to_owned(), "GET".to_owned())
            ],
            "{value:?}"
        );
    }
}

/// Path parameters (decoded) and the peer's address, on a routed request.
#[tokio::test]
async fn labels_from_path_parameters_and_the_peer_address() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = Arc::clone(&seen);
    let client = InMemorySource::new()
        .rule("Orders", move |labels| {
            record.lock().unwrap().push((
                labels.get("orderId").unwrap_or("-").to_owned(),
                labels.get("remoteAddress").unwrap_or("-").to_owned(),
            ));
            true
        })
        .into_client();
    // `Router::layer` puts the layer around each route: the parameters are there too.
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "ok" }))
        .route_layer(
            FlowgateLayer::new("Orders")
                .client(client.clone())
                .label_from_path("orderId", "id")
                .remote_address(),
        )
        .merge(
            Router::new()
                .route("/items/{id}", get(|| async { "ok" }))
                .layer(
                    FlowgateLayer::new("Orders")
                        .client(client)
                        .label_from_path("orderId", "id")
                        .remote_address(),
                ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    for (path, id) in [
        ("/orders/5", "5"),
        ("/orders/a%20b", "a b"),
        ("/orders/%C3%A9", "é"),
        ("/items/7", "7"),
    ] {
        seen.lock().unwrap().clear();
        assert_eq!(get_text(&format!("{base}{path}")).await.0, StatusCode::OK);
        assert_eq!(
            seen.lock().unwrap().clone(),
            [(id.to_owned(), "127.0.0.1".to_owned())],
            "{path}"
        );
    }
}
