//! OpenTelemetry's feature-flag semantics, exported through the real SDK: flows and
//! evaluations go through `tracing-opentelemetry` into `opentelemetry_sdk`'s in-memory
//! span exporter, and the attributes are read back as a collector would see them.

use std::collections::BTreeMap;
use std::time::Duration;

use flowgate::{labels, Client, Engine, Labels};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

const RULES: &str = r#"
[flags.Rollout]
rollout = 50

[flags.Targeted]
constraints = [{ label = "region", operator = "IN", values = ["eu"] }]

[flags.Everyone]
enabled = true
variants = [{ name = "blue", weight = 1 }]

[flags.Dark]
enabled = false

[flags.Limited]
enabled = true
rate_limit = { limit = 1, per = "1h" }

[flags.Slow]
enabled = true
concurrency = { max = 1, queue = 1 }
"#;

type Attributes = BTreeMap<String, String>;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        other => other.to_string(),
    }
}

fn attributes(span: &SpanData) -> Attributes {
    span.attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), text(&kv.value)))
        .collect()
}

/// Runs `work` with a `tracing-opentelemetry` layer over the SDK's in-memory exporter;
/// returns the finished spans.
fn exported(work: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("flowgate-test"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, work);
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

/// The attributes of every `flowgate.flow` span, keyed by flag, in the order they ended.
fn flows(spans: &[SpanData]) -> Vec<Attributes> {
    spans
        .iter()
        .filter(|span| span.name == "flowgate.flow")
        .map(attributes)
        .collect()
}

fn get<'a>(attributes: &'a Attributes, key: &str) -> &'a str {
    attributes.get(key).map_or("-", String::as_str)
}

#[test]
fn every_flow_span_carries_the_feature_flag_attributes() {
    let client = Client::from_toml_str(RULES).unwrap();
    let user = |id: u32| labels! { "userId" => id, "region" => "eu" };
    // A user in the rollout, and one out of it.
    let inside = (0..100)
        .find(|&id| client.is_enabled("Rollout", &user(id)))
        .unwrap();
    let outside = (0..100)
        .find(|&id| !client.is_enabled("Rollout", &user(id)))
        .unwrap();
    let spans = exported(|| {
        for (flag, labels) in [
            ("Rollout", user(inside)),
            ("Rollout", user(outside)),
            (
                "Targeted",
                labels! { "sessionId" => "s-1", "region" => "eu" },
            ),
            ("Everyone", Labels::new()),
            ("Dark", Labels::new()),
            ("Missing", Labels::new()),
            ("Limited", Labels::new()),
            ("Limited", Labels::new()),
        ] {
            drop(client.start_flow_blocking(flag, &labels, Duration::ZERO));
        }
    });
    let flows = flows(&spans);
    let described: Vec<String> = flows
        .iter()
        .map(|a| {
            [
                "feature_flag.key",
                "feature_flag.result.value",
                "feature_flag.result.reason",
                "error.type",
                "feature_flag.context.id",
                "flowgate.decision",
                "flowgate.reject_reason",
                "flowgate.by_fallback",
                "flowgate.status",
            ]
            .map(|key| get(a, key))
            .join(" ")
        })
        .collect();
    // key, value, reason, error.type, context.id, decision, reject reason, by fallback,
    // status ("-": absent).
    assert_eq!(
        described,
        [
            format!("Rollout true split - {inside} accepted - false cancelled"),
            format!("Rollout false split - {outside} rejected flag_disabled false -"),
            "Targeted true targeting_match - s-1 accepted - false cancelled".into(),
            "Everyone true static - - accepted - false cancelled".into(),
            "Dark false disabled - - rejected flag_disabled false -".into(),
            "Missing false error flag_not_found - rejected unknown_flag true -".into(),
            "Limited true static - - accepted - false cancelled".into(),
            "Limited true static - - rejected rate_limited false -".into(),
        ]
    );
    for flow in &flows {
        assert_eq!(get(flow, "feature_flag.provider.name"), "flowgate.engine");
        assert_eq!(get(flow, "flowgate.labels"), "-", "labels are opt-in");
    }
}

#[test]
fn a_source_that_is_not_ready_is_an_error_of_type_provider_not_ready() {
    let client = Client::new(Engine::pending());
    let spans = exported(|| {
        drop(client.start_flow_blocking("Anything", &Labels::new(), Duration::ZERO));
    });
    let flow = &flows(&spans)[0];
    assert_eq!(get(flow, "feature_flag.result.reason"), "error");
    assert_eq!(get(flow, "error.type"), "provider_not_ready");
    assert_eq!(get(flow, "flowgate.reject_reason"), "not_ready");
}

