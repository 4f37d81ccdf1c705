//! What the Unleash client logs through an outage: one warning as it starts, not one a
//! poll, and the crate's name once a line.
//!
//! In a test binary of its own: tracing remembers per call site whether anyone listens,
//! and another test's thread meeting the same call site at the moment this test's
//! scoped subscriber registers could leave it unheard here (a race in tracing-core's
//! interest cache, seen under a full parallel run), failing the count for a reason that
//! is not flowgate's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowgate::unleash::{Unleash, UnleashConfig};

/// WARN events of flowgate, with their messages.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let metadata = event.metadata();
        if *metadata.level() == tracing::Level::WARN && metadata.target() == "flowgate" {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }
}

/// An outage of many polls (every 5 ms, against a port where nothing listens) is one
/// warning as it starts, not one a poll; the message names the crate once (the log
/// line's target says `flowgate`, the text does not repeat it).
#[test]
fn an_outage_is_one_warning_not_one_per_poll() {
    use tracing_subscriber::layer::SubscriberExt;

    let warnings = Warnings::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let unleash = Unleash::start(
        UnleashConfig::new(
            flowgate_tests::unanswered_unleash_url(),
            "outage-logs",
            "default:development.x",
        )
        .refresh_interval(Duration::from_millis(5))
        .metrics_interval(Duration::from_secs(3600))
        .backup_path(None),
    )
    .unwrap();
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut stats = unleash.handle().stats();
    while stats.failures < 200 {
        assert!(
            Instant::now() < give_up,
            "200 polls never failed: {stats:?}"
        );
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(1));
    }
    unleash.handle().shutdown();
    let warnings = warnings.0.lock().unwrap().clone();
    let about_polls: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("cannot reach Unleash"))
        .collect();
    assert_eq!(
        about_polls.len(),
        1,
        "{} polls failed: {warnings:#?}",
        stats.failures
    );
    assert!(about_polls[0].contains("decisions continue on the last state"));
    // Registration failed too: one warning for it, one for the polls, at most one for
    // the metrics.
    assert!(warnings.len() <= 3, "{warnings:#?}");
    for warning in &warnings {
        assert!(
            !warning.contains("flowgate"),
            "the crate's name repeated: {warning}"
        );
    }
}
