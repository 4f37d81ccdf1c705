//! The embedded engine: rules in `flowgate.toml`, evaluated exactly as Unleash would,
//! with clear errors for bad rules.

use flowgate::engine::Engine;
use flowgate::{feature_gate, labels, Client, ConfigError, Labels};

fn client(rules: &str) -> Client {
    Client::from_toml_str(rules).unwrap_or_else(|e| panic!("{e}"))
}

fn error(rules: &str) -> ConfigError {
    Client::from_toml_str(rules).expect_err("the rules are invalid")
}

#[test]
fn master_switch_and_flags_without_rules() {
    let client = client(
        r#"
        [flags.On]
        enabled = true
        [flags.Off]
        enabled = false
        rollout = 100
        [flags.DeclaredOnly]
        description = "no rules: its fallback decides"
        fallback = "accept"
        "#,
    );
    let nobody = Labels::new();
    assert!(client.is_enabled("On", &nobody));
    assert!(!client.is_enabled("Off", &nobody));
    assert!(
        client.is_enabled("DeclaredOnly", &nobody),
        "fallback accept"
    );
    assert!(!client.is_enabled("Undeclared", &nobody), "fallback reject");
}

/// Vectors computed with murmurhash3js, the hash of the Unleash client specification:
/// `murmurHash3.x86.hash32("AwesomeFeature:" + userId) % 100 + 1 <= 25`.
#[test]
fn rollout_buckets_users_exactly_as_unleash() {
    let client = client("[flags.AwesomeFeature]\nrollout = 25\n");
    let admitted: Vec<u32> = (1..=40)
        .filter(|user| client.is_enabled("AwesomeFeature", &labels! { "userId" => user }))
        .collect();
    assert_eq!(admitted, [2, 11, 12, 33, 34]);
    // Sticky: the same user gets the same answer every time.
    for _ in 0..100 {
        assert!(client.is_enabled("AwesomeFeature", &labels! { "userId" => 11 }));
        assert!(!client.is_enabled("AwesomeFeature", &labels! { "userId" => 1 }));
    }
}

#[test]
fn rollout_equals_unleash_flexible_rollout_for_the_same_rule() {
    let embedded = client(
        r#"
        [flags.Checkout]
        rollout = 37
        stickiness = "sessionId"
        constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
        "#,
    );
    let unleash = Client::new(
        flowgate::unleash::Unleash::from_json(
            r#"{"version": 1, "features": [{"name": "Checkout", "enabled": true, "strategies": [{
                "name": "flexibleRollout",
                "parameters": {"rollout": "37", "stickiness": "sessionId", "groupId": "Checkout"},
                "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu", "us"]}]
            }]}]}"#,
        )
        .unwrap(),
    );
    let mut admitted = 0;
    for i in 0..1_000 {
        let region = ["eu", "us", "apac"][i % 3];
        let labels = labels! { "sessionId" => format!("s-{i}"), "region" => region };
        let decision = embedded.is_enabled("Checkout", &labels);
        assert_eq!(
            decision,
            unleash.is_enabled("Checkout", &labels),
            "{labels:?}"
        );
        admitted += usize::from(decision);
    }
    assert!(
        (150..350).contains(&admitted),
        "about 37% of 2/3: {admitted}"
    );
}

#[test]
fn stickiness_falls_back_from_user_to_session_and_custom_labels_are_required() {
    let client = client(
        r#"
        [flags.Default]
        rollout = 50
        [flags.ByTenant]
        rollout = 100
        stickiness = "tenant"
        "#,
    );
    // Default stickiness uses userId, then sessionId: the same value decides the same.
    for id in 0..200 {
        assert_eq!(
            client.is_enabled("Default", &labels! { "userId" => id }),
            client.is_enabled("Default", &labels! { "sessionId" => id }),
        );
    }
    assert!(client.is_enabled("ByTenant", &labels! { "tenant" => "acme" }));
    assert!(
        !client.is_enabled("ByTenant", &labels! { "userId" => 1 }),
        "no tenant label"
    );
}

