//! `Client::inspect`: every flag the client knows, with its rules as loaded, its
//! fallback, its limits and their live counts, and the source's state; serializable.
//! Real files and real threads; the generated files check that what is listed is what
//! the file says, flag by flag.

use std::fmt::Write as _;
use std::time::Duration;

use flowgate::inspect::Inspection;
use flowgate::{labels, Client, Engine, Fallback, Labels};
use proptest::prelude::*;

const RULES: &str = r#"
[flags.Checkout]
rollout = 25
stickiness = "tenant"
constraints = [
  { label = "region", operator = "IN", values = ["eu", "us"] },
  { label = "plan", operator = "NOT_IN", values = ["free"] },
]
variants = [{ name = "one-page", weight = 1 }, { name = "two-step", weight = 3 }]
fallback = "accept"
rate_limit = { limit = 100, per = "1s", burst = 20 }
concurrency = { max = 1, queue = 1, by = "tenant", max_keys = 50 }

[flags.Dark]
enabled = false

[flags.Everyone]
enabled = true
"#;

#[test]
fn every_flag_is_listed_with_its_rules_fallback_and_limits() {
    let client = Client::builder()
        .toml(RULES)
        .fallback("OnlyInCode", Fallback::Reject)
        .build()
        .unwrap();
    // A flag the file does not have, used by name: it joins the list when used.
    assert!(!client.is_enabled("Unknown", &Labels::new()));
    client
        .start_flow_blocking("Unknown", &Labels::new(), Duration::ZERO)
        .end();

    let inspection = client.inspect();
    let names: Vec<&str> = inspection.flags.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["Checkout", "Dark", "Everyone", "OnlyInCode", "Unknown"]
    );
    assert_eq!(inspection.flags_left_out, 0);
    assert!(inspection.source.ready);
    assert_eq!(inspection.source.name, "flowgate.engine");
    assert_eq!(inspection.source.serving, "live");
    assert_eq!(inspection.source.updates.applied, 1);
    assert!(inspection.source.updates.last_success.is_some());

    let checkout = inspection.flag("Checkout").unwrap();
    let rules = checkout.rules.as_ref().unwrap();
    assert!(rules.enabled);
    assert_eq!(rules.constant, None, "a rollout depends on the call");
    assert_eq!(rules.strategies.len(), 1);
    assert_eq!(rules.strategies[0].kind, "rollout 25% by tenant");
    assert_eq!(
        rules.strategies[0].constraints,
        ["region IN (2 values)", "plan NOT_IN (1 value)"]
    );
    let variants: Vec<(&str, u32)> = rules
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.weight))
        .collect();
    assert_eq!(variants, [("one-page", 1), ("two-step", 3)]);
    assert_eq!(checkout.fallback, Some(Fallback::Accept));
    let limits = checkout.limits.as_ref().unwrap();
    let rate = limits.rate.as_ref().unwrap();
    assert_eq!(
        (rate.limit, rate.per, rate.burst),
        (100, Duration::from_secs(1), 20)
    );
    assert_eq!(rate.by, None);
    let concurrency = limits.concurrency.as_ref().unwrap();
    assert_eq!((concurrency.max, concurrency.queue), (1, 1));
    assert_eq!(concurrency.by.as_deref(), Some("tenant"));
    assert_eq!(concurrency.max_keys, Some(50));

    let dark = inspection.flag("Dark").unwrap().rules.as_ref().unwrap();
    assert_eq!((dark.enabled, dark.constant), (false, Some(false)));
    let everyone = inspection.flag("Everyone").unwrap().rules.as_ref().unwrap();
    assert_eq!(everyone.constant, Some(true));

    let only_in_code = inspection.flag("OnlyInCode").unwrap();
    assert!(only_in_code.rules.is_none());
    assert_eq!(only_in_code.fallback, Some(Fallback::Reject));
    let unknown = inspection.flag("Unknown").unwrap();
    assert!(unknown.rules.is_none() && unknown.fallback.is_none());
    assert_eq!(unknown.flows.rejected, 1);
    assert!(inspection.flag("Nothing").is_none());
}

#[test]
fn live_counts_follow_flows_held_queued_and_ended() {
    let client = Client::from_toml_str(
        "[flags.Slow]\nenabled = true\nconcurrency = { max = 1, queue = 4 }\n",
    )
    .unwrap();
    let occupancy = |client: &Client| {
        let inspection = client.inspect();
        let concurrency = inspection.flag("Slow").unwrap().limits.clone().unwrap();
        let concurrency = concurrency.concurrency.unwrap();
        (concurrency.in_flight, concurrency.queued)
    };
    assert_eq!(occupancy(&client), (0, 0));
    let held = client.start_flow_blocking("Slow", &Labels::new(), Duration::ZERO);
    assert!(held.should_run());
    assert_eq!(occupancy(&client), (1, 0));

    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || {
            let flow = client.start_flow_blocking("Slow", &Labels::new(), Duration::from_secs(60));
            assert!(flow.should_run(), "{:?}", flow.rejection());
            flow.end();
        })
    };
    // The waiter's arrival in the queue is what inspection must show.
    while occupancy(&client).1 == 0 {
        std::thread::yield_now();
    }
    assert_eq!(occupancy(&client), (1, 1));
    held.end();
    waiter.join().unwrap();
    assert_eq!(occupancy(&client), (0, 0));
    let flows = client.inspect().flag("Slow").unwrap().flows;
    assert_eq!((flows.accepted, flows.ok, flows.in_flight), (2, 2, 0));
}

