//! `flowgate diff`, `push`, `pull` and `explain --unleash` against a real
//! `unleash-server` (started by `scripts/unleash-up.sh`; `scripts/test-live.sh` runs
//! these ignored tests). Every test uses flag names no earlier run used: the server
//! keeps its flags between runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use flowgate::unleash::UnleashConfig;
use flowgate::{Client, Labels};
use serde_json::{json, Value};

struct Server {
    api_url: String,
    admin_url: String,
    admin_token: String,
    api_token: String,
}

impl Server {
    /// The server of `scripts/unleash-up.sh`; fails (never skips) without one.
    fn connect() -> Server {
        let dir = std::env::var_os("FLOWGATE_UNLEASH_STATE").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/unleash-live"),
            PathBuf::from,
        );
        let env = std::fs::read_to_string(dir.join("env"))
            .expect("no running Unleash server: start one with scripts/unleash-up.sh");
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_owned()
        };
        Server {
            api_url: var("UNLEASH_URL"),
            admin_url: var("UNLEASH_ADMIN_URL"),
            admin_token: var("UNLEASH_ADMIN_TOKEN"),
            api_token: var("UNLEASH_API_TOKEN"),
        }
    }

    fn flowgate(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(args)
            .current_dir(dir)
            .env("UNLEASH_ADMIN_URL", &self.admin_url)
            .env("UNLEASH_ADMIN_TOKEN", &self.admin_token)
            .env("UNLEASH_API_TOKEN", &self.api_token)
            .output()
            .unwrap()
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let http = reqwest::Client::new();
            let mut request = http
                .request(
                    method.parse().unwrap(),
                    format!("{}/api/admin{path}", self.admin_url),
                )
                .header("authorization", &self.admin_token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }
}

fn unique() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!(
        "{:08x}",
        RandomState::new().hash_one(std::time::SystemTime::now()) >> 32
    )
}

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgate-cli-live-{name}-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file with every kind of rule the file can hold, its flags prefixed with `run`.
fn every_rule(run: &str) -> String {
    format!(
        r##"[flags.{run}-rollout]
description = "a constrained rollout with variants"
fallback = "accept"
rollout = 37
stickiness = "userId"
constraints = [
  {{ label = "region", operator = "IN", values = ["eu", "us"] }},
  {{ label = "appVersion", operator = "SEMVER_GTE", value = "2.1.0" }},
  {{ label = "age", operator = "NUM_GT", value = 17 }},
  {{ label = "email", operator = "STR_ENDS_WITH", values = ["@example.com"], case_insensitive = true }},
  {{ label = "plan", operator = "NOT_IN", values = ["free"], inverted = true }},
  {{ label = "currentTime", operator = "DATE_AFTER", value = "2024-01-01T00:00:00Z" }},
]
variants = [
  {{ name = "blue", weight = 300, payload = "#00f" }},
  {{ name = "green", weight = 700, payload = {{ type = "json", value = '{{"a": 1}}' }} }},
]
rate_limit = {{ limit = 10, per = "1s" }}

[flags.{run}-tenant]
rollout = 60
stickiness = "tenant"
constraints = [{{ label = "tier", operator = "STR_STARTS_WITH", values = ["gold", "plat"] }}]

[flags.{run}-operators]
constraints = [
  {{ label = "a", operator = "STR_CONTAINS", values = ["x"] }},
  {{ label = "b", operator = "NUM_EQ", value = 3 }},
  {{ label = "c", operator = "NUM_LT", value = 3.5 }},
  {{ label = "d", operator = "NUM_LTE", value = 3 }},
  {{ label = "e", operator = "NUM_GTE", value = 3 }},
  {{ label = "f", operator = "SEMVER_EQ", value = "1.2.3" }},
  {{ label = "g", operator = "SEMVER_LT", value = "1.2.3-beta.1" }},
  {{ label = "h", operator = "DATE_BEFORE", value = "2030-01-01T00:00:00Z" }},
  {{ label = "r", operator = "REGEX", value = "^a.*z$" }},
]

[flags.{run}-off]
enabled = false

[flags.{run}-on]
enabled = true

[flags.{run}-declared]
fallback = "accept"
"##
    )
}

