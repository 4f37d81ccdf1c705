//! The Unleash backup by default: a fresh process started while the server is down
//! serves what an earlier process fetched, from a file per server, app and environment
//! in the state directory, and says so in `serving()`; the environment turns it off or
//! moves it; a backup too old is not trusted; a `304` keeps its age honest.
//!
//! A process of its own is this test binary run again (`child_starts_an_unleash_client`,
//! ignored in a plain run, started with `FLOWGATE_BACKUP_CHILD` set), with the
//! environment variables a deployment would set. The server is the stand-in of
//! `flowgate_tests::stand_in` (the real one is in `unleash_live.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use flowgate::source::Serving;
use flowgate::unleash::{Bootstrap, Unleash, UnleashConfig};
use flowgate::{labels, Client};
use flowgate_tests::stand_in::{Reply, StandIn};

/// Every variable that moves or turns off the default backup: children start without
/// them, and get only what a test gives.
const LOCATION_VARS: [&str; 4] = [
    "FLOWGATE_STATE_DIR",
    "FLOWGATE_UNLEASH_BACKUP",
    "XDG_STATE_HOME",
    "RUST_LOG",
];

fn state(flags: &[&str]) -> String {
    let features: Vec<String> = flags
        .iter()
        .map(|name| format!(r#"{{"name": "{name}", "enabled": true, "strategies": []}}"#))
        .collect();
    format!(r#"{{"version": 2, "features": [{}]}}"#, features.join(","))
}

/// A child process: starts a client on `url` as `app` with `token` (no backup set in
/// code) and waits for `mode`: `fetch` (a new state came) or `outage` (a fetch
/// failed); then prints what it serves, one `key=value` a line.
#[test]
#[ignore = "the child of the tests in this file: run by them, in a process of its own"]
fn child_starts_an_unleash_client() {
    let Ok(spec) = std::env::var("FLOWGATE_BACKUP_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, app, token, mode, count] = parts[..] else {
        panic!("bad spec {spec}");
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter("flowgate=info")
        .init();
    let unleash = Unleash::start(
        UnleashConfig::new(url, app, token).refresh_interval(Duration::from_millis(20)),
    )
    .unwrap();
    let client = Client::new(unleash.clone());
    let at_start = client.serving();
    let count: u64 = count.parse().unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < give_up,
            "{mode}:{count} never came: {:?}",
            unleash.handle().stats()
        );
        let stats = unleash.handle().stats();
        let done = match mode {
            "fetch" => stats.updates >= count,
            "outage" => stats.failures >= count,
            other => panic!("bad mode {other}"),
        };
        if done {
            break;
        }
        unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(60));
    }
    let backup = unleash
        .backup_path()
        .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
    // On a line of its own: libtest's "test ... " has no newline before it.
    println!("\nbackup={backup}");
    println!("at_start={}", at_start.kind());
    println!("serving={}", client.serving().kind());
    println!("ready={}", client.is_ready());
    println!("flags={}", unleash.flags().join(","));
    unleash.handle().shutdown();
}

/// What a child printed, and its log.
struct Child {
    said: HashMap<String, String>,
    log: String,
}

impl Child {
    fn get(&self, key: &str) -> &str {
        self.said
            .get(key)
            .unwrap_or_else(|| panic!("the child did not say {key}; its log:\n{}", self.log))
    }

    fn warnings(&self, about: &str) -> usize {
        self.log
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(about))
            .count()
    }
}

fn child(env: &[(&str, &Path)], url: &str, app: &str, token: &str, mode: &str) -> Child {
    child_with(env, &[], url, app, token, mode)
}

fn child_with(
    env: &[(&str, &Path)],
    vars: &[(&str, &str)],
    url: &str,
    app: &str,
    token: &str,
    mode: &str,
) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "child_starts_an_unleash_client",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in LOCATION_VARS {
        command.env_remove(var);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let (mode, count) = mode.split_once(':').unwrap_or((mode, "1"));
    command.env(
        "FLOWGATE_BACKUP_CHILD",
        format!("{url}|{app}|{token}|{mode}|{count}"),
    );
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{log}"
    );
    let said = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Child { said, log }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgate-backup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const DEV: &str = "default:development.secret-dev";
const PROD: &str = "default:production.secret-prod";

