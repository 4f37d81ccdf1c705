//! One shape for a flag's rules, read from either side: a `flowgate.toml` flag
//! (`flowgate_config`) or an Unleash feature's environment (its Admin API JSON), so
//! that `diff` compares like with like, `push` writes what the file says and `pull`
//! writes what the server says.
//!
//! The file's rules are one strategy (a rollout with constraints and variants) and a
//! master switch; an Unleash environment may hold any number of strategies of several
//! kinds. What the file cannot say (two strategies, `userWithId`, segments, feature
//! variants and strategy variants both) is an error naming what was found, never a
//! silent approximation. Variant weights are kept as shares of 1000, as Unleash keeps
//! them.

use serde::Serialize;
use serde_json::{json, Value};

/// A flag's rules, as both sides can hold them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Rule {
    pub(crate) enabled: bool,
    pub(crate) rollout: u32,
    pub(crate) stickiness: String,
    pub(crate) constraints: Vec<Condition>,
    pub(crate) variants: Vec<Split>,
}

/// A constraint: values as strings, as Unleash keeps them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Condition {
    pub(crate) label: String,
    pub(crate) operator: String,
    pub(crate) values: Vec<String>,
    pub(crate) value: Option<String>,
    pub(crate) inverted: bool,
    pub(crate) case_insensitive: bool,
}

/// A variant, its weight in thousandths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Split {
    pub(crate) name: String,
    pub(crate) weight: u32,
    pub(crate) payload: Option<(String, String)>,
    pub(crate) stickiness: String,
}

/// The rules of a file's flag; `None` for a flag that is only declared.
pub(crate) fn from_file(flag: &flowgate_config::Flag) -> Result<Option<Rule>, String> {
    let Some(rules) = &flag.rules else {
        return Ok(None);
    };
    let total: u64 = rules.variants.iter().map(|v| u64::from(v.weight)).sum();
    let mut variants = Vec::new();
    let mut given = 0_u32;
    for (at, variant) in rules.variants.iter().enumerate() {
        if !variant.overrides.is_empty() {
            return Err(format!(
                "flag `{}`: variant `{}` has overrides, which flowgate cannot send to Unleash yet",
                flag.name, variant.name
            ));
        }
        // Shares of 1000, the last taking what rounding left.
        let weight = if at + 1 == rules.variants.len() {
            1000 - given
        } else {
            u32::try_from(u64::from(variant.weight) * 1000 / total.max(1)).unwrap_or(1000)
        };
        given += weight;
        variants.push(Split {
            name: variant.name.clone(),
            weight,
            payload: variant
                .payload
                .as_ref()
                .map(|p| (p.kind.clone(), p.value.clone())),
            stickiness: variant
                .stickiness
                .clone()
                .unwrap_or_else(|| rules.stickiness.clone()),
        });
    }
    Ok(Some(Rule {
        enabled: rules.enabled,
        rollout: rules.rollout,
        stickiness: rules.stickiness.clone(),
        constraints: rules.constraints.iter().map(condition_of_file).collect(),
        variants,
    }))
}

fn condition_of_file(constraint: &flowgate_config::Constraint) -> Condition {
    use flowgate_config::Comparand;
    let (values, value) = match &constraint.comparand {
        Comparand::Values(values) => (values.clone(), None),
        Comparand::Number(n) => (Vec::new(), Some(n.to_string())),
        Comparand::Timestamp(t) => (Vec::new(), Some(t.to_string())),
        Comparand::Version(v) => (Vec::new(), Some(v.to_string())),
        Comparand::Pattern(p) => (Vec::new(), Some(p.clone())),
        Comparand::Networks(networks) => (networks.iter().map(ToString::to_string).collect(), None),
        _ => (Vec::new(), None),
    };
    Condition {
        label: constraint.label.clone(),
        operator: constraint.operator.name().to_owned(),
        values,
        value,
        inverted: constraint.inverted,
        case_insensitive: constraint.case_insensitive,
    }
}

/// The strategy `push` sends for `rule` of flag `name`: one `flexibleRollout`.
pub(crate) fn strategy(name: &str, rule: &Rule) -> Value {
    let constraints: Vec<Value> = rule
        .constraints
        .iter()
        .map(|c| {
            let mut constraint = json!({
                "contextName": c.label,
                "operator": c.operator,
                "inverted": c.inverted,
                "caseInsensitive": c.case_insensitive,
                "values": c.values,
            });
            if let Some(value) = &c.value {
                constraint["value"] = json!(value);
            }
            constraint
        })
        .collect();
    let variants: Vec<Value> = rule
        .variants
        .iter()
        .enumerate()
        .map(|(at, v)| {
            // Unleash wants one `variable` variant, given what the `fix` ones leave:
            // the last, whose share is already the rest of 1000.
            let kind = if at + 1 == rule.variants.len() {
                "variable"
            } else {
                "fix"
            };
            let mut variant = json!({
                "name": v.name,
                "weight": v.weight,
                "weightType": kind,
                "stickiness": v.stickiness,
            });
            if let Some((kind, value)) = &v.payload {
                variant["payload"] = json!({ "type": kind, "value": value });
            }
            variant
        })
        .collect();
    json!({
        "name": "flexibleRollout",
        "parameters": {
            "rollout": rule.rollout.to_string(),
            "stickiness": rule.stickiness,
            "groupId": name,
        },
        "constraints": constraints,
        "variants": variants,
        "segments": [],
    })
}

