//! The Unleash client specification (6.1.0), every file and every case, against the
//! engine's Unleash feature state: the same rule model the embedded engine uses.

use std::path::{Path, PathBuf};

use flowgate::{Client, Labels};
use serde_json::Value;

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/unleash-client-specification")
}

/// An Unleash context as labels: the standard fields by their names, and the
/// `properties` flattened.
fn labels_of(context: &Value) -> Labels<'_> {
    let mut labels = Labels::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (key, value) in context.as_object().into_iter().flatten() {
        if key == "properties" {
            for (property, value) in value.as_object().into_iter().flatten() {
                labels.insert(property.clone(), text(value));
            }
        } else if !value.is_null() {
            labels.insert(key.clone(), text(value));
        }
    }
    labels
}

/// Runs one specification file; returns its failures.
fn run(file: &str) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(spec_dir().join(file)).unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let client = match flowgate::unleash::Unleash::from_json(&spec["state"].to_string()) {
        Ok(engine) => Client::new(engine),
        Err(error) => return (1, vec![format!("{file}: state not loaded: {error}")]),
    };
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in spec["tests"].as_array().into_iter().flatten() {
        cases += 1;
        let labels = labels_of(&case["context"]);
        let flag = case["toggleName"].as_str().unwrap();
        let expected = case["expectedResult"].as_bool().unwrap();
        let got = client.is_enabled(flag, &labels);
        if got != expected {
            failures.push(format!(
                "{file}: {:?}: is_enabled({flag}) = {got}, expected {expected} ({labels:?})",
                case["description"].as_str().unwrap_or_default()
            ));
        }
    }
    for case in spec["variantTests"].as_array().into_iter().flatten() {
        cases += 1;
        let labels = labels_of(&case["context"]);
        let flag = case["toggleName"].as_str().unwrap();
        let expected = &case["expectedResult"];
        let variant = client.variant(flag, &labels);
        let mut got = serde_json::json!({
            "name": variant.name(),
            "enabled": variant.enabled(),
        });
        if let Some(payload) = variant.payload() {
            got["payload"] =
                serde_json::json!({ "type": &*payload.kind, "value": &*payload.value });
        }
        if expected.get("feature_enabled").is_some() {
            got["feature_enabled"] = Value::Bool(variant.feature_enabled());
        }
        if expected.get("featureEnabled").is_some() {
            got["featureEnabled"] = Value::Bool(variant.feature_enabled());
        }
        if &got != expected {
            failures.push(format!(
                "{file}: {:?}: variant({flag}) = {got}, expected {expected} ({labels:?})",
                case["description"].as_str().unwrap_or_default()
            ));
        }
    }
    (cases, failures)
}

#[test]
fn every_case_of_the_unleash_client_specification_passes() {
    let index: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(spec_dir().join("index.json")).unwrap())
            .unwrap();
    assert_eq!(index.len(), 22, "specification 6.1.0 lists 22 files");
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &index {
        let (cases, mut failed) = run(file);
        total += cases;
        failures.append(&mut failed);
    }
    assert_eq!(total, 279, "specification 6.1.0 has 279 cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
