//! The `flowgate` binary as users run it: fixture trees written to a temp directory,
//! the built binary run on them, its output and exit code checked (0 clean, 1
//! findings, 2 could not run). Every error class of `check` comes out placed.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "flowgate-cli-{name}-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&root).unwrap();
        Self { root }
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(args)
            .current_dir(&self.root)
            .env_remove("UNLEASH_API_TOKEN")
            .output()
            .unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

/// The rollout step of an explanation printed with `--json`.
fn rollout_step(json: &serde_json::Value) -> &serde_json::Value {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "rollout")
        .expect("a rollout step")
}

/// The command ended with `code`, and its stderr says `says`.
fn ends(output: &Output, code: i32, says: &str) {
    assert_eq!(self::code(output), code, "{}", stderr(output));
    assert!(stderr(output).contains(says), "{}", stderr(output));
}

const RULES: &str = r#"[flags.Checkout]
rollout = 37
stickiness = "userId"
constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
rate_limit = { limit = 100, per = "1s" }

[flags.Everyone]
enabled = true

[flags.Gone]
enabled = false

[flags.delete_survey_flag]
rollout = 0

[flags.Declared]
fallback = "accept"
"#;

#[test]
fn check_passes_a_good_file_and_says_what_it_holds() {
    let tree = Tree::new("check-ok");
    tree.write("flowgate.toml", RULES);
    let output = tree.run(&["check"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "flowgate.toml: ok, 5 flags (4 with rules, 1 with limits)\n"
    );
    let output = tree.run(&["check", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["flags"], 5);
}

/// Every class of mistake, as a careless editor makes it: one line of output placed at
/// `file:line:col` with the flag and key, exit 1; the same in JSON.
#[test]
fn check_places_every_error_class() {
    let cases: &[(&str, &str, &str)] = &[
        ("[flags.A]\nrollout = 140\n", "flowgate.toml:2:11: flag `A`, key `rollout`", "0 to 100"),
        ("[flags.A]\nrolout = 40\n", "flowgate.toml:2:1: flag `A`, key `rolout`", "rollout"),
        ("[flags.A]\nconstraints = [{ label = \"v\", operator = \"SEMVER_GT\", value = \"two\" }]\n", "flowgate.toml:2:", "version"),
        ("[flags.A]\nconstraints = [{ label = \"r\", operator = \"LIKE\", values = [\"x\"] }]\n", "flowgate.toml:2:", "operator"),
        ("[flags.A]\nfallback = \"maybe\"\n", "flowgate.toml:2:12: flag `A`, key `fallback`", "accept"),
        ("[flags.A]\nrate_limit = { limit = 0, per = \"1s\" }\n", "flowgate.toml:2:", "limit"),
        ("[flags.A]\nrollout = 5\n[flags.A]\n", "flowgate.toml:3:", "A"),
        ("[flags.A\n", "flowgate.toml:1:", ""),
        ("", "flowgate.toml: ", "no `[flags]` table"),
        ("[flags.A]\nvariants = [{ name = \"x\", weight = 1 }, { name = \"x\", weight = 1 }]\n", "flowgate.toml:2:", "x"),
    ];
    for (text, place, word) in cases {
        let tree = Tree::new("check-bad");
        tree.write("flowgate.toml", text);
        let output = tree.run(&["check"]);
        assert_eq!(code(&output), 1, "{text:?}: {}", stderr(&output));
        let out = stdout(&output);
        assert!(out.starts_with(place), "{text:?}: {out}");
        assert!(out.contains(word), "{text:?}: {out}");
        assert_eq!(out.lines().count(), 1, "{out}");
        let output = tree.run(&["--json", "check"]);
        assert_eq!(code(&output), 1);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["ok"], false);
        assert!(json["error"]["message"].as_str().unwrap().len() > 3);
    }
    // Not UTF-8: placed at the bad byte.
    let tree = Tree::new("check-bytes");
    std::fs::write(
        tree.root.join("flowgate.toml"),
        b"[flags.A]\nrollout = \xff\n",
    )
    .unwrap();
    let output = tree.run(&["check"]);
    assert_eq!(code(&output), 1);
    assert!(
        stdout(&output).starts_with("flowgate.toml:2:11: the file is not UTF-8"),
        "{}",
        stdout(&output)
    );
}

/// Several flags with mistakes: every one is listed, in the file's order.
#[test]
fn check_lists_every_mistake() {
    let tree = Tree::new("check-all");
    tree.write(
        "flowgate.toml",
        "[flags.Zed]\nrollout = 140\n\n[flags.Ok]\nrollout = 5\n\n[flags.Alpha]\nfallback = \"maybe\"\n",
    );
    let output = tree.run(&["check"]);
    assert_eq!(code(&output), 1);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("flowgate.toml:2:11: flag `Zed`"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("flowgate.toml:8:12: flag `Alpha`"),
        "{out}"
    );
    let output = tree.run(&["--json", "check"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["errors"].as_array().unwrap().len(), 2);
    assert_eq!(json["error"]["flag"], "Zed");
}

#[test]
fn check_of_a_missing_file_cannot_run() {
    let tree = Tree::new("check-missing");
    ends(
        &tree.run(&["check", "nowhere.toml"]),
        2,
        "nowhere.toml: no such file",
    );
}

#[test]
fn explain_tells_the_decision_and_the_limits() {
    let tree = Tree::new("explain");
    tree.write("flowgate.toml", RULES);
    let output = tree.run(&[
        "explain",
        "Checkout",
        "--label",
        "userId=42",
        "-l",
        "region=ap",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "Checkout: off\n  strategy 1 (rollout 37% by userId): no match\n    constraint region IN (2 values): `ap`: no match\n  limits: rate 100 per 1s (burst 100)\n"
    );
    // In the region: the rollout bucket decides, as the library does.
    let client = flowgate::Client::from_toml_str(RULES).unwrap();
    for user in 0..40 {
        let id = format!("user-{user}");
        let output = tree.run(&[
            "--json",
            "explain",
            "Checkout",
            "-l",
            &format!("userId={id}"),
            "-l",
            "region=eu",
        ]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let on = client.is_enabled(
            "Checkout",
            &flowgate::labels! { "userId" => id.as_str(), "region" => "eu" },
        );
        assert_eq!(json["enabled"], on, "{id}");
        let rollout = rollout_step(&json);
        assert_eq!(rollout["value"], id.as_str());
        assert_eq!(rollout["bucket"].as_u64().unwrap() <= 37, on);
        assert_eq!(json["limits"], "rate 100 per 1s (burst 100)");
    }
}

#[test]
fn explain_says_what_is_wrong_with_its_input() {
    let tree = Tree::new("explain-bad");
    tree.write("flowgate.toml", RULES);
    for (args, says) in [
        (
            &["explain", "Chekout"][..],
            "no flag `Chekout` in flowgate.toml; did you mean `Checkout`?",
        ),
        (
            &["explain", "Checkout", "-l", "userId"][..],
            "write a label as NAME=VALUE",
        ),
        (
            &["explain", "Checkout", "-l", "=3"][..],
            "the label has no name",
        ),
        (
            &["explain", "Checkout", "--file", "other.toml"][..],
            "other.toml",
        ),
        (
            &["explain", "Checkout", "--unleash", "http://127.0.0.1:9/api"][..],
            "UNLEASH_API_TOKEN",
        ),
    ] {
        let output = tree.run(args);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// A flag with no rules is an answer (its fallback), not a failure; a label's spaces
/// around `=` are not part of it; stdout closed early is no panic.
#[test]
fn explain_answers_for_declared_flags_and_forgives_spaces() {
    let tree = Tree::new("explain-declared");
    tree.write("flowgate.toml", RULES);
    let output = tree.run(&["explain", "Declared"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "Declared: no rules in flowgate.toml; its fallback decides every call (accept: every call runs)\n"
    );
    let spaced = tree.run(&[
        "--json",
        "explain",
        "Checkout",
        "-l",
        "userId = 42",
        "-l",
        " region=eu ",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&spaced.stdout).unwrap();
    let rollout = rollout_step(&json);
    assert_eq!(rollout["value"], "42");
    // Random stickiness with no user: said to be a draw.
    tree.write("flowgate.toml", "[flags.Coin]\nrollout = 50\n");
    let output = tree.run(&["explain", "Coin"]);
    assert!(
        stdout(&output).contains("no value to hash, so a random bucket"),
        "{}",
        stdout(&output)
    );
    // A reader that stops early: no panic, the command's own exit code.
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["explain", "Coin"])
        .current_dir(&tree.root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn check_of_a_directory_or_unreadable_file_cannot_run() {
    let tree = Tree::new("check-dir");
    std::fs::create_dir_all(tree.root.join("rules.toml")).unwrap();
    let output = tree.run(&["check", "rules.toml"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("a directory"),
        "{}",
        stderr(&output)
    );
    let output = tree.run(&["--json", "check", "--file", "missing.toml"]);
    assert_eq!(code(&output), 2);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["error"].as_str().unwrap().contains("no such file"));
}

/// Names that only look like flags do not count as uses; files that do not read as
/// Rust still count by their text; an empty tree is an error, not "all unused".
#[test]
fn stale_is_not_fooled_by_look_alikes() {
    let tree = Tree::new("stale-lookalikes");
    tree.write(
        "flowgate.toml",
        "[flags.Killed]\nrollout = 50\n[flags.Half]\nrollout = 50\n[flags.Limited]\nconcurrency = { max = 2 }\n",
    )
    .write("src/state.rs", "enum State { Killed, Limited }")
    .write("src/half.rs", "fn broken( { client.is_enabled(\"Half\", &l)");
    let output = tree.run(&["--json", "stale"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["unused"],
        serde_json::json!(["Killed", "Limited"]),
        "{json}"
    );
    assert_eq!(
        json["always_on"],
        serde_json::json!([]),
        "a limited flag still does flow control"
    );
    let empty = Tree::new("stale-empty");
    empty.write("flowgate.toml", "[flags.A]\nrollout = 50\n");
    std::fs::create_dir_all(empty.root.join("src")).unwrap();
    ends(&empty.run(&["stale"]), 2, "no .rs files under src");
}

#[test]
fn stale_finds_unused_and_constant_flags_in_real_sources() {
    let tree = Tree::new("stale");
    tree.write("flowgate.toml", RULES)
        .write(
            "src/main.rs",
            r##"
            // A comment naming "Everyone" does not count.
            #[flowgate::feature_gate("Checkout", timeout = "1s")]
            async fn checkout() {}
            fn handle() -> bool { client.is_enabled(flags::DeleteSurveyFlag, &labels) }
            fn raw() -> &'static str { r#"Gone"# }
            "##,
        )
        .write("src/target/ignored.rs", "\"Declared\"")
        .write("target/debug/build.rs", "\"Declared\"")
        .write("src/broken.rs", "fn broken( {");
    let output = tree.run(&["stale"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("Everyone            unused"), "{out}");
    assert!(out.contains("Declared            unused"), "{out}");
    assert!(!out.contains("Checkout            unused"), "{out}");
    assert!(
        !out.contains("delete_survey_flag  unused"),
        "the typed handle counts: {out}"
    );
    assert!(
        !out.contains("Gone                unused"),
        "a raw string counts: {out}"
    );
    assert!(out.contains("Everyone            always on"), "{out}");
    assert!(out.contains("Gone                always off"), "{out}");
    assert!(out.contains("delete_survey_flag  always off"), "{out}");
    assert!(
        stderr(&output).contains("broken.rs: not Rust tokens"),
        "{}",
        stderr(&output)
    );

    let output = tree.run(&["--json", "stale"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["unused"], serde_json::json!(["Declared", "Everyone"]));
    assert_eq!(json["sources"], 2);

    let clean = Tree::new("stale-clean");
    clean
        .write("flowgate.toml", "[flags.A]\nrollout = 50\n")
        .write("src/lib.rs", "fn f() { gate(\"A\") }");
    let output = clean.run(&["stale"]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(stdout(&output).contains("no stale flags (1 flags, 1 source files)"));

    let output = clean.run(&["stale", "--src", "nowhere"]);
    assert_eq!(code(&output), 2);
}

/// A typed handle is named as the macro names it, for every shape of name.
#[test]
fn stale_reads_typed_handles_as_the_macro_names_them() {
    for (flag, handle) in [
        ("new.checkout", "NewCheckout"),
        ("beta-2", "Beta2"),
        ("2fa", "Flag2fa"),
    ] {
        let tree = Tree::new("handles");
        tree.write(
            "flowgate.toml",
            &format!("[flags.\"{flag}\"]\nrollout = 50\n"),
        )
        .write(
            "src/lib.rs",
            &format!("fn f() {{ c.is_enabled(flags::{handle}, &l) }}"),
        );
        let output = tree.run(&["stale"]);
        assert_eq!(code(&output), 0, "{flag}: {}", stdout(&output));
    }
}
