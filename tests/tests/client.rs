//! Building clients the ways the docs show, and what each brings along: an engine its
//! file's fallbacks and limits, a limits file over any source, fallbacks set in code,
//! sources boxed or shared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowgate::engine::Engine;
use flowgate::source::{DecisionSource, EmptySource, Evaluation};
use flowgate::testing::InMemorySource;
use flowgate::{labels, Client, Fallback, Labels, RejectReason};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flowgate-client-{name}-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A flow of `flag` that takes what is free now and waits for nothing.
fn start(client: &Client, flag: &str) -> flowgate::Flow {
    client.start_flow_blocking(flag, &Labels::new(), Duration::ZERO)
}

#[test]
fn an_engine_brings_its_files_fallbacks_and_limits_to_every_client_built_on_it() {
    let engine = Engine::from_toml_str(
        "[flags.Limited]\nconcurrency = { max = 1 }\n[flags.Open]\nfallback = \"accept\"\n",
    )
    .unwrap();
    let first = Client::new(engine.clone());
    let second = Client::new(engine);
    let held = start(&first, "Limited");
    assert!(held.should_run());
    let refused = start(&second, "Limited");
    assert_eq!(
        refused.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::ConcurrencyLimited),
        "the limits are the file's: one slot, whichever client asks"
    );
    assert!(
        second.is_enabled("Open", &Labels::new()),
        "declared only: its fallback"
    );
    drop((held, refused));
}

#[test]
fn a_custom_source_has_no_limits_until_a_limits_file_gives_it_some() {
    let dir = scratch("limits-file");
    let rules = dir.join("flowgate.toml");
    std::fs::write(
        &rules,
        "[flags.Search]\nfallback = \"accept\"\nconcurrency = { max = 1 }\n",
    )
    .unwrap();
    let source = InMemorySource::new().enable("Checkout");

    let unlimited = Client::new(source.clone());
    let flows: Vec<_> = (0..5).map(|_| start(&unlimited, "Checkout")).collect();
    assert!(flows.iter().all(flowgate::Flow::should_run));
    drop(flows);

    let limited = Client::builder()
        .source(source.clone())
        .limits_file(&rules)
        .watch(false)
        .build()
        .unwrap();
    assert!(
        limited.is_enabled("Search", &Labels::new()),
        "the file's fallback applies to a flag the source does not know"
    );
    let (held, refused) = (start(&limited, "Search"), start(&limited, "Search"));
    assert!(held.should_run() && held.by_fallback());
    assert_eq!(
        refused.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::ConcurrencyLimited)
    );
    drop((held, refused));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_watched_limits_file_applies_its_edits() {
    let dir = scratch("limits-watch");
    let rules = dir.join("flowgate.toml");
    std::fs::write(&rules, "[flags.Checkout]\nconcurrency = { max = 1 }\n").unwrap();
    let client = Client::builder()
        .source(InMemorySource::new().enable("Checkout"))
        .limits_file(&rules)
        .build()
        .unwrap();
    let held = start(&client, "Checkout");
    assert!(held.should_run());
    assert!(!start(&client, "Checkout").should_run());

    std::fs::write(&rules, "[flags.Checkout]\nconcurrency = { max = 2 }\n").unwrap();
    // The edit is seen when a second flow fits beside the first.
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let second = start(&client, "Checkout");
        if second.should_run() {
            break;
        }
        assert!(Instant::now() < give_up, "the edit was never applied");
        drop(second);
        std::thread::yield_now();
    }
    drop(held);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_limits_file_with_a_mistake_is_an_error_at_build() {
    let dir = scratch("limits-bad");
    let rules = dir.join("flowgate.toml");
    std::fs::write(&rules, "[flags.A]\nconcurrency = { max = 0 }\n").unwrap();
    let error = Client::builder()
        .source(EmptySource)
        .limits_file(&rules)
        .build()
        .unwrap_err();
    assert_eq!(
        (error.line(), error.flag(), error.key()),
        (2, Some("A"), Some("max"))
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fallbacks_set_in_code_win_over_the_files() {
    let client = Client::builder()
        .toml("[flags.A]\nfallback = \"reject\"\n[flags.B]\nfallback = \"reject\"\n")
        .fallback("A", Fallback::Accept)
        .build()
        .unwrap();
    assert!(client.is_enabled("A", &Labels::new()));
    assert!(!client.is_enabled("B", &Labels::new()));
    let flow = client.start_flow_blocking("A", &Labels::new(), Duration::ZERO);
    assert!(flow.should_run() && flow.by_fallback());
    flow.end();
}

/// A source of our own, counting its calls.
#[derive(Debug, Default)]
struct Counting(std::sync::atomic::AtomicUsize);

impl DecisionSource for Counting {
    fn evaluate(&self, flag: &str, _labels: &Labels<'_>) -> Evaluation {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Evaluation::from(flag == "On")
    }

    fn name(&self) -> &'static str {
        "counting"
    }
}

#[flowgate::feature_gate("Search", client = flags, on_reject = || false)]
fn gated(flags: &Client) -> bool {
    true
}

#[test]
fn boxed_and_shared_sources_decide_as_the_source_in_them() {
    let shared = Arc::new(Counting::default());
    let boxed: Box<dyn DecisionSource> = Box::new(InMemorySource::new().enable("Search"));
    let by_arc = Client::new(Arc::clone(&shared));
    let by_box = Client::new(boxed);
    assert!(by_arc.is_enabled("On", &labels! {}));
    assert!(!by_arc.is_enabled("Off", &labels! {}));
    assert!(!gated(&by_arc));
    assert_eq!(shared.0.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(by_arc.source().name(), "counting");
    assert!(gated(&by_box));
    assert_eq!(by_box.source().name(), "flowgate.in_memory");
}

#[test]
fn a_client_with_no_source_takes_every_fallback() {
    let client = Client::builder().build().unwrap();
    assert!(client.is_ready());
    let flow = start(&client, "Anything");
    assert_eq!(
        flow.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::NoSource)
    );
    assert!(flow.by_fallback());
}