#[test]
fn keyed_limits_list_the_label_values_holding_slots() {
    let client = Client::from_toml_str(
        "[flags.PerTenant]\nenabled = true\nconcurrency = { max = 2, by = \"tenant\" }\n",
    )
    .unwrap();
    let a = client.start_flow_blocking("PerTenant", &labels! { "tenant" => "a" }, Duration::ZERO);
    let b = client.start_flow_blocking("PerTenant", &labels! { "tenant" => "b" }, Duration::ZERO);
    let b2 = client.start_flow_blocking("PerTenant", &labels! { "tenant" => "b" }, Duration::ZERO);
    let inspection = client.inspect();
    let concurrency = inspection
        .flag("PerTenant")
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    let concurrency = concurrency.concurrency.as_ref().unwrap();
    assert_eq!(concurrency.in_flight, 3);
    let keys: Vec<(&str, u64)> = concurrency
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.in_flight))
        .collect();
    assert_eq!(keys, [("a", 1), ("b", 2)]);
    drop((a, b, b2));
    let inspection = client.inspect();
    let limits = inspection
        .flag("PerTenant")
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert!(limits.concurrency.as_ref().unwrap().keys.is_empty());
}

#[test]
fn a_bad_reload_keeps_the_rules_and_reports_where_it_failed() {
    let engine = Engine::from_toml_str("[flags.Checkout]\nrollout = 10\n").unwrap();
    let client = Client::new(engine.clone());
    let error = engine
        .replace_from_toml_str("[flags.Checkout]\nrollout = 250\n")
        .unwrap_err();
    let inspection = client.inspect();
    let updates = &inspection.source.updates;
    assert_eq!(
        (updates.attempts, updates.applied, updates.failed),
        (2, 1, 1)
    );
    let reported = updates.last_error.as_deref().unwrap();
    assert_eq!(reported, error.to_string());
    assert!(reported.contains("2:"), "names the line: {reported}");
    let rules = inspection.flag("Checkout").unwrap().rules.as_ref().unwrap();
    assert_eq!(
        rules.strategies[0].kind, "rollout 10% by default",
        "the last good rules"
    );

    engine
        .replace_from_toml_str("[flags.Checkout]\nrollout = 30\n")
        .unwrap();
    let inspection = client.inspect();
    assert_eq!(inspection.source.updates.last_error, None);
    let rules = inspection.flag("Checkout").unwrap().rules.as_ref().unwrap();
    assert_eq!(rules.strategies[0].kind, "rollout 30% by default");
}

#[test]
fn a_pending_source_is_not_ready_and_serves_the_fallback() {
    let client = Client::new(Engine::pending());
    let inspection = client.inspect();
    assert!(!inspection.source.ready);
    assert_eq!(inspection.source.serving, "fallback");
    assert!(inspection.flags.is_empty());
}

#[test]
fn inspection_serializes_to_json_a_health_endpoint_can_serve() {
    let client = Client::from_toml_str(RULES).unwrap();
    let json = serde_json::to_value(client.inspect()).unwrap();
    assert_eq!(json["source"]["name"], "flowgate.engine");
    assert_eq!(json["source"]["ready"], true);
    assert_eq!(json["source"]["applied"], 1);
    // RFC 3339, readable by people and by `Date.parse`.
    let when = json["source"]["last_success"].as_str().unwrap();
    assert!(when.parse::<jiff::Timestamp>().is_ok(), "{when}");
    let checkout = &json["flags"][0];
    assert_eq!(checkout["name"], "Checkout");
    assert_eq!(checkout["fallback"], "accept");
    assert_eq!(checkout["limits"]["rate"]["per"], 1000);
    assert_eq!(
        checkout["rules"]["strategies"][0]["kind"],
        "rollout 25% by tenant"
    );
    assert_eq!(checkout["flows"]["accepted"], 0);
}

