//! With no client set, `global()` reads the rules file named by `FLOWGATE_CONFIG` and
//! keeps watching it. (Its own test binary: the global client is process-wide.)

use std::time::Duration;

use flowgate::feature_gate;

#[feature_gate("Checkout")]
fn checkout() -> Option<&'static str> {
    Some("checked out")
}

#[test]
fn global_reads_and_watches_flowgate_config() {
    let dir = std::env::temp_dir().join(format!("flowgate-global-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.toml");
    std::fs::write(&file, "[flags.Checkout]\nenabled = true\n").unwrap();
    std::env::set_var("FLOWGATE_CONFIG", &file);

    assert_eq!(checkout(), Some("checked out"));

    let client = flowgate::global();
    let engine = format!("{:?}", client.source());
    assert!(engine.contains("rules.toml"), "watching the file: {engine}");
    assert!(client.source().readiness().unwrap().is_ready());

    // Flip the flag in the file; the attribute-gated function follows. (The global
    // client's engine is behind `dyn DecisionSource`, so this polls the gate itself,
    // with a watchdog, rather than waiting on the engine's reload signal.)
    let before = client.metrics().flag("Checkout");
    std::fs::write(&file, "[flags.Checkout]\nenabled = false\n").unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while checkout().is_some() {
        assert!(
            std::time::Instant::now() < give_up,
            "the edit was never picked up"
        );
        std::thread::yield_now();
    }
    let after = client.metrics().flag("Checkout");
    assert!(after.rejected > before.rejected);
    std::fs::remove_dir_all(dir).unwrap();
}