/// The rules of an Unleash feature's environment (`{ enabled, strategies }` of the
/// Admin API), or why the file cannot hold them.
pub(crate) fn from_unleash(name: &str, environment: &Value) -> Result<Rule, String> {
    let enabled = environment["enabled"].as_bool().unwrap_or(false);
    let strategies = environment["strategies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let active: Vec<&Value> = strategies
        .iter()
        .filter(|s| !s["disabled"].as_bool().unwrap_or(false))
        .collect();
    let strategy = match active.as_slice() {
        [] => {
            return Ok(Rule {
                enabled,
                rollout: 100,
                stickiness: "default".to_owned(),
                constraints: Vec::new(),
                variants: Vec::new(),
            })
        }
        [one] => *one,
        more => {
            return Err(format!(
                "{name}: {} strategies, where a flowgate.toml flag has one",
                more.len()
            ))
        }
    };
    if strategy["segments"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(format!("{name}: its strategy uses segments"));
    }
    let kind = strategy["name"].as_str().unwrap_or("");
    let parameters = &strategy["parameters"];
    let (rollout, stickiness) = match kind {
        "default" => (100, "default".to_owned()),
        "flexibleRollout" => {
            let rollout = parameters["rollout"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .or_else(|| {
                    parameters["rollout"]
                        .as_u64()
                        .and_then(|r| u32::try_from(r).ok())
                })
                .filter(|r| *r <= 100)
                .ok_or_else(|| format!("{name}: a rollout that is not a percentage"))?;
            let group = parameters["groupId"].as_str().unwrap_or(name);
            if group != name {
                return Err(format!(
                    "{name}: its rollout hashes in group `{group}`; a flowgate.toml flag hashes in its own name"
                ));
            }
            let stickiness = parameters["stickiness"].as_str().unwrap_or("default");
            (rollout, stickiness.to_owned())
        }
        other => {
            return Err(format!(
                "{name}: a `{other}` strategy, which flowgate.toml cannot hold"
            ))
        }
    };
    let constraints = strategy["constraints"]
        .as_array()
        .map(|list| list.iter().map(condition_of_unleash).collect())
        .unwrap_or_default();
    let variants = strategy["variants"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| Split {
                    name: v["name"].as_str().unwrap_or("").to_owned(),
                    weight: v["weight"]
                        .as_u64()
                        .and_then(|w| u32::try_from(w).ok())
                        .unwrap_or(0),
                    payload: v["payload"]["type"].as_str().map(|kind| {
                        (
                            kind.to_owned(),
                            v["payload"]["value"].as_str().unwrap_or("").to_owned(),
                        )
                    }),
                    stickiness: v["stickiness"].as_str().unwrap_or("default").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Rule {
        enabled,
        rollout,
        stickiness,
        constraints,
        variants,
    })
}

fn condition_of_unleash(constraint: &Value) -> Condition {
    let values = constraint["values"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Condition {
        label: constraint["contextName"].as_str().unwrap_or("").to_owned(),
        operator: constraint["operator"].as_str().unwrap_or("").to_owned(),
        values,
        value: constraint["value"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        inverted: constraint["inverted"].as_bool().unwrap_or(false),
        case_insensitive: constraint["caseInsensitive"].as_bool().unwrap_or(false),
    }
}

/// The fields in which `a` and `b` differ, named as the file names them.
pub(crate) fn differences(a: &Rule, b: &Rule) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if a.enabled != b.enabled {
        fields.push("enabled");
    }
    if a.rollout != b.rollout {
        fields.push("rollout");
    }
    if a.stickiness != b.stickiness {
        fields.push("stickiness");
    }
    if a.constraints != b.constraints {
        fields.push("constraints");
    }
    if a.variants != b.variants {
        fields.push("variants");
    }
    fields
}

/// `rule` as the body of a `[flags.NAME]` table.
pub(crate) fn toml_body(rule: &Rule) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if !rule.enabled {
        out.push_str("enabled = false\n");
    }
    let _ = writeln!(out, "rollout = {}", rule.rollout);
    if rule.stickiness != "default" {
        let _ = writeln!(out, "stickiness = {}", quoted(&rule.stickiness));
    }
    if !rule.constraints.is_empty() {
        out.push_str("constraints = [\n");
        for c in &rule.constraints {
            let _ = write!(
                out,
                "  {{ label = {}, operator = {}",
                quoted(&c.label),
                quoted(&c.operator)
            );
            match &c.value {
                Some(value) if c.operator.starts_with("NUM_") && value.parse::<f64>().is_ok() => {
                    let _ = write!(out, ", value = {value}");
                }
                Some(value) => {
                    let _ = write!(out, ", value = {}", quoted(value));
                }
                None => {
                    let values: Vec<String> = c.values.iter().map(|v| quoted(v)).collect();
                    let _ = write!(out, ", values = [{}]", values.join(", "));
                }
            }
            if c.inverted {
                out.push_str(", inverted = true");
            }
            if c.case_insensitive {
                out.push_str(", case_insensitive = true");
            }
            out.push_str(" },\n");
        }
        out.push_str("]\n");
    }
    if !rule.variants.is_empty() {
        out.push_str("variants = [\n");
        for v in &rule.variants {
            let _ = write!(
                out,
                "  {{ name = {}, weight = {}",
                quoted(&v.name),
                v.weight
            );
            if v.stickiness != rule.stickiness {
                let _ = write!(out, ", stickiness = {}", quoted(&v.stickiness));
            }
            if let Some((kind, value)) = &v.payload {
                out.push_str(&payload(kind, value));
            }
            out.push_str(" },\n");
        }
        out.push_str("]\n");
    }
    out
}

/// A variant's `payload` key as the file writes it: a plain string, or `{ type, value }`.
fn payload(kind: &str, value: &str) -> String {
    if kind == "string" {
        format!(", payload = {}", quoted(value))
    } else {
        format!(
            ", payload = {{ type = {}, value = {} }}",
            quoted(kind),
            quoted(value)
        )
    }
}

/// A TOML basic string.
pub(crate) fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Why Unleash would refuse `rule` (checked before anything is sent, so that `push`
/// never leaves a flag half-made), or `None`.
pub(crate) fn unleash_refuses(rule: &Rule) -> Option<String> {
    for c in &rule.constraints {
        if c.operator == "IN_CIDR" {
            return Some(format!(
                "its constraint on `{}` uses IN_CIDR, which flowgate has and Unleash does not (Unleash's `remoteAddress` strategy is the nearest)",
                c.label
            ));
        }
        if c.operator == "REGEX" && c.inverted {
            return Some(format!(
                "its constraint on `{}` is an inverted REGEX, which Unleash refuses (write the pattern to match what it should not)",
                c.label
            ));
        }
    }
    for v in &rule.variants {
        if let Some((kind, _)) = &v.payload {
            if !matches!(kind.as_str(), "string" | "json" | "csv" | "number") {
                return Some(format!(
                    "variant `{}` has a payload of type `{kind}`; Unleash takes string, json, csv or number",
                    v.name
                ));
            }
        }
    }
    None
}

/// The rule keys of a file's flag, written back as the file has them (weights as
/// written, overrides included): for flags `pull` keeps from the file.
pub(crate) fn file_body(flag: &flowgate_config::Flag) -> String {
    use std::fmt::Write as _;
    let Some(rules) = &flag.rules else {
        return String::new();
    };
    let mut rule = Rule {
        enabled: rules.enabled,
        rollout: rules.rollout,
        stickiness: rules.stickiness.clone(),
        constraints: rules.constraints.iter().map(condition_of_file).collect(),
        variants: Vec::new(),
    };
    let mut out = toml_body(&rule);
    if rules.variants.is_empty() {
        return out;
    }
    rule.variants.clear();
    out.push_str("variants = [\n");
    for v in &rules.variants {
        let _ = write!(
            out,
            "  {{ name = {}, weight = {}",
            quoted(&v.name),
            v.weight
        );
        if let Some(stickiness) = &v.stickiness {
            let _ = write!(out, ", stickiness = {}", quoted(stickiness));
        }
        if let Some(p) = &v.payload {
            out.push_str(&payload(&p.kind, &p.value));
        }
        if !v.overrides.is_empty() {
            let overrides: Vec<String> = v
                .overrides
                .iter()
                .map(|o| {
                    let values: Vec<String> = o.values.iter().map(|x| quoted(x)).collect();
                    format!(
                        "{{ label = {}, values = [{}] }}",
                        quoted(&o.label),
                        values.join(", ")
                    )
                })
                .collect();
            let _ = write!(out, ", overrides = [{}]", overrides.join(", "));
        }
        out.push_str(" },\n");
    }
    out.push_str("]\n");
    out
}
