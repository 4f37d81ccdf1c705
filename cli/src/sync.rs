//! `diff`, `push` and `pull`: a `flowgate.toml` and an Unleash project, compared and
//! copied either way through the Admin API, one environment at a time.
//!
//! All three read both sides into `model::Rule`. `push` is a dry run unless `--apply`;
//! `pull` writes the file atomically (a temporary file renamed over it) and only after
//! the text it made reads back through `flowgate_config` (it never writes a file the
//! build would refuse), keeping what Unleash does not know: descriptions, fallbacks,
//! limits, and the flags that exist only in the file. Comments in the file are not kept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::admin::Admin;
use crate::model::{self, Rule};
use crate::report::{print_json, say, Outcome};

/// Where a flag stands between the file and the server.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
enum Standing {
    Same,
    OnlyInFile,
    OnlyOnServer,
    Differ {
        fields: Vec<&'static str>,
    },
    /// One side holds what the other cannot (say why).
    Incomparable {
        why: String,
    },
}

/// The server's flags: each one's feature JSON, and its rules or why the file cannot
/// hold them.
type ServerFlags = BTreeMap<String, (serde_json::Value, Result<Rule, String>)>;

/// The file's flags: their rules (`None`: declared only), or why Unleash cannot hold
/// them.
type FileFlags = BTreeMap<String, Result<Option<Rule>, String>>;

fn file_rules(document: &flowgate_config::Document) -> FileFlags {
    document
        .flags
        .iter()
        .map(|flag| {
            let rule = model::from_file(flag).and_then(|rule| match rule {
                Some(rule) => model::unleash_refuses(&rule).map_or(Ok(Some(rule)), Err),
                None => Ok(None),
            });
            (flag.name.clone(), rule)
        })
        .collect()
}

/// The server's features in the environment: each flag's rules, or why the file
/// cannot hold them.
fn server_rules(admin: &Admin, environment: &str) -> Result<ServerFlags, String> {
    let mut out = BTreeMap::new();
    for name in admin.feature_names()? {
        let feature = admin.feature(&name)?;
        let rule = match Admin::environment(&feature, environment) {
            Some(env) => model::from_unleash(&name, env),
            None => Err(format!("{name}: no environment `{environment}`")),
        };
        out.insert(name, (feature, rule));
    }
    Ok(out)
}

/// The file and the server's project environment, read as `diff` and `push` compare
/// them (the place checked first).
fn both_sides(
    file: &Path,
    url: &str,
    project: &str,
    environment: &str,
) -> Result<(flowgate_config::Document, Admin, FileFlags, ServerFlags), String> {
    let document = flowgate_config::read_file(file).map_err(|e| e.to_string())?;
    let admin = Admin::new(url, project)?;
    admin.check_place(environment)?;
    let ours = file_rules(&document);
    let theirs = server_rules(&admin, environment)?;
    Ok((document, admin, ours, theirs))
}

fn standings(file: &FileFlags, server: &ServerFlags) -> BTreeMap<String, Standing> {
    let mut out = BTreeMap::new();
    for (name, rule) in file {
        let standing = match (rule, server.get(name)) {
            (Err(why), _) | (Ok(Some(_)), Some((_, Err(why)))) => {
                Standing::Incomparable { why: why.clone() }
            }
            // Declared only: its fallback decides, whether the server has the flag
            // (its rules then) or not (the fallback then, as here).
            (Ok(None), _) => Standing::Same,
            (Ok(Some(_)), None) => Standing::OnlyInFile,
            (Ok(Some(ours)), Some((_, Ok(theirs)))) => {
                let fields = model::differences(ours, theirs);
                if fields.is_empty() {
                    Standing::Same
                } else {
                    Standing::Differ { fields }
                }
            }
        };
        out.insert(name.clone(), standing);
    }
    for name in server.keys() {
        out.entry(name.clone()).or_insert(Standing::OnlyOnServer);
    }
    out
}