fn out(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Only this run's flags: the server holds every earlier run's too.
fn ours(json: &Value, run: &str) -> Vec<(String, Value)> {
    json["flags"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with(run))
        .map(|(name, standing)| (name.clone(), standing.clone()))
        .collect()
}

#[test]
#[ignore = "needs a real Unleash server: scripts/test-live.sh"]
fn push_pull_and_diff_round_trip_every_rule() {
    let server = Server::connect();
    let run = format!("cli-{}", unique());
    let dir = workdir("round-trip");
    std::fs::write(dir.join("flowgate.toml"), every_rule(&run)).unwrap();

    let dry = server.flowgate(&dir, &["push"]);
    assert_eq!(dry.status.code(), Some(0), "{}", out(&dry));
    assert!(out(&dry).contains(&format!(
        "would (dry run; --apply to do it) create {run}-rollout"
    )));
    assert!(
        !out(&dry).contains(&format!("{run}-declared")),
        "a declared flag has nothing to push"
    );
    let diff = server.flowgate(&dir, &["--json", "diff"]);
    let json: Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert!(
        ours(&json, &run)
            .iter()
            .any(|(n, s)| n.ends_with("-rollout") && s["state"] == "only_in_file"),
        "the dry run changed nothing"
    );

    let applied = server.flowgate(&dir, &["push", "--apply"]);
    assert_eq!(applied.status.code(), Some(0), "{}", out(&applied));
    let diff = server.flowgate(&dir, &["--json", "diff"]);
    let json: Value = serde_json::from_slice(&diff.stdout).unwrap();
    for (name, standing) in ours(&json, &run) {
        assert_eq!(standing["state"], "same", "{name}: {standing}");
    }

    // Pull into an empty directory: the server's rules come back as the file had them.
    let pulled = workdir("pulled");
    let pull = server.flowgate(&pulled, &["pull"]);
    assert!(matches!(pull.status.code(), Some(0 | 1)), "{}", out(&pull));
    let text = std::fs::read_to_string(pulled.join("flowgate.toml")).unwrap();
    let document = flowgate_config::parse(&text, "pulled").unwrap();
    let original = flowgate_config::parse(&every_rule(&run), "original").unwrap();
    for flag in original.flags.iter().filter(|f| f.rules.is_some()) {
        let back = document
            .flag(&flag.name)
            .unwrap_or_else(|| panic!("{} pulled", flag.name));
        assert_eq!(back.rules, flag.rules, "{}", flag.name);
    }
    // Pull over the original: fallbacks, limits and declared flags are kept, and a
    // push after it has nothing to do.
    let pull = server.flowgate(&dir, &["pull"]);
    assert!(matches!(pull.status.code(), Some(0 | 1)), "{}", out(&pull));
    let document = flowgate_config::read_file(&dir.join("flowgate.toml")).unwrap();
    let rollout = document.flag(&format!("{run}-rollout")).unwrap();
    assert_eq!(rollout.fallback, Some(flowgate_config::Fallback::Accept));
    assert!(rollout.limits.rate.is_some());
    assert!(document.flag(&format!("{run}-declared")).is_some());
    let again = server.flowgate(&dir, &["push"]);
    assert!(
        !out(&again).contains(&run),
        "pull then push changes nothing: {}",
        out(&again)
    );

    a_server_change_shows_in_diff(&server, &dir, &run);
    stale_says_no_client_evaluated(&server, &dir, &run, &original);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&pulled);
}

/// A rule changed on the server: diff names exactly that flag and field.
fn a_server_change_shows_in_diff(server: &Server, dir: &Path, run: &str) {
    let feature = server.admin(
        "GET",
        &format!("/projects/default/features/{run}-tenant"),
        None,
    );
    let env = feature["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "development")
        .unwrap();
    let mut strategy = env["strategies"][0].clone();
    let id = strategy["id"].as_str().unwrap().to_owned();
    strategy["parameters"]["rollout"] = json!("61");
    server.admin(
        "PUT",
        &format!("/projects/default/features/{run}-tenant/environments/development/strategies/{id}"),
        Some(json!({ "name": strategy["name"], "parameters": strategy["parameters"], "constraints": strategy["constraints"] })),
    );
    let diff = server.flowgate(dir, &["--json", "diff"]);
    assert_eq!(diff.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&diff.stdout).unwrap();
    let changed: Vec<_> = ours(&json, run)
        .into_iter()
        .filter(|(_, s)| s["state"] != "same")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].0, format!("{run}-tenant"));
    assert_eq!(changed[0].1["fields"], json!(["rollout"]));
}