#[test]
fn a_new_process_serves_the_default_backup_while_the_server_is_down() {
    let server = StandIn::start(vec![
        Reply::Status(200, state(&["delete_survey_flag"])),
        Reply::Status(503, "down".into()),
    ]);
    let home = scratch("xdg");
    let env = [("XDG_STATE_HOME", home.as_path())];

    let first = child(&env, &server.url, "surveys", DEV, "fetch");
    let backup = PathBuf::from(first.get("backup"));
    assert_eq!(backup.parent(), Some(home.join("flowgate").as_path()));
    let name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("unleash-surveys-development-")
            && std::path::Path::new(name).extension() == Some("json".as_ref()),
        "{name}"
    );
    assert!(backup.is_file(), "the state was backed up");
    assert_eq!(first.get("at_start"), "fallback", "no backup yet");
    assert_eq!(first.get("serving"), "live");
    assert!(
        first.log.contains(&backup.display().to_string()),
        "the path is logged"
    );
    assert!(!first.log.contains("secret-dev"), "the token never shows");

    // The server is down now: a fresh process serves the backup, and says so.
    let second = child(&env, &server.url, "surveys", DEV, "outage");
    assert_eq!(second.get("backup"), backup.display().to_string());
    assert_eq!(second.get("at_start"), "backup");
    assert_eq!(second.get("serving"), "backup");
    assert_eq!(second.get("ready"), "true");
    assert_eq!(second.get("flags"), "delete_survey_flag");
    assert_eq!(
        second
            .log
            .matches("serving the Unleash backup until the first fetch")
            .count(),
        1,
        "said once: {}",
        second.log
    );
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn apps_and_environments_never_share_a_backup() {
    let server = StandIn::start(vec![
        Reply::Status(200, state(&["a-dev"])),
        Reply::Status(200, state(&["a-prod"])),
        Reply::Status(200, state(&["b-dev"])),
        Reply::Status(503, "down".into()),
    ]);
    let dir = scratch("apart");
    let env = [("FLOWGATE_STATE_DIR", dir.as_path())];
    let runs = [
        ("a", DEV, "a-dev"),
        ("a", PROD, "a-prod"),
        ("b", DEV, "b-dev"),
    ];
    for (app, token, _) in runs {
        assert_eq!(
            child(&env, &server.url, app, token, "fetch").get("serving"),
            "live"
        );
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "three files");
    for (app, token, flag) in runs {
        let restarted = child(&env, &server.url, app, token, "outage");
        assert_eq!(restarted.get("serving"), "backup");
        assert_eq!(restarted.get("flags"), flag, "{app} with {token}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_environment_turns_the_default_backup_off_or_moves_it() {
    let dir = scratch("off");
    let env = [("FLOWGATE_STATE_DIR", dir.as_path())];
    for off in ["off", "OFF", " none "] {
        let server = StandIn::start(vec![
            Reply::Status(200, state(&["f"])),
            Reply::Status(503, "down".into()),
        ]);
        let vars = [("FLOWGATE_UNLEASH_BACKUP", off)];
        let fetched = child_with(&env, &vars, &server.url, "app", DEV, "fetch");
        assert_eq!(fetched.get("backup"), "none", "{off:?}");
        let restarted = child_with(&env, &vars, &server.url, "app", DEV, "outage");
        assert_eq!(restarted.get("serving"), "fallback");
        assert_eq!(restarted.get("ready"), "false");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );

    let moved = dir.join("here.json");
    let vars = [("FLOWGATE_UNLEASH_BACKUP", moved.to_str().unwrap())];
    let server = StandIn::start(vec![
        Reply::Status(200, state(&["g"])),
        Reply::Status(503, "down".into()),
    ]);
    child_with(&env, &vars, &server.url, "app", DEV, "fetch");
    assert!(moved.is_file());
    let restarted = child_with(&env, &vars, &server.url, "app", DEV, "outage");
    assert_eq!(restarted.get("serving"), "backup");
    assert_eq!(restarted.get("flags"), "g");
    let _ = std::fs::remove_dir_all(dir);
}

/// A state directory that is a file: the backup cannot be made. Said once each, however
/// many states come, and every state is served all the same.
#[test]
fn a_backup_that_cannot_be_kept_is_said_once_and_flags_still_serve() {
    let states: Vec<Reply> = (0..6)
        .map(|i| Reply::Status(200, state(&[&format!("v{i}")])))
        .collect();
    let server = StandIn::start(states);
    let dir = scratch("unwritable");
    let blocker = dir.join("not-a-directory");
    std::fs::write(&blocker, "a file").unwrap();
    let env = [("FLOWGATE_STATE_DIR", blocker.as_path())];
    let run = child(&env, &server.url, "app", DEV, "fetch:5");
    assert_eq!(run.get("serving"), "live");
    assert_eq!(run.get("flags"), "v4", "every new state served");
    assert_eq!(
        run.warnings("cannot create the Unleash backup"),
        1,
        "{}",
        run.log
    );
    assert_eq!(
        run.warnings("cannot write the Unleash backup"),
        1,
        "{}",
        run.log
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn age_backup(path: &Path, by: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_backup_older_than_max_backup_age_gives_way_to_the_bootstrap() {
    let dir = scratch("age");
    let path = dir.join("backup.json");
    std::fs::write(&path, state(&["FromBackup"])).unwrap();
    age_backup(&path, 2 * DAY);
    let config = || {
        UnleashConfig::new(flowgate_tests::unanswered_unleash_url(), "app", DEV)
            .refresh_interval(Duration::from_secs(3600))
            .backup_path(&path)
            .bootstrap(Bootstrap::Json(state(&["FromBootstrap"])))
    };

    // Any age is trusted by default, and the age shows.
    let trusting = Unleash::start(config()).unwrap();
    let serving = Client::new(trusting.clone()).serving();
    assert!(
        matches!(&serving, Serving::Backup { path: p, .. } if *p == path),
        "{serving:?}"
    );
    assert!(serving.age().unwrap() + MINUTE >= 2 * DAY);
    assert!(serving.to_string().starts_with("backup "), "{serving}");
    let json = serde_json::to_value(&serving).unwrap();
    assert_eq!(json["serving"], "backup");
    assert!(json["age_seconds"].as_u64().unwrap() >= 2 * 24 * 3600 - 60);
    assert_eq!(trusting.flags(), ["FromBackup"]);
    trusting.handle().shutdown();

    let careful = Unleash::start(config().max_backup_age(DAY)).unwrap();
    let client = Client::new(careful.clone());
    assert_eq!(client.serving(), Serving::Bootstrap);
    assert!(client.is_enabled("FromBootstrap", &labels! {}));
    assert!(!client.is_enabled("FromBackup", &labels! {}));
    careful.handle().shutdown();

    // Nothing to serve instead: not ready, every flag on its fallback.
    let bare = Unleash::start(
        UnleashConfig::new(flowgate_tests::unanswered_unleash_url(), "app", DEV)
            .refresh_interval(Duration::from_secs(3600))
            .backup_path(&path)
            .max_backup_age(DAY),
    )
    .unwrap();
    assert_eq!(Client::new(bare.clone()).serving(), Serving::Fallback);
    assert!(!Client::new(bare.clone()).is_ready());
    bare.handle().shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// The age of a backup is since the server last confirmed it: a `304` counts.
#[test]
fn a_not_modified_reply_marks_the_backup_confirmed() {
    let server = StandIn::start(vec![
        Reply::Status(200, state(&["f"])),
        Reply::Status(304, String::new()),
    ]);
    let dir = scratch("confirmed");
    let path = dir.join("backup.json");
    let unleash = Unleash::start(
        UnleashConfig::new(&server.url, "app", DEV)
            .refresh_interval(Duration::from_millis(10))
            .backup_path(&path),
    )
    .unwrap();
    let mut stats = unleash.handle().stats();
    while stats.updates == 0 {
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(60));
    }
    age_backup(&path, DAY);
    let not_modified = stats.not_modified;
    while stats.not_modified < not_modified + 2 {
        stats = unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(60));
    }
    let confirmed = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(
        confirmed.elapsed().unwrap_or_default() < DAY / 2,
        "the 304 did not touch the backup"
    );
    assert_eq!(unleash.serving(), Serving::Live);
    unleash.handle().shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// `backup_path` takes the forms people write, and `None` for no backup.
#[test]
fn backup_path_takes_paths_and_none() {
    let dir = scratch("forms");
    let as_string = dir.join("s.json").display().to_string();
    let configs = [
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t").backup_path(as_string.as_str()),
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t").backup_path(as_string.clone()),
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t").backup_path(&as_string),
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t").backup_path(dir.join("s.json")),
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t")
            .backup_path(dir.join("s.json").as_path()),
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t")
            .backup_path(Some(dir.join("s.json"))),
    ];
    for config in configs {
        let unleash = Unleash::start(config.refresh_interval(Duration::from_secs(3600))).unwrap();
        assert_eq!(unleash.backup_path(), Some(dir.join("s.json").as_path()));
        unleash.handle().shutdown();
    }
    let none = Unleash::start(
        UnleashConfig::new("http://127.0.0.1:1/api", "a", "t")
            .refresh_interval(Duration::from_secs(3600))
            .backup_path(None),
    )
    .unwrap();
    assert_eq!(none.backup_path(), None);
    none.handle().shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
