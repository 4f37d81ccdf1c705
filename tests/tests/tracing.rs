//! Every flow is a `flowgate.flow` span carrying its flag, decision, reason
//! and status, and the gated body runs inside it. (The OpenTelemetry attributes, through
//! the real SDK, are in `otel.rs`.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, Client};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;
/// Each event's message, with the id of the span it was recorded in.
type Events = Vec<(String, Option<u64>)>;

/// Records every `flowgate.flow` span's fields, and for each event the span it was in.
#[derive(Clone, Default)]
struct Recorder {
    flows: Arc<Mutex<BTreeMap<u64, Fields>>>,
    events: Arc<Mutex<Events>>,
}

struct FieldVisitor<'a>(&'a mut Fields);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "flowgate.flow" {
            let mut fields = Fields::new();
            attrs.record(&mut FieldVisitor(&mut fields));
            self.flows.lock().unwrap().insert(id.into_u64(), fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(fields) = self.flows.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut FieldVisitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut FieldVisitor(&mut fields));
        let span = ctx.event_span(event).map(|span| span.id().into_u64());
        let message = fields.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push((message, span));
    }
}

#[feature_gate("Checkout", client = flags)]
fn sync_body(flags: &Client, fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing::info!("sync body");
    if fail {
        Err("failed".into())
    } else {
        Ok(())
    }
}

#[feature_gate("Checkout", client = flags)]
async fn async_body(flags: &Client) -> Option<()> {
    tokio::task::yield_now().await;
    tracing::info!("async body");
    Some(())
}

#[test]
fn flows_are_spans_with_their_outcome_and_bodies_run_inside() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let source = InMemorySource::new().enable("Checkout");
    let client = source.clone().into_client();

    tracing::subscriber::with_default(subscriber, || {
        sync_body(&client, false).unwrap();
        sync_body(&client, true).unwrap_err();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async_body(&client))
            .unwrap();
        source.set("Checkout", false);
        sync_body(&client, false).unwrap_err();
    });

    let flows = recorder.flows.lock().unwrap().clone();
    let described: Vec<_> = flows
        .values()
        .map(|fields| {
            [
                "feature_flag.key",
                "flowgate.decision",
                "flowgate.reject_reason",
                "flowgate.status",
            ]
            .map(|key| fields.get(key).map_or("-", String::as_str).to_owned())
        })
        .collect();
    assert_eq!(
        described,
        [
            ["Checkout", "accepted", "-", "ok"],
            ["Checkout", "accepted", "-", "error"],
            ["Checkout", "accepted", "-", "ok"],
            ["Checkout", "rejected", "flag_disabled", "-"],
        ]
    );

    let ids: Vec<u64> = flows.keys().copied().collect();
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            ("sync body".to_owned(), Some(ids[0])),
            ("sync body".to_owned(), Some(ids[1])),
            ("async body".to_owned(), Some(ids[2])),
        ],
        "each body's events belong to its flow's span"
    );
}
