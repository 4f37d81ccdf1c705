//! `flowgate explain FLAG --label k=v ... [--file F | --unleash URL]`: the decision the
//! runtime would make for these labels, step by step, from `Client::explain` (the same
//! evaluation gates run), with the limits the file gives the flag.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use flowgate::unleash::UnleashConfig;
use flowgate::{Client, Labels};
use serde_json::json;

use crate::report::{print_json, say, Outcome};

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
        // `-l "userId = 42"` means userId=42: spaces around `=` are the shell's, not
        // the value's.
        labels.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let mut fallback = None;
    let (client, limits, source, known) = if let Some(url) = unleash {
        (unleash_client(url)?, None, url.to_owned(), Vec::new())
    } else {
        let document = flowgate_config::read_file(file).map_err(|e| e.to_string())?;
        let limits = document.flag(flag).map(|f| describe_limits(&f.limits));
        fallback = document.flag(flag).map(|f| match f.fallback {
            Some(flowgate_config::Fallback::Accept) => "accept: every call runs",
            _ => "reject: no call runs",
        });
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
        // Declared with no rules: a real answer, not a failure.
        if let Some(fallback) = fallback {
            if json {
                print_json(
                    &json!({ "flag": flag, "rules": false, "fallback": fallback, "source": source }),
                );
            } else {
                say!("{flag}: no rules in {source}; its fallback decides every call ({fallback})");
            }
            return Ok(Outcome::Clean);
        }
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
        say!("{explanation}");
        if let Some(Some(limits)) = limits {
            say!("  limits: {limits}");
        }
    }
    Ok(Outcome::Clean)
}

fn unleash_client(url: &str) -> Result<Client, String> {
    let token = std::env::var("UNLEASH_API_TOKEN")
        .map_err(|_| "--unleash needs a client (backend) token in UNLEASH_API_TOKEN".to_owned())?;
    // The client API, from the server's root or the API's URL.
    let url = url.trim_end_matches('/');
    let url = if url.ends_with("/api") {
        url.to_owned()
    } else {
        format!("{url}/api")
    };
    let url = url.as_str();
    preflight(url, &token)?;
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

/// One request to the client API before the client starts, for a precise error at
/// once (a refused token, a wrong URL, no server) rather than a timeout.
fn preflight(url: &str, token: &str) -> Result<(), String> {
    let shown = crate::admin::redacted(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "--unleash {shown}: give the server's URL, starting with http:// or https://"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let response = http
            .get(format!("{url}/client/features"))
            .header("authorization", token)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    format!("--unleash {shown}: cannot connect (is the server up?)")
                } else if e.is_timeout() {
                    format!("--unleash {shown}: no answer within 10 s")
                } else {
                    format!("--unleash {shown}: the request failed")
                }
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(format!(
                "--unleash {shown}: the server refused the token in UNLEASH_API_TOKEN (it needs a backend, i.e. client, token)"
            )),
            404 => Err(format!(
                "--unleash {shown}: no Unleash client API there (give the server's root or its /api URL)"
            )),
            status => Err(format!("--unleash {shown}: the server answered {status}")),
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
