//! With no client set, `global()` reads `APERTURE_AGENT_ADDRESS` and `APERTURE_API_KEY`
//! and decides every flow with that agent (the stand-in of
//! `flowgate_tests::aperture_agent`). Its own test binary: the global client is
//! process-wide.

use flowgate::feature_gate;
use flowgate_tests::aperture_agent::{Script, StandInAgent};

#[feature_gate("Payments")]
async fn pay() -> Option<&'static str> {
    Some("paid")
}

#[tokio::test]
async fn global_decides_with_the_agent_the_environment_names() {
    let agent = StandInAgent::start(Some("env-key")).await;
    std::env::set_var("APERTURE_AGENT_ADDRESS", &agent.address);
    std::env::set_var("APERTURE_API_KEY", "env-key");
    std::env::remove_var("UNLEASH_URL");

    assert_eq!(pay().await, Some("paid"));
    agent.script(
        "Payments",
        Script::Reject {
            reason: flowgate::aperture::proto::RejectReason::NotSampled,
            wait: None,
            status: 0,
        },
    );
    assert_eq!(pay().await, None);
    assert_eq!(agent.checks().len(), 2);
    assert_eq!(
        agent.unauthenticated(),
        0,
        "the key from the environment was sent"
    );
    assert_eq!(flowgate::global().source().name(), "aperture");
}