pub(crate) fn diff(
    file: &Path,
    url: &str,
    project: &str,
    environment: &str,
    json: bool,
) -> Result<Outcome, String> {
    let (_, _, ours, theirs) = both_sides(file, url, project, environment)?;
    let standings = standings(&ours, &theirs);
    let differ = standings.values().any(|s| !matches!(s, Standing::Same));
    if json {
        print_json(&json!({
            "file": file.display().to_string(),
            "project": project,
            "environment": environment,
            "equal": !differ,
            "flags": standings,
        }));
    } else if !differ {
        say!(
            "{} and {project}/{environment}: the same ({} flags)",
            file.display(),
            standings.len()
        );
    } else {
        let width = standings.keys().map(String::len).max().unwrap_or(4).max(4);
        say!("{:width$}  {}/{}", "flag", file.display(), environment);
        for (name, standing) in &standings {
            let text = match standing {
                Standing::Same => continue,
                Standing::OnlyInFile => "only in the file".to_owned(),
                Standing::OnlyOnServer => "only on the server".to_owned(),
                Standing::Differ { fields } => format!("differs: {}", fields.join(", ")),
                Standing::Incomparable { why } => format!("cannot compare: {why}"),
            };
            say!("{name:width$}  {text}");
        }
    }
    Ok(if differ {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

pub(crate) fn push(
    file: &Path,
    url: &str,
    project: &str,
    environment: &str,
    apply: bool,
    json: bool,
) -> Result<Outcome, String> {
    let (document, admin, ours, theirs) = both_sides(file, url, project, environment)?;
    let mut plan = Vec::new();
    let mut refused = Vec::new();
    for (name, rule) in &ours {
        let rule = match rule {
            Ok(Some(rule)) => rule,
            Ok(None) => continue,
            Err(why) => {
                eprintln!("flowgate: {name}: not pushed: {why}");
                refused.push(name.clone());
                continue;
            }
        };
        let description = document.flag(name).and_then(|f| f.description.as_deref());
        let action = match theirs.get(name) {
            None => "create",
            Some((_, Ok(current))) if current == rule => continue,
            Some((feature, _)) => {
                let strategies = Admin::environment(feature, environment)
                    .and_then(|e| e["strategies"].as_array())
                    .map_or(0, Vec::len);
                if strategies > 1 {
                    eprintln!(
                        "flowgate: {name}: not pushed: {strategies} strategies on the server in `{environment}`, where push replaces one (edit it on the server, or remove all but one)"
                    );
                    refused.push(name.clone());
                    continue;
                }
                "update"
            }
        };
        warn_of_weights(&document, name);
        plan.push((
            name.clone(),
            action,
            rule.clone(),
            description.map(str::to_owned),
        ));
    }
    let mut failed = Vec::new();
    if apply {
        for (name, action, rule, description) in &plan {
            if let Err(error) = apply_one(
                &admin,
                environment,
                name,
                action,
                rule,
                description.as_deref(),
            ) {
                eprintln!("flowgate: {name}: {error}");
                failed.push(name.clone());
            }
        }
    }
    if json {
        let actions: Vec<_> = plan
            .iter()
            .map(|(name, action, _, _)| {
                json!({ "flag": name, "action": action, "failed": failed.contains(name) })
            })
            .collect();
        print_json(&json!({ "applied": apply, "actions": actions }));
    } else if plan.is_empty() {
        say!(
            "{project}/{environment} already has every rule of {}",
            file.display()
        );
    } else {
        let verb = if apply {
            "did"
        } else {
            "would (dry run; --apply to do it)"
        };
        for (name, action, _, _) in &plan {
            if failed.contains(name) {
                say!("failed to {action} {name}");
            } else {
                say!("{verb} {action} {name}");
            }
        }
    }
    Ok(if failed.is_empty() && refused.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// Warns when `name`'s variant weights do not add up to 1000: Unleash buckets a user
/// among 1000, the file among the weights' total, so a user may get another variant.
fn warn_of_weights(document: &flowgate_config::Document, name: &str) {
    let Some(rules) = document.flag(name).and_then(|f| f.rules.as_ref()) else {
        return;
    };
    let total: u64 = rules.variants.iter().map(|v| u64::from(v.weight)).sum();
    if !rules.variants.is_empty() && total != 1000 {
        eprintln!(
            "flowgate: {name}: variant weights sent as shares of 1000; Unleash buckets a user among 1000, the file among {total}, so a user may get another variant (make the weights add up to 1000 to keep them)"
        );
    }
}

/// Creates or updates one flag on the server, then sets its switch.
fn apply_one(
    admin: &Admin,
    environment: &str,
    name: &str,
    action: &str,
    rule: &Rule,
    description: Option<&str>,
) -> Result<(), String> {
    let strategy = model::strategy(name, rule);
    if action == "create" {
        admin.create(name, description)?;
        // A flag created without its strategy would be a flag that is off, not the
        // file's: take it away again, and say why.
        if let Err(error) = admin.add_strategy(name, environment, strategy) {
            return Err(match admin.remove(name) {
                Ok(()) => format!("{error} (the flag was not left behind)"),
                Err(also) => format!("{error}; removing the half-made flag failed too: {also}"),
            });
        }
        return admin.toggle(name, environment, rule.enabled);
    }
    let feature = admin.feature(name)?;
    let id = Admin::environment(&feature, environment)
        .and_then(|e| e["strategies"][0]["id"].as_str().map(str::to_owned));
    match id {
        Some(id) => admin.replace_strategy(name, environment, &id, strategy)?,
        None => admin.add_strategy(name, environment, strategy)?,
    }
    admin.toggle(name, environment, rule.enabled)
}

pub(crate) fn pull(
    file: &Path,
    url: &str,
    project: &str,
    environment: &str,
    only_known: bool,
    json: bool,
) -> Result<Outcome, String> {
    let existing = if file.exists() {
        Some(flowgate_config::read_file(file).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let admin = Admin::new(url, project)?;
    admin.check_place(environment)?;
    let theirs = server_rules(&admin, environment)?;
    let mut skipped = Vec::new();
    let mut flags: BTreeMap<String, String> = BTreeMap::new();
    for (name, (feature, rule)) in &theirs {
        let rule = match rule {
            Ok(rule) => rule,
            Err(why) => {
                skipped.push(why.clone());
                continue;
            }
        };
        if only_known && existing.as_ref().and_then(|d| d.flag(name)).is_none() {
            continue;
        }
        let kept = existing.as_ref().and_then(|d| d.flag(name));
        let mut table = String::new();
        let description = kept.and_then(|f| f.description.clone()).or_else(|| {
            feature["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
        });
        if let Some(description) = description {
            let _ = writeln!(table, "description = {}", model::quoted(&description));
        }
        table.push_str(&kept_keys(kept));
        table.push_str(&model::toml_body(rule));
        flags.insert(name.clone(), table);
    }
    // What only the file has stays as it was, and so does a flag whose server copy
    // the file cannot hold (skipped above): losing it would break the gates naming it.
    if let Some(document) = &existing {
        for flag in &document.flags {
            if !flags.contains_key(&flag.name) {
                let mut table = String::new();
                if let Some(description) = &flag.description {
                    let _ = writeln!(table, "description = {}", model::quoted(description));
                }
                table.push_str(&kept_keys(Some(flag)));
                table.push_str(&model::file_body(flag));
                flags.insert(flag.name.clone(), table);
            }
        }
    }
    let mut text = format!("# Pulled from Unleash ({project}/{environment}) by `flowgate pull`.\n");
    for (name, table) in &flags {
        let _ = write!(text, "\n[flags.{}]\n{table}", key(name));
    }
    if flags.is_empty() {
        text.push_str("\n[flags]\n");
    }
    flowgate_config::parse(&text, &file.display().to_string())
        .map_err(|e| format!("the file pulled would not read back, so it was not written: {e}"))?;
    write_atomically(file, &text)?;
    for why in &skipped {
        eprintln!("flowgate: skipped {why}");
    }
    if json {
        print_json(&json!({
            "file": file.display().to_string(),
            "flags": flags.keys().collect::<Vec<_>>(),
            "skipped": skipped,
        }));
    } else {
        say!(
            "{}: {} flags from {project}/{environment}",
            file.display(),
            flags.len()
        );
    }
    Ok(if skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// The keys Unleash does not know, from the file's flag: its fallback and limits.
fn kept_keys(flag: Option<&flowgate_config::Flag>) -> String {
    let mut out = String::new();
    let Some(flag) = flag else {
        return out;
    };
    if let Some(fallback) = flag.fallback {
        let word = match fallback {
            flowgate_config::Fallback::Accept => "accept",
            flowgate_config::Fallback::Reject => "reject",
        };
        let _ = writeln!(out, "fallback = \"{word}\"");
    }
    if let Some(rate) = &flag.limits.rate {
        let _ = write!(
            out,
            "rate_limit = {{ limit = {}, per = \"{}\", burst = {}",
            rate.limit,
            duration(rate.per),
            rate.burst
        );
        out.push_str(&per_value(rate.by.as_deref(), rate.max_keys));
        out.push_str(" }\n");
    }
    if let Some(concurrency) = &flag.limits.concurrency {
        let _ = write!(
            out,
            "concurrency = {{ max = {}, queue = {}",
            concurrency.max, concurrency.queue
        );
        out.push_str(&per_value(concurrency.by.as_deref(), concurrency.max_keys));
        out.push_str(" }\n");
    }
    out
}

/// A limit's `by` and `max_keys`, when it is one per label value.
fn per_value(by: Option<&str>, max_keys: usize) -> String {
    by.map_or_else(String::new, |by| {
        format!(", by = {}, max_keys = {max_keys}", model::quoted(by))
    })
}

/// A period as the file writes one: whole seconds when it is, else milliseconds.
fn duration(period: std::time::Duration) -> String {
    let millis = period.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// A flag name as a TOML key: bare when it can be.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        model::quoted(name)
    }
}

/// Writes `text` to `path` through a temporary file beside it, renamed over it.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = dir.join(format!(
        ".{}.flowgate-pull-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("flowgate.toml"),
        std::process::id()
    ));
    std::fs::write(&temporary, text).map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: {e}", path.display())
    })
}
