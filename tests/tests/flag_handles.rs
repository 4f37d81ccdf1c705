//! Typed flag handles (`flowgate::flags!()`), generated from this crate's
//! `flowgate.toml`: they answer exactly as the names do, follow every change of the
//! rules (their call site remembers answers, as a gate's does), and work in every
//! manual API.

#![deny(warnings, clippy::pedantic)]

use std::time::Duration;

use flowgate::engine::Engine;
use flowgate::testing::InMemorySource;
use flowgate::{labels, Client, Labels};

flowgate::flags!();

mod scoped {
    flowgate::flags!(pub(crate) mod handles);
}

#[test]
fn every_declared_flag_has_a_handle_named_after_it() {
    assert_eq!(flags::Checkout::NAME, "Checkout");
    assert_eq!(flags::OpenByDefault.to_string(), "OpenByDefault");
    let all = flags::all();
    for declared in [
        "Checkout",
        "ClosedByDefault",
        "Limited",
        "OpenByDefault",
        "Search",
    ] {
        assert!(all.contains(&declared), "{declared} in {all:?}");
    }
    assert!(
        all.windows(2).all(|pair| pair[0] < pair[1]),
        "sorted: {all:?}"
    );
    assert_eq!(flags::DeleteSurveyFlag::NAME, "delete_survey_flag");
    assert_eq!(scoped::handles::Search::NAME, "Search");
}

#[test]
fn a_handle_follows_the_source_as_it_changes() {
    let source = InMemorySource::new();
    let client = source.clone().into_client();
    for round in 0..50 {
        let on = round % 3 != 0;
        source.set("Checkout", on);
        assert_eq!(
            client.is_enabled(flags::Checkout, &Labels::new()),
            on,
            "round {round}"
        );
        assert_eq!(client.is_enabled("Checkout", &Labels::new()), on);
    }
}

/// Generated rules: each round writes a new rules text (rollouts, constraints, on and
/// off), and for many users the handle's answer is the name's.
#[test]
fn a_handle_answers_as_the_name_does_across_reloads() {
    let engine = Engine::from_toml_str("[flags.Checkout]\nenabled = false\n").unwrap();
    let client = Client::new(engine.clone());
    let mut seed = 0x9e37_79b9_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for round in 0..40 {
        let rules = match next() % 4 {
            0 => "[flags.Checkout]\nenabled = true\n".to_owned(),
            1 => "[flags.Checkout]\nenabled = false\n".to_owned(),
            2 => format!(
                "[flags.Checkout]\nrollout = {}\nstickiness = \"userId\"\n",
                next() % 101
            ),
            _ => "[flags.Checkout]\nconstraints = [{ label = \"region\", operator = \"IN\", \
                  values = [\"eu\"] }]\n"
                .to_owned(),
        };
        engine.replace_from_toml_str(&rules).unwrap();
        for user in 0..50 {
            let region = if next() % 2 == 0 { "eu" } else { "us" };
            let labels = labels! { "userId" => user, "region" => region };
            assert_eq!(
                client.is_enabled(flags::Checkout, &labels),
                client.is_enabled("Checkout", &labels),
                "round {round}, rules {rules:?}, user {user}, region {region}"
            );
        }
    }
}

/// One handle asked of two clients in turn: each answers from its own source.
#[test]
fn one_handle_serves_many_clients() {
    let on = InMemorySource::new().enable("Search").into_client();
    let off = InMemorySource::new().disable("Search").into_client();
    for _ in 0..10 {
        assert!(on.is_enabled(flags::Search, &Labels::new()));
        assert!(!off.is_enabled(flags::Search, &Labels::new()));
    }
}

#[tokio::test]
async fn handles_work_in_every_manual_call() {
    let client = InMemorySource::new().enable("Checkout").into_client();
    let flow = client
        .start_flow(flags::Checkout, &Labels::new(), Duration::ZERO)
        .await;
    assert!(flow.should_run());
    flow.end();
    let blocking = client.start_flow_blocking(flags::Checkout, &Labels::new(), Duration::ZERO);
    assert!(blocking.should_run());
    blocking.end();
    assert!(client
        .variant(flags::Checkout, &Labels::new())
        .feature_enabled());
    // Names known only at run time still work.
    let dynamic = String::from("Checkout");
    assert!(client.is_enabled(dynamic.as_str(), &Labels::new()));
    assert!(client.is_enabled(dynamic, &Labels::new()));
    assert_eq!(client.metrics().flag("Checkout").accepted, 2);
}