/// No client evaluated this run's flags: `stale --unleash` says so, from the server's
/// last-seen data.
fn stale_says_no_client_evaluated(
    server: &Server,
    dir: &Path,
    run: &str,
    original: &flowgate_config::Document,
) {
    let names: Vec<String> = original
        .flags
        .iter()
        .map(|f| format!("\"{}\"", f.name))
        .collect();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        format!("const USED: &[&str] = &[{}];", names.join(", ")),
    )
    .unwrap();
    let stale = server.flowgate(
        dir,
        &[
            "--json",
            "stale",
            "--unleash",
            &server.admin_url,
            "--days",
            "7",
        ],
    );
    assert_eq!(stale.status.code(), Some(1), "{}", out(&stale));
    let json: Value = serde_json::from_slice(&stale.stdout).unwrap();
    let unused = json["unused"].as_array().unwrap();
    assert!(
        !unused
            .iter()
            .any(|name| name.as_str().unwrap().starts_with(run)),
        "this run's flags are named in src/lib.rs: {unused:?}"
    );
    let unseen = json["unseen"].as_array().unwrap();
    assert!(
        unseen.contains(&json!([format!("{run}-rollout"), null])),
        "{json}"
    );
}

/// `Client::explain` on Unleash (what `flowgate explain --unleash` prints) agrees with
/// the server's own playground for 1 000 generated contexts.
#[test]
#[ignore = "needs a real Unleash server: scripts/test-live.sh"]
fn explain_agrees_with_the_servers_playground() {
    let server = Server::connect();
    let run = format!("cli-{}", unique());
    let dir = workdir("playground");
    std::fs::write(dir.join("flowgate.toml"), every_rule(&run)).unwrap();
    let applied = server.flowgate(&dir, &["push", "--apply"]);
    assert_eq!(applied.status.code(), Some(0), "{}", out(&applied));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = UnleashConfig::new(&server.api_url, "flowgate-cli-live", &server.api_token)
            .environment("development")
            .backup_path(None);
        let client = Client::unleash(config).unwrap();
        assert!(client.ready(Duration::from_secs(30)).await);
        // The new flags reach the client on a later fetch: wait until it knows them.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while client.explain(format!("{run}-rollout").as_str(), &Labels::new()).is_none() {
            assert!(std::time::Instant::now() < deadline, "the client never saw the pushed flags");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let http = reqwest::Client::new();
        let mut checked = 0;
        for i in 0..1_000_u32 {
            let region = ["eu", "us", "ap"][(i % 3) as usize];
            let version = ["2.0.0", "2.1.0", "3.4.5"][(i / 3 % 3) as usize];
            let email = if i % 5 == 0 { "x@other.org".to_owned() } else { format!("u{i}@EXAMPLE.com") };
            let plan = ["free", "pro"][(i / 7 % 2) as usize];
            let tier = ["gold-1", "platinum", "bronze"][(i / 11 % 3) as usize];
            let user = format!("user-{i}");
            let tenant = format!("t{}", i % 97);
            let age = (i % 40).to_string();
            let mut labels = Labels::new();
            let (s_a, n_b, n_c) = (["xy", "no"][(i % 2) as usize].to_owned(), (i % 5).to_string(), format!("{}.5", i % 5));
            let (v_f, v_g, r_r) = (["1.2.3", "1.2.4"][(i / 2 % 2) as usize].to_owned(), ["1.2.3-alpha", "1.2.3"][(i / 4 % 2) as usize].to_owned(), ["abz", "abc"][(i / 8 % 2) as usize].to_owned());
            for (k, v) in [("a", &s_a), ("b", &n_b), ("c", &n_c), ("d", &n_b), ("e", &n_b), ("f", &v_f), ("g", &v_g), ("r", &r_r)] {
                labels.insert(k, v.clone());
            }
            for (k, v) in [("userId", &user), ("region", &region.to_owned()), ("appVersion", &version.to_owned()), ("email", &email), ("plan", &plan.to_owned()), ("tier", &tier.to_owned()), ("tenant", &tenant), ("age", &age)] {
                labels.insert(k, v.clone());
            }
            let context = json!({
                "appName": "flowgate-cli-live",
                "userId": user,
                "properties": { "a": s_a, "b": n_b, "c": n_c, "d": n_b, "e": n_b, "f": v_f, "g": v_g, "r": r_r, "region": region, "appVersion": version, "email": email, "plan": plan, "tier": tier, "tenant": tenant, "age": age },
            });
            let answer: Value = http
                .post(format!("{}/api/admin/playground", server.admin_url))
                .header("authorization", &server.admin_token)
                .json(&json!({ "environment": "development", "projects": "*", "context": context }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for feature in answer["features"].as_array().unwrap() {
                let name = feature["name"].as_str().unwrap();
                if !name.starts_with(&run) {
                    continue;
                }
                let why = client.explain(name, &labels).unwrap_or_else(|| panic!("{name} explained"));
                assert_eq!(Some(why.enabled), feature["isEnabled"].as_bool(), "{name} {context}\n{why}");
                if why.enabled && feature["variant"]["enabled"] == true {
                    assert_eq!(why.variant.as_deref(), feature["variant"]["name"].as_str(), "{name} {context}\n{why}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 5_000, "5 flags of this run in 1 000 answers: {checked}");
        client.shutdown();
    });

    // The command itself, once, on one of those contexts.
    let output = server.flowgate(
        &dir,
        &[
            "explain",
            &format!("{run}-rollout"),
            "--unleash",
            &server.api_url,
            "-l",
            "userId=user-1",
            "-l",
            "region=ap",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", out(&output));
    assert!(
        out(&output).contains("constraint region IN (2 values): `ap`: no match"),
        "{}",
        out(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What cannot go to the server, or come back from it, loses nothing: `push` refuses
/// (before sending anything) rules Unleash would refuse, a place that does not exist is
/// an error even in a dry run, and `pull` keeps the file's copy of a flag whose server
/// copy the file cannot hold.
#[test]
#[ignore = "needs a real Unleash server: scripts/test-live.sh"]
fn nothing_is_half_made_or_lost() {
    let server = Server::connect();
    let run = format!("cli-{}", unique());
    let dir = workdir("nothing-lost");
    std::fs::write(
        dir.join("flowgate.toml"),
        format!(
            "[flags.{run}-regex]\nconstraints = [{{ label = \"r\", operator = \"REGEX\", value = \"^a\", inverted = true }}]\n\n\
             [flags.{run}-cidr]\nconstraints = [{{ label = \"remoteAddress\", operator = \"IN_CIDR\", values = [\"10.0.0.0/8\"] }}]\n\n\
             [flags.{run}-two]\nrollout = 10\n"
        ),
    )
    .unwrap();
    let pushed = server.flowgate(&dir, &["push", "--apply"]);
    assert_eq!(pushed.status.code(), Some(1), "{}", out(&pushed));
    assert!(out(&pushed).contains("inverted REGEX"), "{}", out(&pushed));
    assert!(out(&pushed).contains("IN_CIDR"), "{}", out(&pushed));
    let names = server.admin("GET", "/projects/default/features", None);
    let on_server = |name: &str| {
        names["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == name)
    };
    assert!(!on_server(&format!("{run}-regex")), "nothing half-made");
    assert!(!on_server(&format!("{run}-cidr")));
    assert!(on_server(&format!("{run}-two")));

    for args in [
        &["push", "-e", "nowhere"][..],
        &["diff", "--project", "nowhere"][..],
    ] {
        let output = server.flowgate(&dir, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", out(&output));
        assert!(
            out(&output).contains("no ") && out(&output).contains("it has:"),
            "{}",
            out(&output)
        );
    }

    // A second strategy on the server: the file cannot hold it, so pull keeps the
    // file's copy and says so.
    server.admin(
        "POST",
        &format!("/projects/default/features/{run}-two/environments/development/strategies"),
        Some(json!({ "name": "default", "constraints": [], "parameters": {} })),
    );
    let pulled = server.flowgate(&dir, &["pull", "--only-known"]);
    assert_eq!(pulled.status.code(), Some(1), "{}", out(&pulled));
    assert!(out(&pulled).contains("2 strategies"), "{}", out(&pulled));
    let document = flowgate_config::read_file(&dir.join("flowgate.toml")).unwrap();
    assert_eq!(
        document
            .flag(&format!("{run}-two"))
            .unwrap()
            .rules
            .as_ref()
            .unwrap()
            .rollout,
        10
    );
    assert!(
        document.flag(&format!("{run}-regex")).is_some(),
        "file-only flags stay"
    );
    assert_eq!(
        document.flags.len(),
        3,
        "--only-known: no flag of other runs came in"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