/// Vectors computed with murmurhash3js: `hash32("AwesomeFeature:" + userId, 86028157)
/// % 100 + 1`, blue when at most 50.
#[test]
fn variants_are_assigned_exactly_as_unleash() {
    let client = client(
        r##"
        [flags.AwesomeFeature]
        enabled = true
        variants = [
          { name = "blue", weight = 50, payload = "#0000ff" },
          { name = "green", weight = 50, payload = { type = "json", value = '{"hex": "#00ff00"}' } },
        ]
        "##,
    );
    let names: Vec<String> = (1..=20)
        .map(|user| {
            client
                .variant("AwesomeFeature", &labels! { "userId" => user })
                .name()
                .to_string()
        })
        .collect();
    let expected = [
        "blue", "green", "blue", "blue", "blue", "blue", "green", "blue", "blue", "blue", "green",
        "green", "green", "blue", "green", "green", "blue", "blue", "green", "green",
    ];
    assert_eq!(names, expected);

    let blue = client.variant("AwesomeFeature", &labels! { "userId" => 1 });
    assert!(blue.enabled() && blue.feature_enabled());
    let payload = blue.payload().unwrap();
    assert_eq!((&*payload.kind, &*payload.value), ("string", "#0000ff"));
    let green = client.variant("AwesomeFeature", &labels! { "userId" => 2 });
    assert_eq!(&*green.payload().unwrap().kind, "json");
}

#[test]
fn variant_of_a_disabled_or_variantless_flag_is_disabled() {
    let client = client(
        r#"
        [flags.Off]
        enabled = false
        variants = [{ name = "a" }]
        [flags.Plain]
        enabled = true
        [flags.Overridden]
        variants = [
          { name = "a", weight = 100 },
          { name = "b", weight = 0, overrides = [{ label = "userId", values = ["vip"] }] },
        ]
        "#,
    );
    let off = client.variant("Off", &Labels::new());
    assert_eq!(
        (off.name(), off.enabled(), off.feature_enabled()),
        ("disabled", false, false)
    );
    let plain = client.variant("Plain", &Labels::new());
    assert_eq!(
        (plain.name(), plain.enabled(), plain.feature_enabled()),
        ("disabled", false, true)
    );
    assert_eq!(
        client
            .variant("Overridden", &labels! { "userId" => "vip" })
            .name(),
        "b"
    );
    assert_eq!(
        client
            .variant("Overridden", &labels! { "userId" => "x" })
            .name(),
        "a"
    );
}

