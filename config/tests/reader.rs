//! The rules reader against many generated files: valid ones read to exactly what they
//! say, and the same files mutated the way a careless editor or a hostile one would never
//! panic, are never read where the `toml` crate refuses them, and when refused are
//! refused with a place (line and column).
//!
//! A seeded random loop of `CASES` cases a run, from a seed printed on failure; set
//! `FLOWGATE_FUZZ_SEED` to replay one, `FLOWGATE_FUZZ_CASES` for more.

#[path = "../../tests/support/fuzz.rs"]
mod fuzz;

use std::fmt::Write as _;

use flowgate_config::{Comparand, Fallback, Operator};

const CASES: usize = 100_000;

/// What a generated flag says, to check the reader against.
#[derive(Debug)]
struct Model {
    name: String,
    fallback: Option<Fallback>,
    enabled: Option<bool>,
    rollout: Option<u32>,
    constraints: Vec<(String, Operator, Vec<String>)>,
    variants: Vec<(String, u32)>,
    rate: Option<(u64, u64)>,
    max: Option<usize>,
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// A string of `rng`'s choosing, as TOML writes it, and its value.
fn string(rng: &mut fastrand::Rng) -> (String, String) {
    const PIECES: [&str; 12] = [
        "a", "Z", "9", "-", "_", " ", ".", "é", "日本", "\"", "\\", "[x]",
    ];
    let value: String = (0..rng.usize(1..8)).map(|_| pick(rng, &PIECES)).collect();
    let quoted = if rng.bool() && !value.contains('\'') && !value.contains('\n') {
        format!("'{value}'")
    } else {
        format!("{value:?}")
    };
    (quoted, value)
}

fn name(rng: &mut fastrand::Rng, index: usize) -> (String, String) {
    if rng.u8(..4) == 0 {
        let (_, value) = string(rng);
        let value = format!("{value}#{index}");
        (format!("{value:?}"), value)
    } else {
        let value = format!("Flag_{index}-{}", rng.u32(..1000));
        (value.clone(), value)
    }
}

fn constraint(rng: &mut fastrand::Rng) -> (String, (String, Operator, Vec<String>)) {
    // A label has a name, and a list has a value: the reader refuses blank labels and
    // empty lists (see `blank_labels_and_empty_lists_are_refused`).
    let (label_toml, label) = loop {
        let candidate = string(rng);
        if !candidate.1.trim().is_empty() {
            break candidate;
        }
    };
    let operator = pick(rng, &Operator::ALL);
    let single = |text: &str| (format!("value = {text:?}"), vec![text.to_owned()]);
    let (written, values) = match operator.name() {
        n if n.starts_with("NUM_") => single(&format!("{}", rng.i32(-1000..1000))),
        n if n.starts_with("DATE_") => single(&format!(
            "2025-0{}-1{}T00:00:00Z",
            rng.u8(1..10),
            rng.u8(0..10)
        )),
        n if n.starts_with("SEMVER_") => {
            single(&format!("{}.{}.{}", rng.u8(..9), rng.u8(..9), rng.u8(..9)))
        }
        "REGEX" => single(pick(rng, &["^a", "b+$", "[0-9]{2,3}", "(x|y)"])),
        "IN_CIDR" => {
            let nets: Vec<String> = (0..rng.usize(1..4))
                .map(|_| format!("10.{}.0.0/16", rng.u8(..)))
                .collect();
            let list: Vec<String> = nets.iter().map(|n| format!("{n:?}")).collect();
            (format!("values = [{}]", list.join(", ")), nets)
        }
        _ => {
            let pairs: Vec<(String, String)> = (0..rng.usize(1..4)).map(|_| string(rng)).collect();
            let list: Vec<&str> = pairs.iter().map(|(q, _)| q.as_str()).collect();
            let values = pairs.iter().map(|(_, v)| v.clone()).collect();
            (format!("values = [{}]", list.join(", ")), values)
        }
    };
    let text = format!(
        "{{ label = {label_toml}, operator = \"{}\", {written}, inverted = {}, case_insensitive = {} }}",
        operator.name(),
        rng.bool(),
        rng.bool()
    );
    (text, (label, operator, values))
}

/// A valid rules file of `rng`'s choosing, and what each flag in it says.
fn valid_file(rng: &mut fastrand::Rng) -> (String, Vec<Model>) {
    let mut text = String::from("# generated\n[flags]\n");
    let mut models = Vec::new();
    for index in 0..rng.usize(..6) {
        let (header, name) = name(rng, index);
        let mut model = Model {
            name,
            fallback: None,
            enabled: None,
            rollout: None,
            constraints: Vec::new(),
            variants: Vec::new(),
            rate: None,
            max: None,
        };
        let _ = writeln!(
            text,
            "\n[flags.{header}]{}",
            if rng.bool() { "  # a comment" } else { "" }
        );
        if rng.bool() {
            let _ = writeln!(text, "description = {}", string(rng).0);
        }
        if rng.bool() {
            let fallback = pick(rng, &[Fallback::Accept, Fallback::Reject]);
            model.fallback = Some(fallback);
            let word = if fallback == Fallback::Accept {
                "accept"
            } else {
                "reject"
            };
            let _ = writeln!(text, "fallback = \"{word}\"");
        }
        if rng.bool() {
            let enabled = rng.bool();
            model.enabled = Some(enabled);
            let _ = writeln!(text, "enabled = {enabled}");
        }
        if rng.bool() {
            let rollout = rng.u32(..=100);
            model.rollout = Some(rollout);
            let _ = writeln!(text, "rollout = {rollout}");
        }
        if rng.bool() {
            let parts: Vec<_> = (0..rng.usize(1..3)).map(|_| constraint(rng)).collect();
            let written: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
            let _ = writeln!(text, "constraints = [\n  {},\n]", written.join(",\n  "));
            model.constraints = parts.into_iter().map(|(_, m)| m).collect();
        }
        if rng.bool() {
            let count = rng.usize(1..4);
            let mut variants = Vec::new();
            for v in 0..count {
                let weight = rng.u32(1..100);
                variants.push(format!(
                    "{{ name = \"v{v}\", weight = {weight}, payload = {} }}",
                    string(rng).0
                ));
                model.variants.push((format!("v{v}"), weight));
            }
            let _ = writeln!(text, "variants = [{}]", variants.join(", "));
        }
        if rng.bool() {
            let (limit, per_ms) = (rng.u64(1..1000), rng.u64(1..60_000));
            model.rate = Some((limit, per_ms));
            let _ = writeln!(
                text,
                "rate_limit = {{ limit = {limit}, per = \"{per_ms}ms\" }}"
            );
        }
        if rng.bool() {
            let max = rng.usize(1..100);
            model.max = Some(max);
            let _ = writeln!(
                text,
                "concurrency = {{ max = {max}, queue = {} }}",
                rng.usize(..10)
            );
        }
        models.push(model);
    }
    (text, models)
}

/// The reader read `models` exactly.
fn assert_reads(text: &str, models: &[Model]) {
    let document = flowgate_config::parse(text, "gen.toml")
        .unwrap_or_else(|error| panic!("a valid file was refused: {error}\n{text}"));
    assert_eq!(document.flags.len(), models.len(), "{text}");
    for model in models {
        let flag = document
            .flag(&model.name)
            .unwrap_or_else(|| panic!("{:?} missing\n{text}", model.name));
        assert_eq!(flag.fallback, model.fallback, "{text}");
        assert!(flag.line >= 1, "{text}");
        let limits = flag
            .limits
            .rate
            .as_ref()
            .map(|r| (r.limit, u64::try_from(r.per.as_millis()).unwrap()));
        assert_eq!(limits, model.rate, "{text}");
        assert_eq!(
            flag.limits.concurrency.as_ref().map(|c| c.max),
            model.max,
            "{text}"
        );
        let Some(rules) = &flag.rules else {
            assert!(
                model.enabled.is_none() && model.rollout.is_none() && model.constraints.is_empty(),
                "{text}"
            );
            continue;
        };
        assert_eq!(rules.enabled, model.enabled.unwrap_or(true), "{text}");
        assert_eq!(rules.rollout, model.rollout.unwrap_or(100), "{text}");
        assert_eq!(rules.constraints.len(), model.constraints.len(), "{text}");
        for (read, (label, operator, values)) in rules.constraints.iter().zip(&model.constraints) {
            assert_eq!((&read.label, read.operator), (label, *operator), "{text}");
            match &read.comparand {
                Comparand::Values(read) => assert_eq!(read, values, "{text}"),
                Comparand::Number(n) => assert_eq!(Some(*n), values[0].parse().ok(), "{text}"),
                Comparand::Pattern(p) => assert_eq!(p, &values[0], "{text}"),
                Comparand::Networks(nets) => assert_eq!(nets.len(), values.len(), "{text}"),
                _ => {}
            }
        }
        let variants: Vec<(String, u32)> = rules
            .variants
            .iter()
            .map(|v| (v.name.clone(), v.weight))
            .collect();
        assert_eq!(variants, model.variants, "{text}");
    }
}

/// One careless or hostile edit of `text`.
fn mutate(rng: &mut fastrand::Rng, text: &mut String) {
    const INSERTS: [&str; 22] = [
        "[",
        "]",
        "{",
        "}",
        "\"",
        "'",
        "=",
        ",",
        ".",
        "\n",
        "#",
        "\\",
        " ",
        "[flags.X]\n",
        "rollout = 140\n",
        "\"\"\"",
        "'''",
        "é",
        "\u{0}",
        "= [[[[[[[[[[[[[[[[[[[[",
        "flags",
        "1e999",
    ];
    if text.is_empty() {
        text.push_str(pick(rng, &INSERTS));
        return;
    }
    match rng.u8(..5) {
        0 => {
            let at = fuzz::char_boundary(rng, text);
            text.insert_str(at, pick(rng, &INSERTS));
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
        3 => {
            let (a, b) = (
                fuzz::char_boundary(rng, text),
                fuzz::char_boundary(rng, text),
            );
            let piece = text[a.min(b)..a.max(b)].to_owned();
            let at = fuzz::char_boundary(rng, text);
            text.insert_str(at, &piece);
        }
        _ => {
            let at = fuzz::char_boundary(rng, text);
            let garbage: String = (0..rng.usize(1..20)).map(|_| rng.char(' '..='~')).collect();
            text.insert_str(at, &garbage);
        }
    }
}

/// A text the reader read or refused: never accepted where `toml` refuses, and a
/// refusal has a place.
fn assert_sound(text: &str) {
    match flowgate_config::parse(text, "gen.toml") {
        Ok(document) => {
            let table: toml::Table = toml::from_str(text)
                .unwrap_or_else(|error| panic!("read what toml refuses ({error}):\n{text:?}"));
            let names: Vec<&str> = match table.get("flags") {
                Some(toml::Value::Table(flags)) => flags.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            };
            let read: Vec<&str> = document.flags.iter().map(|f| f.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(read, sorted, "{text:?}");
        }
        Err(error) => {
            assert!(
                error.line() >= 1 && error.column() >= 1,
                "no place: {error}\n{text:?}"
            );
            assert!(!error.message().is_empty());
        }
    }
}

#[test]
fn generated_files_read_exactly_and_mutated_ones_never_panic_or_slip_through() {
    fuzz::run(CASES, |rng, case| {
        let (mut text, models) = valid_file(rng);
        if case % 4 == 0 {
            assert_reads(&text, &models);
        }
        for _ in 0..rng.usize(1..4) {
            mutate(rng, &mut text);
        }
        assert_sound(&text);
    });
}

/// What a careless editor leaves half-done is an error at its key, not a rule that
/// silently matches nothing (or everything).
#[test]
fn blank_labels_and_empty_lists_are_refused() {
    for (text, key, says) in [
        (
            "[flags.A]\nconstraints = [{ label = \"\", operator = \"IN\", values = [\"x\"] }]\n",
            "label",
            "the name of the label",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"  \", operator = \"IN\", values = [\"x\"] }]\n",
            "label",
            "the name of the label",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"r\", operator = \"IN\", values = [] }]\n",
            "values",
            "no values",
        ),
        (
            "[flags.A]\nconstraints = [{ label = \"r\", operator = \"NOT_IN\", values = [] }]\n",
            "values",
            "no values",
        ),
        (
            "[flags.A]\nrollout = 5\nstickiness = \"\"\n",
            "stickiness",
            "an empty stickiness",
        ),
        (
            "[flags.A]\nconcurrency = { max = 2, max_keys = 10 }\n",
            "max_keys",
            "add `by",
        ),
        (
            "[flags.A]\nrate_limit = { limit = 2, per = \"1s\", max_keys = 10 }\n",
            "max_keys",
            "add `by",
        ),
    ] {
        let error = flowgate_config::parse(text, "f.toml").unwrap_err();
        assert_eq!(error.key(), Some(key), "{text}: {error}");
        assert_eq!(error.flag(), Some("A"), "{text}: {error}");
        assert!(error.line() >= 2, "{text}: {error}");
        assert!(error.message().contains(says), "{text}: {error}");
    }
    assert!(flowgate_config::parse(
        "[flags.A]\nconcurrency = { max = 2, by = \"tenant\", max_keys = 10 }\n",
        "f.toml"
    )
    .is_ok());
}
