//! The OFREP server, checked by a real third-party client: OpenFeature's Python SDK with
//! its OFREP provider (PyPI `openfeature-sdk`, `openfeature-provider-ofrep`, installed
//! by `scripts/install-ofrep-client.sh`) evaluates flags and variants of every type for
//! 1 000 generated contexts, and every answer must be the Rust client's. Then the
//! protocol's edges over plain HTTP: errors, hostile bodies, the bulk endpoint's ETag.
//!
//! Where the Python client is not installed, the comparison is skipped with a message,
//! unless `FLOWGATE_REQUIRE_OFREP_CLIENT=1` (as `.ci/run` sets).

use std::process::Command;

use flowgate::{Client, Engine, Labels};
use serde_json::{json, Value};

const RULES: &str = r#"
[flags.Rollout]
rollout = 30
constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]

[flags.Dark]
enabled = false

[flags.OnlyFallback]
fallback = "accept"

[flags.Checkout]
rollout = 60
variants = [
  { name = "one-page", weight = 1, payload = { type = "string", value = "One page" } },
  { name = "two-step", weight = 1 },
]

[flags.Retries]
variants = [
  { name = "few", weight = 1, payload = { type = "number", value = "2" } },
  { name = "many", weight = 1, payload = { type = "number", value = "7" } },
]

[flags.Ratio]
variants = [{ name = "a", weight = 1, payload = { type = "number", value = "0.25" } }]

[flags.Layout]
constraints = [{ label = "plan", operator = "IN", values = ["pro"] }]
variants = [{ name = "wide", weight = 1, payload = { type = "json", value = '{"columns": 3, "dense": true}' } }]
"#;

/// The Python of `scripts/install-ofrep-client.sh`, if it is there.
fn python() -> Option<std::path::PathBuf> {
    let python = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/tools/ofrep-venv/bin/python"
    ));
    let works = Command::new(&python)
        .args(["-c", "import openfeature.contrib.provider.ofrep"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !works {
        assert!(
            std::env::var("FLOWGATE_REQUIRE_OFREP_CLIENT").as_deref() != Ok("1"),
            "the Python OFREP client is required: run scripts/install-ofrep-client.sh"
        );
        eprintln!("SKIPPED the OFREP client comparison: run scripts/install-ofrep-client.sh");
    }
    works.then_some(python)
}

fn labels_of(context: &Value) -> Labels<'static> {
    let mut labels = Labels::new();
    for (key, value) in context.as_object().unwrap() {
        let name = if key == "targetingKey" { "userId" } else { key };
        labels.insert(name.to_owned(), value.as_str().unwrap().to_owned());
    }
    labels
}