/// One flag per constraint, checked against labels; each row is (rule, labels, expected).
fn check_constraint(constraint: &str, cases: &[(Labels<'_>, bool)]) {
    let rules = format!("[flags.F]\nconstraints = [{constraint}]\n");
    let client = client(&rules);
    for (labels, expected) in cases {
        assert_eq!(
            client.is_enabled("F", labels),
            *expected,
            "{constraint} with {labels:?}"
        );
    }
}

#[test]
fn in_and_not_in() {
    check_constraint(
        r#"{ label = "region", operator = "IN", values = ["eu", "us"] }"#,
        &[
            (labels! { "region" => "eu" }, true),
            (labels! { "region" => "EU" }, false),
            (labels! { "region" => "apac" }, false),
            (labels! {}, false),
        ],
    );
    check_constraint(
        r#"{ label = "region", operator = "NOT_IN", values = ["eu"] }"#,
        &[
            (labels! { "region" => "us" }, true),
            (labels! { "region" => "eu" }, false),
            (labels! {}, true),
        ],
    );
    // An empty list is a half-written rule: refused, not read as "matches nothing".
    let error = Client::from_toml_str(
        "[flags.F]\nconstraints = [{ label = \"region\", operator = \"IN\", values = [] }]\n",
    )
    .unwrap_err();
    assert_eq!(error.key(), Some("values"), "{error}");
    check_constraint(
        r#"{ label = "region", operator = "IN", values = ["eu"], inverted = true }"#,
        &[(labels! { "region" => "eu" }, false), (labels! {}, true)],
    );
    // userId matches either spelling of the label.
    check_constraint(
        r#"{ label = "userId", operator = "IN", values = ["7"] }"#,
        &[
            (labels! { "user_id" => 7 }, true),
            (labels! { "userId" => 7 }, true),
        ],
    );
}

#[test]
fn string_operators_with_case_and_inversion() {
    check_constraint(
        r#"{ label = "email", operator = "STR_ENDS_WITH", values = ["@example.com"] }"#,
        &[
            (labels! { "email" => "ana@example.com" }, true),
            (labels! { "email" => "ana@EXAMPLE.com" }, false),
            (labels! {}, false),
        ],
    );
    check_constraint(
        r#"{ label = "email", operator = "STR_ENDS_WITH", values = ["@example.com"], case_insensitive = true }"#,
        &[(labels! { "email" => "ANA@EXAMPLE.COM" }, true)],
    );
    check_constraint(
        r#"{ label = "path", operator = "STR_STARTS_WITH", values = ["/api", "/v2"], inverted = true }"#,
        &[
            (labels! { "path" => "/api/x" }, false),
            (labels! { "path" => "/home" }, true),
        ],
    );
    check_constraint(
        r#"{ label = "agent", operator = "STR_CONTAINS", values = ["Bot"], case_insensitive = true }"#,
        &[
            (labels! { "agent" => "googlebot/2.1" }, true),
            (labels! { "agent" => "Firefox" }, false),
        ],
    );
}

#[test]
fn numbers_given_as_numbers_or_strings() {
    check_constraint(
        r#"{ label = "age", operator = "NUM_GTE", value = 18 }"#,
        &[
            (labels! { "age" => 18 }, true),
            (labels! { "age" => "18.0" }, true),
            (labels! { "age" => 17.5 }, false),
            (labels! { "age" => "adult" }, false),
            (labels! {}, false),
        ],
    );
    check_constraint(
        r#"{ label = "age", operator = "NUM_EQ", value = "42" }"#,
        &[
            (labels! { "age" => 42 }, true),
            (labels! { "age" => 43 }, false),
        ],
    );
    check_constraint(
        r#"{ label = "cart", operator = "NUM_LT", value = 1.5 }"#,
        &[
            (labels! { "cart" => 1 }, true),
            (labels! { "cart" => 1.5 }, false),
        ],
    );
}

#[test]
fn dates_with_zones() {
    let rule = r#"{ label = "currentTime", operator = "DATE_AFTER", value = "2025-06-01T12:00:00+02:00" }"#;
    check_constraint(
        rule,
        &[
            (labels! { "currentTime" => "2025-06-01T10:00:01Z" }, true),
            (labels! { "currentTime" => "2025-06-01T10:00:00Z" }, false),
            (
                labels! { "currentTime" => "2025-06-01T11:00:00+02:00" },
                false,
            ),
            (labels! { "currentTime" => "not a date" }, false),
            // No currentTime label: now, which is after 2025.
            (labels! {}, true),
        ],
    );
    check_constraint(
        r#"{ label = "currentTime", operator = "DATE_BEFORE", value = "2030-01-01" }"#,
        &[(labels! { "currentTime" => "2029-12-31T23:59:59Z" }, true)],
    );
}

#[test]
fn semantic_versions_with_pre_releases() {
    check_constraint(
        r#"{ label = "appVersion", operator = "SEMVER_GT", value = "2.1.0" }"#,
        &[
            (labels! { "appVersion" => "2.1.1" }, true),
            (labels! { "appVersion" => "2.1.0" }, false),
            (labels! { "appVersion" => "2.1.1-beta.1" }, true),
            (labels! { "appVersion" => "2.1.0-rc.1" }, false),
            (labels! { "appVersion" => "2.1" }, false),
            (labels! {}, false),
        ],
    );
    check_constraint(
        r#"{ label = "appVersion", operator = "SEMVER_EQ", value = "1.0.0-alpha" }"#,
        &[
            (labels! { "appVersion" => "1.0.0-alpha" }, true),
            (labels! { "appVersion" => "1.0.0" }, false),
        ],
    );
    check_constraint(
        r#"{ label = "appVersion", operator = "SEMVER_LTE", value = "3.0.0" }"#,
        &[
            (labels! { "appVersion" => "3.0.0" }, true),
            (labels! { "appVersion" => "3.0.1" }, false),
        ],
    );
}

#[test]
fn regex_and_networks() {
    check_constraint(
        r#"{ label = "email", operator = "REGEX", value = "^[a-z]+@corp\\.example$", case_insensitive = true }"#,
        &[
            (labels! { "email" => "Ana@CORP.example" }, true),
            (labels! { "email" => "ana@corp.example.org" }, false),
        ],
    );
    check_constraint(
        r#"{ label = "remoteAddress", operator = "IN_CIDR", values = ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"] }"#,
        &[
            (labels! { "remoteAddress" => "10.20.30.40" }, true),
            (labels! { "remote_address" => "2001:db8::1" }, true),
            (labels! { "remoteAddress" => "192.168.1.7" }, true),
            (labels! { "remoteAddress" => "192.168.1.8" }, false),
            (labels! { "remoteAddress" => "not an ip" }, false),
        ],
    );
}

#[test]
fn all_constraints_must_hold() {
    check_constraint(
        r#"{ label = "region", operator = "IN", values = ["eu"] },
           { label = "plan", operator = "IN", values = ["pro"] }"#,
        &[
            (labels! { "region" => "eu", "plan" => "pro" }, true),
            (labels! { "region" => "eu", "plan" => "free" }, false),
        ],
    );
}

#[test]
fn errors_name_the_line_column_flag_and_key() {
    let cases = [
        (
            "[flags.A]\nenabled = true\n\n[flags.B]\nrolout = 5\n",
            "<string>:5:1: flag `B`, key `rolout`: unknown field `rolout`",
        ),
        (
            "[flags.A]\nrollout = 140\n",
            "<string>:2:11: flag `A`, key `rollout`: a rollout is a percentage from 0 to 100, got 140",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"v\", operator = \"SEMVER_GTT\", value = \"1.0.0\" }]\n",
            "<string>:2:42: flag `A`, key `operator`: unknown operator \"SEMVER_GTT\"",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"v\", operator = \"SEMVER_GT\", value = \"1.0\" }]\n",
            "<string>:2:63: flag `A`, key `value`: \"1.0\" is not a semantic version",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"e\", operator = \"REGEX\", value = \"(\" }]\n",
            "<string>:2:59: flag `A`, key `value`: \"(\" is not a valid regular expression",
        ),
        (
            "[flags.A]\nenabled = true\n[flags.A]\n",
            "<string>:3:8: flag `A`: declared more than once",
        ),
        (
            "[flags.A]\nfallback = \"maybe\"\n",
            "<string>:2:12: flag `A`, key `fallback`: expected \"accept\" or \"reject\"",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"n\", operator = \"NUM_GT\", values = [\"1\"] }]\n",
            "flag `A`, key `value`: NUM_GT compares against one `value = ...`",
        ),
        (
            "[flags.A]\nvariants = [{ name = \"a\", weight = -1 }]\n",
            "flag `A`, key `weight`: a weight is a whole number",
        ),
    ];
    for (rules, expected) in cases {
        let message = error(rules).to_string();
        assert!(
            message.contains(expected),
            "for {rules:?}\n  got:      {message}\n  expected: {expected}"
        );
    }
    let error = error("[flags.A]\nrollout = 140\n");
    assert_eq!((error.line(), error.column()), (2, 11));
    assert_eq!((error.flag(), error.key()), (Some("A"), Some("rollout")));
}

#[test]
fn unknown_operator_error_lists_the_valid_ones() {
    let message =
        error("[flags.A]\nconstraints = [{ label = \"x\", operator = \"EQUALS\", values = [] }]\n")
            .to_string();
    for operator in [
        "IN",
        "NOT_IN",
        "STR_CONTAINS",
        "NUM_LTE",
        "DATE_AFTER",
        "SEMVER_LT",
        "REGEX",
    ] {
        assert!(message.contains(operator), "{message}");
    }
}

#[test]
fn a_bad_replacement_keeps_the_rules_in_force() {
    let engine = Engine::from_toml_str("[flags.A]\nenabled = true\n").unwrap();
    let client = Client::new(engine.clone());
    assert!(engine
        .replace_from_toml_str("[flags.A]\nrollout = 140\n")
        .is_err());
    assert!(client.is_enabled("A", &Labels::new()));
    let state = engine.reload_state();
    assert_eq!((state.attempts, state.applied), (2, 1));
    assert!(state.last_error.unwrap().contains("rollout"));
    engine
        .replace_from_toml_str("[flags.A]\nenabled = false\n")
        .unwrap();
    assert!(!client.is_enabled("A", &Labels::new()));
    assert_eq!(engine.reload_state().last_error, None);
}

#[test]
fn gates_is_enabled_and_variant_share_one_evaluation() {
    let client = client(
        r#"
        [flags.AwesomeFeature]
        rollout = 50
        variants = [{ name = "a" }, { name = "b" }]
        "#,
    );
    for user in 0..200 {
        let labels = labels! { "userId" => user };
        let flow = client.start_flow_blocking("AwesomeFeature", &labels, std::time::Duration::ZERO);
        let enabled = client.is_enabled("AwesomeFeature", &labels);
        assert_eq!(flow.should_run(), enabled);
        assert_eq!(client.variant("AwesomeFeature", &labels).enabled(), enabled);
        flow.end();
    }
}

#[feature_gate("Checkout", client = flags, on_reject = || false)]
fn checkout_gate(flags: &Client) -> bool {
    true
}

/// A gate remembers the answer of an always-on or off flag in its call site, for one
/// snapshot of one engine: every reload, and every other engine, must be asked again.
#[test]
fn a_remembered_answer_lasts_one_snapshot_of_one_engine() {
    let engine = Engine::from_toml_str("[flags.Checkout]\nenabled = true\n").unwrap();
    let flags = Client::new(engine.clone());
    let other = client("[flags.Checkout]\nenabled = false\n");
    for _ in 0..3 {
        assert!(checkout_gate(&flags));
        assert!(checkout_gate(&flags), "the remembered answer");
        assert!(
            !checkout_gate(&other),
            "another engine at the same call site"
        );
        assert!(!checkout_gate(&other));
    }
    engine
        .replace_from_toml_str("[flags.Checkout]\nenabled = false\n")
        .unwrap();
    assert!(!checkout_gate(&flags), "a reload is seen at once");
    assert!(!checkout_gate(&flags));
    engine
        .replace_from_toml_str("[flags.Checkout]\nrollout = 0\n")
        .unwrap();
    assert!(!checkout_gate(&flags), "a rollout is not a constant");
    engine
        .replace_from_toml_str("[flags.Checkout]\nrollout = 100\n")
        .unwrap();
    assert!(checkout_gate(&flags));
    assert!(checkout_gate(&flags));
    let counts = flags.metrics().flag("Checkout");
    assert_eq!(
        (counts.accepted, counts.rejected),
        (8, 3),
        "every call counted"
    );
}

/// Rules files mixing the plain shape with every other form: the engine reads most
/// plain files with a reader of its own and the rest with the `toml` crate, and in
/// debug builds (tests) it reads every file the plain reader accepts with `toml` too and
/// panics if the two disagree, spans included, or if `toml` rejects it.
mod plain_and_full_readers_agree {
    use proptest::prelude::*;

    const LINES: &[&str] = &[
        "enabled = true",
        "enabled = false",
        "rollout = 0",
        "rollout = 50",
        "rollout = -3",
        "rollout = +100",
        "rollout = 140",
        "rollout = 5_0",
        "rollout = 05",
        "rollout = 5.0",
        "stickiness = \"userId\"",
        "stickiness = 'sessionId'",
        "fallback = \"accept\"",
        "description = \"Plain, with é and a # inside\"",
        "description = \"tab\\tescaped\"",
        "description = \"\"\"multi\"\"\"",
        "constraints = [{ label = \"region\", operator = \"IN\", values = [\"eu\", \"us\"] }]",
        "constraints = [\n  { label = \"n\", operator = \"NUM_GT\", value = 5 }, # five\n]",
        "constraints = [{ label = \"n\", operator = \"NUM_GT\", value = 5.5 }]",
        "variants = [{ name = \"a\" }, { name = \"b\", weight = 3, payload = \"x\" }]",
        "variants = [{ name = \"a\", payload = { type = \"json\", value = '{}' } }]",
        "rate_limit = { limit = 5, per = \"1s\" }",
        "rate_limit = { limit = 5, per = \"1s\", }",
        "rate_limit = { limit = 5 }",
        "concurrency = { max = 2, queue = 1, by = \"tenant\" }",
        "concurrency = {\n max = 2 }",
        "concurrency.max = 2",
        "rolout = 5",
        "# a comment",
        "",
        "   rollout = 7   # indented",
    ];

    fn header(kind: u8, i: usize) -> String {
        match kind % 8 {
            0 => format!("[ flags . \"quoted {i}\" ]"),
            1 => format!("[flags.F{i}.sub]"),
            2 => "[[flags.A.variants]]".to_owned(),
            _ => format!("[flags.F{i}]"),
        }
    }

    proptest! {
        #[test]
        fn on_any_file(
            flags in proptest::collection::vec(
                (any::<u8>(), proptest::collection::vec(0..LINES.len(), 0..6)),
                0..5,
            ),
            crlf in any::<bool>(),
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            for (i, (kind, lines)) in flags.iter().enumerate() {
                text.push_str(&header(*kind, i));
                text.push_str(newline);
                for line in lines {
                    text.push_str(&LINES[*line].replace('\n', newline));
                    text.push_str(newline);
                }
            }
            // Panics (and fails) if the readers disagree; a mistake is an `Err`.
            let _ = flowgate::engine::Engine::from_toml_str(&text);
        }
    }
}