/// A generated flag of a rules file, and what inspecting it must show.
#[derive(Debug, Clone)]
struct Generated {
    name: String,
    enabled: bool,
    rollout: Option<u32>,
    constraints: Vec<Vec<String>>,
    variants: Vec<u32>,
    fallback: Option<bool>,
    concurrency: Option<usize>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        "[A-Za-z][A-Za-z0-9_.-]{0,12}",
        any::<bool>(),
        proptest::option::of(0_u32..=100),
        proptest::collection::vec(
            proptest::collection::vec("[a-z0-9 \"\\\\]{0,6}", 1..4),
            0..3,
        ),
        proptest::collection::vec(1_u32..1000, 0..4),
        proptest::option::of(any::<bool>()),
        proptest::option::of(1_usize..10),
    )
        .prop_map(
            |(name, enabled, rollout, constraints, variants, fallback, concurrency)| Generated {
                name,
                enabled,
                rollout,
                constraints,
                variants,
                fallback,
                concurrency,
            },
        )
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn file_of(flags: &[Generated]) -> String {
    let mut text = String::new();
    for flag in flags {
        let _ = writeln!(
            text,
            "[flags.{}]\nenabled = {}",
            toml_string(&flag.name),
            flag.enabled
        );
        if let Some(rollout) = flag.rollout {
            let _ = writeln!(text, "rollout = {rollout}");
        }
        if !flag.constraints.is_empty() {
            text += "constraints = [\n";
            for (at, values) in flag.constraints.iter().enumerate() {
                let values: Vec<String> = values.iter().map(|v| toml_string(v)).collect();
                let _ = writeln!(
                    text,
                    "  {{ label = \"l{at}\", operator = \"IN\", values = [{}] }},",
                    values.join(", ")
                );
            }
            text += "]\n";
        }
        if !flag.variants.is_empty() {
            let variants: Vec<String> = flag
                .variants
                .iter()
                .enumerate()
                .map(|(at, weight)| format!("{{ name = \"v{at}\", weight = {weight} }}"))
                .collect();
            let _ = writeln!(text, "variants = [{}]", variants.join(", "));
        }
        if let Some(accept) = flag.fallback {
            let fallback = if accept { "accept" } else { "reject" };
            let _ = writeln!(text, "fallback = \"{fallback}\"");
        }
        if let Some(max) = flag.concurrency {
            let _ = writeln!(text, "concurrency = {{ max = {max} }}");
        }
    }
    text
}

fn check(inspection: &Inspection, flag: &Generated) -> Result<(), TestCaseError> {
    let state = inspection.flag(&flag.name);
    prop_assert!(state.is_some(), "{} is listed", flag.name);
    let state = state.unwrap();
    let rules = state.rules.as_ref().unwrap();
    prop_assert_eq!(rules.enabled, flag.enabled);
    let constraints: usize = rules.strategies.iter().map(|s| s.constraints.len()).sum();
    prop_assert_eq!(constraints, flag.constraints.len());
    for at in 0..flag.constraints.len() {
        let described = &rules.strategies[0].constraints[at];
        prop_assert!(
            described.starts_with(&format!("l{at} IN (")),
            "{}",
            described
        );
    }
    match flag.rollout {
        // Everyone in: the same as no rollout.
        Some(100) | None if !rules.strategies.is_empty() => {
            prop_assert_eq!(&rules.strategies[0].kind, "default");
        }
        Some(rollout) => {
            prop_assert_eq!(
                &rules.strategies[0].kind,
                &format!("rollout {rollout}% by default")
            );
        }
        None => {}
    }
    let weights: Vec<u32> = rules.variants.iter().map(|v| v.weight).collect();
    prop_assert_eq!(&weights, &flag.variants);
    let fallback = flag.fallback.map(|accept| {
        if accept {
            Fallback::Accept
        } else {
            Fallback::Reject
        }
    });
    prop_assert_eq!(state.fallback, fallback);
    let max = state
        .limits
        .as_ref()
        .and_then(|l| l.concurrency.as_ref())
        .map(|c| c.max);
    prop_assert_eq!(max, flag.concurrency);
    if !flag.enabled {
        prop_assert_eq!(rules.constant, Some(false));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the file holds, inspection lists exactly its flags, sorted, each with
    /// the rules, fallback and limits the file gives it; and serializes.
    #[test]
    fn inspection_lists_exactly_what_the_file_says(
        flags in proptest::collection::vec(generated(), 0..12)
    ) {
        let mut flags = flags;
        flags.sort_by(|a, b| a.name.cmp(&b.name));
        flags.dedup_by(|a, b| a.name == b.name);
        let client = Client::from_toml_str(&file_of(&flags)).unwrap();
        let inspection = client.inspect();
        let names: Vec<&str> = inspection.flags.iter().map(|f| f.name.as_str()).collect();
        let expected: Vec<&str> = flags.iter().map(|f| f.name.as_str()).collect();
        prop_assert_eq!(names, expected);
        for flag in &flags {
            check(&inspection, flag)?;
        }
        prop_assert!(serde_json::to_string(&inspection).is_ok());
    }
}