#[test]
fn a_queued_flow_records_its_wait_and_chosen_labels_are_recorded() {
    let client = Client::builder()
        .toml(RULES)
        .span_labels(["region", "tenant"])
        .build()
        .unwrap();
    let spans = exported(|| {
        let labels = labels! { "region" => "eu", "tenant" => "acme", "email" => "a@b.c" };
        let held = client.start_flow_blocking("Slow", &labels, Duration::ZERO);
        // The waiter's span is made on its own thread, under the same subscriber.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    client
                        .start_flow_blocking("Slow", &labels, Duration::from_secs(60))
                        .end();
                });
            });
            while client.metrics().flag("Slow").queued == 0 {
                std::thread::yield_now();
            }
            held.end();
            waiter.join().unwrap();
        });
    });
    let flows = flows(&spans);
    assert_eq!(flows.len(), 2);
    let waited = flows
        .iter()
        .find(|f| f.contains_key("flowgate.queue_wait_ms"))
        .expect("the queued flow records its wait");
    assert!(waited["flowgate.queue_wait_ms"].parse::<f64>().unwrap() >= 0.0);
    assert_eq!(get(waited, "flowgate.status"), "ok");
    for flow in &flows {
        assert_eq!(get(flow, "flowgate.labels"), "region=eu tenant=acme");
        assert!(
            !flow.values().any(|v| v.contains("a@b.c")),
            "only chosen labels"
        );
    }
}

#[test]
fn evaluations_are_feature_flag_events_with_their_variant() {
    let client = Client::from_toml_str(RULES).unwrap();
    let spans = exported(|| {
        let _request = tracing::info_span!("request").entered();
        assert!(client.is_enabled("Targeted", &labels! { "userId" => 9, "region" => "eu" }));
        assert_eq!(client.variant("Everyone", &Labels::new()).name(), "blue");
        assert!(!client.is_enabled("Missing", &Labels::new()));
    });
    let request = spans.iter().find(|s| s.name == "request").unwrap();
    let events: Vec<(String, Attributes)> = request
        .events
        .iter()
        .map(|event| {
            let attributes = event
                .attributes
                .iter()
                .map(|kv| (kv.key.as_str().to_owned(), text(&kv.value)))
                .collect();
            (event.name.to_string(), attributes)
        })
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let described: Vec<[&str; 6]> = events
        .iter()
        .map(|(_, a)| {
            [
                "feature_flag.key",
                "feature_flag.result.value",
                "feature_flag.result.reason",
                "feature_flag.result.variant",
                "feature_flag.context.id",
                "error.type",
            ]
            .map(|key| get(a, key))
        })
        .collect();
    assert_eq!(
        described,
        [
            ["Targeted", "true", "targeting_match", "-", "9", "-"],
            ["Everyone", "true", "static", "blue", "-", "-"],
            ["Missing", "false", "error", "-", "-", "flag_not_found"],
        ]
    );
    for (name, attributes) in &events {
        assert_eq!(name, "feature_flag.evaluation");
        assert_eq!(
            get(attributes, "feature_flag.provider.name"),
            "flowgate.engine"
        );
    }
}

#[flowgate::feature_gate("Payments", client = flags, timeout = "5s", on_reject = |_| Err("rejected"))]
fn pay_or_fail(flags: &Client, fail: bool) -> Result<(), &'static str> {
    if fail {
        Err("failed")
    } else {
        Ok(())
    }
}

/// `aperture.flow.status` on the flow's span, as Aperture's SDKs report it, exported
/// through the real OpenTelemetry SDK; flows of other sources do not carry it. (Here,
/// not in `aperture.rs`: a span's callsite is registered once per process, and tests
/// there run flows with no subscriber at the same time.)
#[test]
fn the_flow_span_carries_aperture_flow_status() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let agent = runtime.block_on(flowgate_tests::aperture_agent::StandInAgent::start(None));
    let client = Client::new(
        flowgate::aperture::Aperture::connect(flowgate::aperture::ApertureConfig::new(
            &agent.address,
        ))
        .unwrap(),
    );
    let local = flowgate::testing::InMemorySource::new()
        .enable("Payments")
        .into_client();

    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert_eq!(pay_or_fail(&client, false), Ok(()));
        assert_eq!(pay_or_fail(&client, true), Err("failed"));
        assert_eq!(pay_or_fail(&local, false), Ok(()));
    });
    provider.force_flush().unwrap();
    let statuses: Vec<(String, Option<String>)> = exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .filter(|span| span.name == "flowgate.flow")
        .map(|span| {
            let get = |key: &str| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.as_str().into_owned())
            };
            (
                get("feature_flag.provider.name").unwrap(),
                get("aperture.flow.status"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("aperture".to_owned(), Some("OK".to_owned())),
            ("aperture".to_owned(), Some("Error".to_owned())),
            ("flowgate.in_memory".to_owned(), None),
        ]
    );
}