/// What the Rust client answers for `flag` asked as `kind` with `default`.
fn expected(
    client: &Client,
    flag: &str,
    kind: &str,
    default: &Value,
    labels: &Labels<'_>,
) -> Value {
    if kind == "boolean" {
        return client.is_enabled(flag, labels).into();
    }
    let variant = client.variant(flag, labels);
    if !variant.enabled() {
        return default.clone();
    }
    match (kind, variant.payload()) {
        ("string", None) => variant.name().into(),
        ("string", Some(payload)) => (*payload.value).into(),
        ("integer", Some(payload)) => payload.value.parse::<i64>().unwrap().into(),
        ("float", Some(payload)) => payload.value.parse::<f64>().unwrap().into(),
        ("object", Some(payload)) => serde_json::from_str(&payload.value).unwrap(),
        other => panic!("no expectation for {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_openfeature_client_gets_the_rust_answers_for_1000_contexts() {
    let Some(python) = python() else { return };
    let client = Client::from_toml_str(RULES).unwrap();
    let url = flowgate_tests::serve(flowgate::ofrep::router(client.clone())).await;
    let flags = [
        ("Rollout", "boolean", json!(false)),
        ("Dark", "boolean", json!(true)),
        ("Checkout", "string", json!("classic")),
        ("Retries", "integer", json!(1)),
        ("Ratio", "float", json!(1.0)),
        ("Layout", "object", json!({ "columns": 1 })),
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut cases = Vec::new();
    let mut expectations = Vec::new();
    for _ in 0..1_000 {
        let region = ["eu", "us", "apac", "EU"][rng.usize(..4)];
        let mut context = json!({
            "targetingKey": format!("user-{}", rng.u32(..)),
            "region": region,
        });
        if rng.bool() {
            context["plan"] = json!(["pro", "free"][rng.usize(..2)]);
        }
        let labels = labels_of(&context);
        for (flag, kind, default) in &flags {
            expectations.push(expected(&client, flag, kind, default, &labels));
            cases.push(
                json!({ "flag": flag, "type": kind, "default": default, "context": context }),
            );
        }
    }
    let request = json!({ "url": url, "cases": cases }).to_string();
    let answers = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(python);
        command.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/ofrep/evaluate.py"));
        let out = flowgate_tests::run_with_input(&mut command, request.as_bytes());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the Python client failed: {said}");
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(answers.len(), expectations.len());
    let mut seen_values = std::collections::BTreeSet::new();
    for ((answer, expected), case) in answers.iter().zip(&expectations).zip(&cases) {
        assert_eq!(&answer["value"], expected, "{case} answered {answer}");
        assert_eq!(answer["error"], Value::Null, "{case} answered {answer}");
        seen_values.insert(format!("{}={}", case["flag"], answer["value"]));
    }
    // The contexts reach every answer each flag has.
    for value in [
        r#""Rollout"=true"#,
        r#""Rollout"=false"#,
        r#""Dark"=false"#,
        r#""Checkout"="One page""#,
        r#""Checkout"="two-step""#,
        r#""Checkout"="classic""#,
        r#""Retries"=2"#,
        r#""Retries"=7"#,
        r#""Ratio"=0.25"#,
        r#""Layout"={"columns":3,"dense":true}"#,
        r#""Layout"={"columns":1}"#,
    ] {
        assert!(
            seen_values.contains(value),
            "{value} never answered: {seen_values:?}"
        );
    }
}

async fn post(
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let text = reply.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, json, headers)
}

#[tokio::test]
async fn errors_and_hostile_bodies_get_ofrep_answers() {
    let url = flowgate_tests::serve(flowgate::ofrep::router(
        Client::from_toml_str(RULES).unwrap(),
    ))
    .await;
    let one = |flag: &str| format!("{url}/ofrep/v1/evaluate/flags/{flag}");

    let (status, body, _) = post(&one("Nope"), r#"{"context": {}}"#, &[]).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (404, &json!("FLAG_NOT_FOUND"))
    );
    assert_eq!(body["key"], "Nope");

    for (request, code) in [
        ("{not json", "PARSE_ERROR"),
        (r#"{"context": ["a"]}"#, "INVALID_CONTEXT"),
        (
            r#"{"context": {"region": {"nested": 1}}}"#,
            "INVALID_CONTEXT",
        ),
        (r#"{"context": {"tags": ["a", "b"]}}"#, "INVALID_CONTEXT"),
    ] {
        let (status, body, _) = post(&one("Rollout"), request, &[]).await;
        assert_eq!(
            (status, &body["errorCode"]),
            (400, &json!(code)),
            "{request}: {body}"
        );
        assert!(body["errorDetails"].as_str().unwrap().len() > 5);
    }
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, body, _) = post(
        &one("Rollout"),
        &json!({ "context": many }).to_string(),
        &[],
    )
    .await;
    assert_eq!(
        (status, &body["errorCode"]),
        (400, &json!("INVALID_CONTEXT"))
    );
    // Over 64 KiB: refused before it is read.
    let huge = json!({ "context": { "blob": "x".repeat(70_000) } }).to_string();
    let reply = reqwest::Client::new()
        .post(one("Rollout"))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 413);

    // No body, numbers and booleans as labels, null left out.
    let (status, body, _) = post(&one("Dark"), "", &[]).await;
    assert_eq!(
        (status, &body["value"], &body["reason"]),
        (200, &json!(false), &json!("DISABLED"))
    );
    let request = r#"{"context": {"targetingKey": 42, "region": "eu", "beta": true, "x": null}}"#;
    let (status, body, _) = post(&one("Rollout"), request, &[]).await;
    assert_eq!((status, &body["reason"]), (200, &json!("SPLIT")));
    assert!(body["value"].is_boolean());
}

#[tokio::test]
async fn the_bulk_endpoint_answers_every_flag_with_an_etag() {
    let client = Client::from_toml_str(RULES).unwrap();
    let url = format!(
        "{}/ofrep/v1/evaluate/flags",
        flowgate_tests::serve(flowgate::ofrep::router(client)).await
    );
    let context = r#"{"context": {"targetingKey": "user-1", "region": "eu", "plan": "pro"}}"#;
    let (status, body, headers) = post(&url, context, &[]).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|flag| flag["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Checkout",
            "Dark",
            "Layout",
            "OnlyFallback",
            "Ratio",
            "Retries",
            "Rollout"
        ]
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, again) = post(&url, context, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 304);
    assert_eq!(again["etag"], etag.as_str());
    // Weak comparison, and a list of tags.
    let weak = format!("\"other\", W/{etag}");
    let (status, _, _) = post(&url, context, &[("if-none-match", &weak)]).await;
    assert_eq!(status, 304);
    // Another context, other answers: another tag, and no 304.
    let other = r#"{"context": {"targetingKey": "user-2", "region": "apac"}}"#;
    let (status, _, headers) = post(&url, other, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200);
    assert_ne!(headers["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn a_source_without_state_says_provider_not_ready() {
    let url = flowgate_tests::serve(flowgate::ofrep::router(Client::new(Engine::pending()))).await;
    for path in [
        "/ofrep/v1/evaluate/flags/Anything",
        "/ofrep/v1/evaluate/flags",
    ] {
        let (status, body, headers) = post(&format!("{url}{path}"), "{}", &[]).await;
        assert_eq!(
            (status, &body["errorCode"]),
            (503, &json!("PROVIDER_NOT_READY")),
            "{path}"
        );
        assert_eq!(headers["retry-after"], "1");
    }
}
