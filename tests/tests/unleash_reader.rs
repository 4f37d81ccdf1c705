//! The Unleash feature state reader against many generated documents: valid ones are
//! read and evaluate without panicking whatever the labels, and the same documents
//! mutated (cut, spliced, garbled, nested deep) never panic, are never read where JSON
//! itself refuses them, and when refused are refused with a place.
//!
//! A seeded random loop of `CASES` cases a run, from a seed printed on failure; set
//! `FLOWGATE_FUZZ_SEED` to replay one, `FLOWGATE_FUZZ_CASES` for more.

#[path = "../support/fuzz.rs"]
mod fuzz;

use flowgate::unleash::Unleash;
use flowgate::{labels, Client};
use serde_json::{json, Value};

const CASES: usize = 100_000;

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn text(rng: &mut fastrand::Rng) -> String {
    const PIECES: [&str; 10] = ["a", "7", "-", "é", " ", ".", ":", "\"", "\\", "日"];
    (0..rng.usize(..6)).map(|_| *pick(rng, &PIECES)).collect()
}

fn constraint(rng: &mut fastrand::Rng) -> Value {
    const OPERATORS: [&str; 21] = [
        "IN",
        "NOT_IN",
        "STR_CONTAINS",
        "STR_STARTS_WITH",
        "STR_ENDS_WITH",
        "NUM_EQ",
        "NUM_GT",
        "NUM_GTE",
        "NUM_LT",
        "NUM_LTE",
        "DATE_AFTER",
        "DATE_BEFORE",
        "SEMVER_EQ",
        "SEMVER_GT",
        "SEMVER_GTE",
        "SEMVER_LT",
        "SEMVER_LTE",
        "REGEX",
        "IN_CIDR",
        "UNKNOWN_OP",
        "",
    ];
    let value: Value = match rng.u8(..6) {
        0 => json!(rng.i64(..)),
        1 => json!(rng.f64() * 1e300),
        2 => json!("2025-01-01T00:00:00Z"),
        3 => json!("1.2.3-beta"),
        4 => json!("(unclosed"),
        _ => json!(text(rng)),
    };
    json!({
        "contextName": pick(rng, &["userId", "region", "currentTime", "remoteAddress", "appVersion"]),
        "operator": pick(rng, &OPERATORS),
        "values": (0..rng.usize(..4)).map(|_| json!(text(rng))).collect::<Vec<_>>(),
        "value": value,
        "inverted": rng.bool(),
        "caseInsensitive": rng.bool(),
    })
}

fn strategy(rng: &mut fastrand::Rng) -> Value {
    const NAMES: [&str; 9] = [
        "default",
        "flexibleRollout",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "userWithId",
        "remoteAddress",
        "applicationHostname",
        "custom",
    ];
    json!({
        "name": pick(rng, &NAMES),
        "parameters": {
            "rollout": pick(rng, &[json!("50"), json!(100), json!(-5), json!("1e9"), json!(null)]),
            "percentage": "25",
            "stickiness": pick(rng, &["default", "random", "userId", "tenant", ""]),
            "groupId": text(rng),
            "userIds": "1, 2, ,3",
            "IPs": "10.0.0.0/8, nonsense, ::1",
            "hostNames": "localhost",
        },
        "constraints": (0..rng.usize(..3)).map(|_| constraint(rng)).collect::<Vec<_>>(),
        "segments": (0..rng.usize(..2)).map(|_| json!(rng.u64(..4))).collect::<Vec<_>>(),
        "variants": (0..rng.usize(..3)).map(|i| json!({
            "name": format!("s{i}"), "weight": rng.u32(..), "stickiness": "default",
        })).collect::<Vec<_>>(),
    })
}

/// A valid feature state and the names of its features.
fn valid_state(rng: &mut fastrand::Rng) -> (String, Vec<String>) {
    let count = rng.usize(..5);
    let names: Vec<String> = (0..count).map(|i| format!("f{i}-{}", text(rng))).collect();
    let features: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "enabled": rng.bool(),
                "strategies": (0..rng.usize(..3)).map(|_| strategy(rng)).collect::<Vec<_>>(),
                "variants": (0..rng.usize(..3)).map(|i| json!({
                    "name": format!("v{i}"),
                    "weight": pick(rng, &[json!(500), json!(u32::MAX), json!(-1), json!("x")]),
                    "payload": { "type": "string", "value": text(rng) },
                    "overrides": [{ "contextName": "userId", "values": ["1"] }],
                })).collect::<Vec<_>>(),
                "dependencies": if rng.bool() { json!([{ "feature": "f0", "enabled": rng.bool(), "variants": ["v0"] }]) } else { json!(null) },
            })
        })
        .collect();
    let segments: Vec<Value> = (0..rng.usize(..3))
        .map(|id| json!({ "id": id, "constraints": [constraint(rng)] }))
        .collect();
    let state = json!({ "version": 2, "features": features, "segments": segments });
    (state.to_string(), names)
}

