//! `Client::explain`: the decision step by step. Its answer is the gate's for every
//! generated call, on the rules file and on Unleash's feature states (dependencies,
//! user ids, addresses, strategy variants), and its steps say what decided.

use flowgate::explain::{Explanation, Step};
use flowgate::unleash::Unleash;
use flowgate::{labels, Client, Labels};
use proptest::prelude::*;

const RULES: &str = r#"
[flags.Checkout]
rollout = 37
stickiness = "userId"
constraints = [
  { label = "region", operator = "IN", values = ["eu", "us"] },
  { label = "appVersion", operator = "SEMVER_GTE", value = "2.1.0" },
]
variants = [
  { name = "blue", weight = 30 },
  { name = "green", weight = 70, overrides = [{ label = "userId", values = ["vip"] }] },
]

[flags.Inverted]
constraints = [{ label = "plan", operator = "IN", values = ["free"], inverted = true }]

[flags.Off]
enabled = false

[flags.Everyone]
enabled = true

[flags.ByTenant]
rollout = 60
stickiness = "tenant"
"#;

const UNLEASH: &str = r#"{"version": 1, "features": [
  {"name": "Parent", "enabled": true, "strategies": [{"name": "flexibleRollout",
    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "Parent"}}],
   "variants": [{"name": "a", "weight": 500, "stickiness": "userId"}, {"name": "b", "weight": 500, "stickiness": "userId"}]},
  {"name": "Child", "enabled": true, "dependencies": [{"feature": "Parent", "variants": ["a"]}],
   "strategies": [{"name": "default"}]},
  {"name": "NotWithParent", "enabled": true, "dependencies": [{"feature": "Parent", "enabled": false}],
   "strategies": [{"name": "default"}]},
  {"name": "Users", "enabled": true, "strategies": [
    {"name": "userWithId", "parameters": {"userIds": "u1,u2,u7"}},
    {"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}},
    {"name": "flexibleRollout", "parameters": {"rollout": "20", "stickiness": "userId", "groupId": "Users"},
     "constraints": [{"contextName": "region", "operator": "NOT_IN", "values": ["ap"]}],
     "variants": [{"name": "x", "weight": 1, "stickiness": "userId"}, {"name": "y", "weight": 3, "stickiness": "userId"}]}
  ]}
]}"#;

fn clients() -> [Client; 2] {
    [
        Client::from_toml_str(RULES).unwrap(),
        Client::new(Unleash::from_json(UNLEASH).unwrap()),
    ]
}

fn call() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    (
        prop::option::of(prop_oneof![
            "[a-z0-9]{1,8}".prop_map(|s| s),
            Just("vip".to_owned()),
            Just("u7".to_owned()),
        ]),
        prop::option::of(prop_oneof![Just("eu"), Just("us"), Just("ap"), Just("EU")]),
        prop::option::of(prop_oneof![
            Just("2.0.9"),
            Just("2.1.0"),
            Just("3.0.0"),
            Just("x")
        ]),
        prop::option::of(prop_oneof![Just("free"), Just("pro")]),
        prop::option::of("[a-z]{1,6}"),
        prop::option::of(prop_oneof![
            Just("10.1.2.3"),
            Just("192.168.0.1"),
            Just("nonsense")
        ]),
    )
        .prop_map(|(user, region, version, plan, tenant, address)| {
            let mut pairs = Vec::new();
            if let Some(user) = user {
                pairs.push(("userId", user));
            }
            for (name, value) in [("region", region), ("appVersion", version), ("plan", plan)] {
                if let Some(value) = value {
                    pairs.push((name, value.to_owned()));
                }
            }
            if let Some(tenant) = tenant {
                pairs.push(("tenant", tenant));
            }
            if let Some(address) = address {
                pairs.push(("remoteAddress", address.to_owned()));
            }
            pairs
        })
}

