//! A client's background work ends with the client: dropping the last handle (without
//! `shutdown()`) stops an Unleash source's polling thread and a rules file's watcher, and
//! no request reaches the server after.
//!
//! Alone in its test binary: it counts the process's threads (`/proc/self/task`), which
//! other tests running beside it would change.

use std::time::{Duration, Instant};

use flowgate::engine::Engine;
use flowgate::unleash::{Unleash, UnleashConfig};
use flowgate::Client;
use flowgate_tests::stand_in::{Reply, StandIn};

/// The names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .filter_map(|task| {
            let task = task.ok()?;
            std::fs::read_to_string(task.path().join("comm"))
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .collect()
}

fn flowgate_threads() -> usize {
    threads()
        .iter()
        .filter(|name| name.starts_with("flowgate-"))
        .count()
}

#[test]
fn dropping_twenty_clients_ends_their_threads_and_their_requests() {
    let server = StandIn::start(vec![Reply::Status(
        200,
        r#"{"features": [{"name": "Bg", "enabled": true, "strategies": []}]}"#.into(),
    )]);
    let dir = std::env::temp_dir().join(format!("flowgate-background-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let before = threads().len();
    assert_eq!(flowgate_threads(), 0);

    let mut clients = Vec::new();
    for i in 0..10 {
        let unleash = Unleash::start(
            UnleashConfig::new(
                &server.url,
                format!("background-{i}"),
                "default:development.x",
            )
            .refresh_interval(Duration::from_millis(5))
            .metrics_interval(Duration::from_millis(5))
            .backup_path(None),
        )
        .unwrap();
        let client = Client::new(unleash);
        assert!(
            client.is_ready() || {
                // Wait for the first state, polling the client, not the clock.
                let give_up = Instant::now() + Duration::from_secs(30);
                while !client.is_ready() {
                    assert!(Instant::now() < give_up, "never ready");
                    std::thread::yield_now();
                }
                true
            }
        );
        clients.push(client);
        let path = dir.join(format!("flowgate-{i}.toml"));
        std::fs::write(&path, "[flags.Bg]\nenabled = true\n").unwrap();
        clients.push(Client::new(Engine::watch_file(&path).unwrap()));
    }
    // Each thread names itself once it runs.
    let give_up = Instant::now() + Duration::from_secs(30);
    while flowgate_threads() < 20 {
        assert!(Instant::now() < give_up, "{:?}", threads());
        std::thread::yield_now();
    }
    assert_eq!(flowgate_threads(), 20, "{:?}", threads());

    drop(clients);
    // Nothing was shut down: the last handles going is the only signal.
    let give_up = Instant::now() + Duration::from_secs(60);
    while flowgate_threads() > 0 || threads().len() > before {
        assert!(
            Instant::now() < give_up,
            "threads outlived their clients: {:?}",
            threads()
        );
        std::thread::yield_now();
    }
    // Every thread of theirs, and every thread they started (the HTTP stack's, the file
    // watchers'), is gone: nothing is left that could reach the server.
    assert!(!server.seen().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