fn mutate(rng: &mut fastrand::Rng, text: &mut String) {
    const INSERTS: [&str; 14] = [
        "{", "}", "[", "]", "\"", ",", ":", "null", "\\", "1e999", "\"features\":", "\u{0}", "é",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ];
    match rng.u8(..4) {
        0 => {
            let at = fuzz::char_boundary(rng, text);
            let insert = *pick(rng, &INSERTS);
            text.insert_str(at, insert);
        }
        1 => {
            let (a, b) = (
                fuzz::char_boundary(rng, text),
                fuzz::char_boundary(rng, text),
            );
            text.replace_range(a.min(b)..a.max(b), "");
        }
        2 => {
            let at = fuzz::char_boundary(rng, text);
            text.truncate(at);
        }
        _ => {
            let at = fuzz::char_boundary(rng, text);
            let garbage: String = (0..rng.usize(1..10)).map(|_| rng.char(' '..='~')).collect();
            text.insert_str(at, &garbage);
        }
    }
}

/// Reads `document`: never accepted where JSON refuses it, refused with a place, and,
/// once read, evaluated without a panic for every flag and a few label sets.
fn check(document: &str, names: Option<&[String]>) {
    match Unleash::from_json(document) {
        Ok(unleash) => {
            serde_json::from_str::<serde::de::IgnoredAny>(document)
                .unwrap_or_else(|error| panic!("read what JSON refuses ({error}): {document:?}"));
            let flags = unleash.flags();
            if let Some(names) = names {
                let mut expected = names.to_vec();
                expected.sort();
                expected.dedup();
                assert_eq!(flags, expected, "{document:?}");
            }
            let client = Client::new(unleash);
            for flag in &flags {
                for labels in [
                    labels! {},
                    labels! { "userId" => 1, "region" => "a", "currentTime" => "2030-01-01" },
                    labels! { "remoteAddress" => "10.1.2.3", "appVersion" => "1.2.3" },
                ] {
                    let _ = client.is_enabled(flag, &labels);
                    let _ = client.variant(flag, &labels);
                }
            }
        }
        Err(error) => {
            assert!(
                error.line() >= 1 && error.column() >= 1,
                "no place: {error}\n{document:?}"
            );
            if let Some(names) = names {
                panic!("a valid state was refused: {error}\n{document} ({names:?})");
            }
        }
    }
}

#[test]
fn generated_states_read_and_mutated_ones_never_panic_or_slip_through() {
    fuzz::run(CASES, |rng, case| {
        let (mut document, names) = valid_state(rng);
        if case % 8 == 0 {
            check(&document, Some(&names));
        }
        for _ in 0..rng.usize(1..4) {
            mutate(rng, &mut document);
        }
        check(&document, None);
    });
}

/// A million levels, read on a thread with a 256 KiB stack, in a value flowgate reads or
/// in one it skips: an error with its place, never an overflow.
#[test]
fn deep_nesting_never_overflows_a_small_stack() {
    let on_small_stack = |document: String| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Unleash::from_json(&document).map(|u| u.flags()))
            .unwrap()
            .join()
            .unwrap()
    };
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let (deep_open, deep_close) = (open.repeat(1_000_000), close.repeat(1_000_000));
        let read = format!(
            "{{\"features\": [{{\"name\": \"f\", \"strategies\": [{{\"name\": \"default\", \
             \"parameters\": {{\"rollout\": {deep_open}1{deep_close}}}}}]}}]}}"
        );
        let error = on_small_stack(read).unwrap_err();
        assert_eq!(error.line(), 1, "{error}");
        assert!(
            error.to_string().contains("nested more than 32 levels"),
            "{error}"
        );
        let skipped = format!("{{\"features\": [], \"x\": {deep_open}1{deep_close}}}");
        let error = on_small_stack(skipped).unwrap_err();
        assert!(
            error.to_string().contains("nested more than 32 levels"),
            "{error}"
        );
    }
}
