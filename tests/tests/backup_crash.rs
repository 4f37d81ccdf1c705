//! The Unleash backup is never half a file, however the process dies: a child process
//! fetches two large states in turn, writing each to the backup, and is killed with
//! SIGKILL at a random moment, again and again; after each kill the backup reads as
//! one whole state, and the next start removes what the dead writer left behind.
//!
//! The child is this test binary run again (`child_writes_backups_until_killed`, ignored
//! in a plain run, started with `FLOWGATE_CRASH_CHILD` set).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowgate::unleash::{Unleash, UnleashConfig};
use flowgate_tests::stand_in::{Reply, StandIn};

/// A features document of `count` flags named `{prefix}-{i}`: large enough that writing
/// it takes a while.
fn state(prefix: &str, count: usize) -> String {
    let features: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"name": "{prefix}-{i}", "enabled": true, "strategies": [{{"name": "flexibleRollout", "parameters": {{"rollout": "50", "stickiness": "default", "groupId": "{prefix}-{i}"}}}}]}}"#
            )
        })
        .collect();
    format!(r#"{{"version": 2, "features": [{}]}}"#, features.join(","))
}

#[test]
#[ignore = "the child of `a_backup_is_never_half_a_file_whatever_kills_the_writer`"]
fn child_writes_backups_until_killed() {
    let Ok(spec) = std::env::var("FLOWGATE_CRASH_CHILD") else {
        return;
    };
    let (url, backup) = spec.split_once('|').unwrap();
    let unleash = Unleash::start(
        UnleashConfig::new(url, "crash-child", "default:development.x")
            .refresh_interval(Duration::from_millis(1))
            .backup_path(backup),
    )
    .unwrap();
    // Until killed.
    loop {
        let stats = unleash.handle().stats();
        unleash
            .handle()
            .wait_for_fetch(stats.fetches, Duration::from_secs(3600));
    }
}

#[test]
fn a_backup_is_never_half_a_file_whatever_kills_the_writer() {
    let (first, second) = (state("first", 2_000), state("second", 2_000));
    let server = StandIn::start(
        // Two states in turn, again and again: every fetch writes the backup.
        std::iter::repeat_n([first.clone(), second.clone()], 5_000)
            .flatten()
            .map(|body| Reply::Status(200, body))
            .collect(),
    );
    let dir = std::env::temp_dir().join(format!("flowgate-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let backup = dir.join("unleash.json");
    let me = std::env::current_exe().unwrap();
    let mut rng = fastrand::Rng::new();
    let mut leftovers_seen = 0;
    for round in 0..40 {
        let mut child = Command::new(&me)
            .args([
                "child_writes_backups_until_killed",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(
                "FLOWGATE_CRASH_CHILD",
                format!("{}|{}", server.url, backup.display()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once it has written, at a random point of its writing.
        let give_up = Instant::now() + Duration::from_secs(60);
        let writes_before = server.fetches().len();
        let wanted = writes_before + 2 + rng.usize(..20);
        while server.fetches().len() < wanted {
            assert!(
                Instant::now() < give_up,
                "round {round}: the child never fetched"
            );
            std::thread::yield_now();
        }
        if round % 2 == 0 {
            // A moment into that fetch: receiving, reading, writing or renaming.
            let moment = Instant::now() + Duration::from_micros(rng.u64(..8_000));
            while Instant::now() < moment {
                std::hint::spin_loop();
            }
        } else {
            // The moment its temporary file appears: in the middle of a write.
            let temporary = dir.join(format!(".unleash.json.{}.tmp", child.id()));
            while !temporary.exists() {
                assert!(
                    Instant::now() < give_up,
                    "round {round}: the child never wrote"
                );
                std::hint::spin_loop();
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let text = std::fs::read_to_string(&backup).unwrap();
        assert!(
            text == first || text == second,
            "round {round}: the backup is not one whole state ({} bytes)",
            text.len()
        );
        leftovers_seen += std::fs::read_dir(&dir).unwrap().count() - 1;
    }
    assert!(
        leftovers_seen > 0,
        "no kill landed in the middle of a write"
    );
    // A start removes what dead writers left (and serves the backup).
    let unleash = Unleash::start(
        UnleashConfig::new(
            flowgate_tests::unanswered_unleash_url(),
            "crash-reader",
            "x",
        )
        .refresh_interval(Duration::from_secs(3600))
        .backup_path(&backup),
    )
    .unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("unleash.json")],
        "leftovers removed"
    );
    assert_eq!(unleash.flags().len(), 2_000, "the backup is served");
    unleash.handle().shutdown();
    eprintln!("temporary files left by killed writers over 40 rounds: {leftovers_seen}");
    std::fs::remove_dir_all(dir).unwrap();
}