fn labels_of(pairs: &[(&'static str, String)]) -> Labels<'static> {
    let mut labels = Labels::new();
    for (name, value) in pairs {
        labels.insert(*name, value.clone());
    }
    labels
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// For every flag and generated call (each with a `userId` or none: no random
    /// bucket is involved unless stickiness is `default` with no user, skipped), the
    /// explanation's answer and variant are the gate's.
    #[test]
    fn the_explanation_reaches_the_gates_answer(pairs in call()) {
        let labels = labels_of(&pairs);
        let has_user = pairs.iter().any(|(name, _)| *name == "userId");
        for client in clients() {
            for flag in ["Checkout", "Inverted", "Off", "Everyone", "ByTenant", "Parent", "Child", "NotWithParent", "Users"] {
                let Some(why) = client.explain(flag, &labels) else {
                    continue;
                };
                if !has_user && ["Parent", "Child", "NotWithParent", "Users"].contains(&flag) {
                    continue;
                }
                prop_assert_eq!(why.enabled, client.is_enabled(flag, &labels), "{}\n{:?}", why, pairs);
                let variant = client.variant(flag, &labels);
                if why.enabled && variant.name() != "disabled" {
                    prop_assert_eq!(why.variant.as_deref(), Some(variant.name()), "{}", why);
                }
                prop_assert!(!why.steps.is_empty(), "{flag}: a decision has at least one step");
                prop_assert!(why.to_string().starts_with(flag));
                prop_assert_eq!(why.flag.as_str(), flag);
            }
        }
    }
}

fn explain(client: &Client, flag: &str, labels: &Labels<'_>) -> Explanation {
    client.explain(flag, labels).expect("rules for the flag")
}

#[test]
fn the_steps_say_what_decided() {
    let [file, _] = clients();

    let why = explain(
        &file,
        "Checkout",
        &labels! { "userId" => "42", "region" => "ap" },
    );
    assert!(!why.enabled);
    assert_eq!(
        why.steps,
        vec![
            Step::Strategy {
                number: 1,
                kind: "rollout 37% by userId".into(),
                matched: false
            },
            Step::Constraint {
                label: "region".into(),
                operator: "IN (2 values)".into(),
                value: Some("ap".into()),
                matched: false,
            },
        ],
        "stops at the first constraint that fails, as evaluation does"
    );

    let why = explain(
        &file,
        "Checkout",
        &labels! { "userId" => "vip", "region" => "eu", "appVersion" => "2.1.0" },
    );
    let rollout = why.steps.iter().find_map(|step| match step {
        Step::Rollout {
            value,
            bucket,
            percentage,
            ..
        } => Some((value.clone(), *bucket, *percentage)),
        _ => None,
    });
    let (value, bucket, percentage) = rollout.expect("a rollout step");
    assert_eq!(value.as_deref(), Some("vip"));
    assert_eq!(percentage, 37);
    assert_eq!(why.enabled, bucket.unwrap() <= 37, "{why}");
    if why.enabled {
        assert_eq!(
            why.variant.as_deref(),
            Some("green"),
            "the override chose it"
        );
        assert!(why.steps.contains(&Step::Variant {
            name: "green".into(),
            overridden: true,
            bucket: None,
            total: 100
        }));
    }

    let why = explain(&file, "Off", &Labels::new());
    assert_eq!(why.steps, vec![Step::Disabled]);
    let why = explain(&file, "Everyone", &Labels::new());
    assert!(why.enabled);
    assert_eq!(
        why.steps,
        vec![Step::Strategy {
            number: 1,
            kind: "default".into(),
            matched: true
        }]
    );
    let why = explain(&file, "ByTenant", &Labels::new());
    assert!(!why.enabled);
    assert!(
        why.to_string()
            .contains("rollout by tenant: no `tenant` label, so not in the rollout"),
        "{why}"
    );
    let why = explain(&file, "Inverted", &labels! { "plan" => "free" });
    assert!(
        why.to_string()
            .contains("constraint plan NOT IN (1 value): `free`: no match"),
        "{why}"
    );

    assert!(
        file.explain("Nowhere", &Labels::new()).is_none(),
        "no rules, no explanation"
    );
}

#[test]
fn unleash_states_are_explained_too() {
    let [_, unleash] = clients();
    let why = explain(&unleash, "Users", &labels! { "userId" => "u7" });
    assert!(why.enabled);
    assert_eq!(
        why.steps[0],
        Step::Strategy {
            number: 1,
            kind: "user ids (3)".into(),
            matched: true
        }
    );
    let why = explain(
        &unleash,
        "Users",
        &labels! { "userId" => "zz", "remoteAddress" => "10.9.9.9" },
    );
    assert!(why.enabled);
    assert!(
        why.steps.contains(&Step::Strategy {
            number: 2,
            kind: "remote addresses (1)".into(),
            matched: true
        }),
        "{why}"
    );
    let why = explain(&unleash, "Child", &labels! { "userId" => "someone" });
    assert!(
        matches!(why.steps[0], Step::Dependency { ref parent, held, .. } if parent == "Parent" && held == why.enabled),
        "{why}"
    );
}

/// Ambient labels count, as they do for the gate.
#[tokio::test]
async fn ambient_labels_are_explained_too() {
    let [file, _] = clients();
    let why = flowgate::labels::scope(labels! { "region" => "us" }.into_owned(), async {
        explain(&file, "Checkout", &labels! { "userId" => "1" })
    })
    .await;
    assert!(why.steps.contains(&Step::Constraint {
        label: "region".into(),
        operator: "IN (2 values)".into(),
        value: Some("us".into()),
        matched: true,
    }));
}

#[test]
fn explanations_serialize_with_a_step_tag() {
    let [file, _] = clients();
    let why = explain(&file, "Off", &Labels::new());
    let json = serde_json::to_value(&why).unwrap();
    assert_eq!(json["steps"][0]["step"], "disabled");
    assert_eq!(json["enabled"], false);
}
