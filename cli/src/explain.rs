//! `flowgate explain FLAG --label k=v ... [--file F | --unleash URL]`: the decision the
//! runtime would make for these labels, step by step, from `Client::explain` (the same
//! evaluation gates run), with the limits the file gives the flag.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use flowgate::unleash::UnleashConfig;
use flowgate::{Client, Labels};
use serde_json::json;

use crate::report::{print_json, Outcome};

/// How long `--unleash` waits for the server's first answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn run(
    flag: &str,
    pairs: &[String],
    file: &Path,
    unleash: Option<&str>,
    json: bool,
) -> Result<Outcome, String> {
    let mut labels = Labels::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!(
                "--label `{pair}`: write a label as NAME=VALUE, e.g. --label userId=42"
            ));
        };
        if name.trim().is_empty() {
            return Err(format!("--label `{pair}`: the label has no name"));
        }
        labels.insert(name.trim().to_owned(), value.to_owned());
    }
    let (client, limits, source, known) = if let Some(url) = unleash {
        (unleash_client(url)?, None, url.to_owned(), Vec::new())
    } else {
        let document = flowgate_config::read_file(file).map_err(|e| e.to_string())?;
        let limits = document.flag(flag).map(|f| describe_limits(&f.limits));
        let client = Client::builder()
            .file(file)
            .watch(false)
            .build()
            .map_err(|e| e.to_string())?;
        let known = document.flags.iter().map(|f| f.name.clone()).collect();
        (client, limits, file.display().to_string(), known)
    };
    let explanation = client.explain(flag, &labels);
    client.shutdown();
    let Some(explanation) = explanation else {
        return Err(if known.iter().any(|f| f == flag) {
            format!("`{flag}` has no rules in {source}: its fallback decides every call")
        } else {
            format!(
                "no flag `{flag}` in {source}{}",
                suggestion(flag, &known)
                    .map_or(String::new(), |s| format!("; did you mean `{s}`?"))
            )
        });
    };
    if json {
        let mut value = serde_json::to_value(&explanation).map_err(|e| e.to_string())?;
        value["source"] = json!(source);
        value["limits"] = json!(limits.flatten());
        print_json(&value);
    } else {
        println!("{explanation}");
        if let Some(Some(limits)) = limits {
            println!("  limits: {limits}");
        }
    }
    Ok(Outcome::Clean)
}

fn unleash_client(url: &str) -> Result<Client, String> {
    let token = std::env::var("UNLEASH_API_TOKEN")
        .map_err(|_| "--unleash needs a client (backend) token in UNLEASH_API_TOKEN".to_owned())?;
    let config = UnleashConfig::new(url, "flowgate-cli", token).backup_path(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = Client::unleash(config).map_err(|e| e.to_string())?;
        if client.ready(READY_TIMEOUT).await {
            Ok(client)
        } else {
            client.shutdown();
            Err(format!(
                "no answer from {url} within {} s (is the URL the client API, ending in /api, and the token a backend token?)",
                READY_TIMEOUT.as_secs()
            ))
        }
    })
}

/// The known flag name closest to a mistyped one, if close (two edits at most, case
/// aside).
fn suggestion<'a>(flag: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&k.to_lowercase(), &flag.to_lowercase()),
                k,
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}

fn describe_limits(limits: &flowgate_config::Limits) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(rate) = &limits.rate {
        let mut text = format!("{} per {:?} (burst {})", rate.limit, rate.per, rate.burst);
        if let Some(by) = &rate.by {
            let _ = write!(text, " per `{by}`");
        }
        parts.push(format!("rate {text}"));
    }
    if let Some(concurrency) = &limits.concurrency {
        let mut text = format!(
            "concurrency {} at once, {} queued",
            concurrency.max, concurrency.queue
        );
        if let Some(by) = &concurrency.by {
            let _ = write!(text, " per `{by}`");
        }
        parts.push(text);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
