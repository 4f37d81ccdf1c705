//! With no client set, no `FLOWGATE_CONFIG` and no `./flowgate.toml`, `global()` builds
//! a client with no source on first use: every flag takes its fallback, and one warning
//! says so. (Its own test binary: the global client and the working directory are
//! process-wide.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flowgate::{feature_gate, RejectReason};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[feature_gate("OpenByDefault")]
fn open() -> Option<()> {
    Some(())
}

#[feature_gate("ClosedByDefault")]
async fn closed() -> Option<()> {
    Some(())
}

#[derive(Clone, Default)]
struct WarningCounter(Arc<AtomicUsize>);

impl<S: Subscriber> Layer<S> for WarningCounter {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == Level::WARN
            && event.metadata().target().starts_with("flowgate")
        {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn unset_global_takes_fallbacks_and_warns_once() {
    let empty_dir = std::env::temp_dir().join(format!("flowgate-no-config-{}", std::process::id()));
    std::fs::create_dir_all(&empty_dir).unwrap();
    std::env::set_current_dir(&empty_dir).unwrap();
    std::env::remove_var("FLOWGATE_CONFIG");
    let warnings = WarningCounter::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warnings.clone()))
        .unwrap();

    assert_eq!(open(), Some(()));
    assert_eq!(closed().await, None);
    assert_eq!(open(), Some(()));
    assert_eq!(warnings.0.load(Ordering::SeqCst), 1);

    let metrics = flowgate::global().metrics();
    let open = metrics.flag("OpenByDefault");
    assert_eq!((open.accepted, open.by_fallback, open.ok), (2, 2, 2));
    let closed = metrics.flag("ClosedByDefault");
    assert_eq!(closed.rejected_by_reason.get(RejectReason::NoSource), 1);

    let error =
        flowgate::set_global(flowgate::Client::new(flowgate::source::EmptySource)).unwrap_err();
    assert!(error.to_string().contains("already set"), "{error}");
}
