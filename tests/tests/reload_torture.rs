//! The watched rules file survives every way a file is saved, while gates run on other
//! threads: written in place in several writes, truncated to 0 bytes and written later,
//! replaced by rename, deleted and created again, its directory removed and made again,
//! a symlink whose target is edited or swapped, and the Kubernetes `ConfigMap` layout
//! (`..data` swapped to a new directory). After each way, gates decide from the last
//! good rules, never from none, and the next good save is picked up.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowgate::engine::{Engine, ReloadState};
use flowgate::{Client, Labels};

/// Version `n` of the rules: `Torture` on, and `V{n}` declared on.
fn version(n: u32) -> String {
    format!(
        "# version {n}\n[flags.Torture]\nenabled = true\nrollout = 100\n\n[flags.V{n}]\nenabled = true\n"
    )
}

struct Bench {
    dir: PathBuf,
    engine: Engine,
    client: Client,
    state: ReloadState,
}

impl Bench {
    /// Waits until version `n` decides.
    fn until_version(&mut self, n: u32) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while !self.client.is_enabled(format!("V{n}"), &Labels::new()) {
            assert!(
                Instant::now() < give_up,
                "version {n} was never picked up: {:?}",
                self.state
            );
            self.state = self
                .engine
                .wait_for_reload(self.state.attempts, Duration::from_secs(1));
        }
    }

    /// Waits until a load fails (a bad save was seen), then checks that version `n`, the
    /// last good one, still decides.
    fn until_refused_keeping(&mut self, n: u32, what: &str) {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            self.state = self
                .engine
                .wait_for_reload(self.state.attempts, Duration::from_secs(1));
            if self.state.last_error.is_some() {
                break;
            }
            assert!(
                Instant::now() < give_up,
                "{what}: never seen ({:?})",
                self.state
            );
        }
        assert!(
            self.client.is_enabled(format!("V{n}"), &Labels::new()),
            "{what}: the last good rules stay ({:?})",
            self.state
        );
    }
}

fn write_in_steps(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).unwrap();
    for part in text.as_bytes().chunks(text.len() / 3 + 1) {
        file.write_all(part).unwrap();
        file.flush().unwrap();
        std::thread::yield_now();
    }
}

fn replace_by_rename(path: &Path, text: &str) {
    let temporary = path.with_extension("swp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[cfg(unix)]
fn swap_symlink(link: &Path, target: &Path) {
    let temporary = link.with_file_name(format!(".swap-{:08x}", fastrand::u32(..)));
    std::os::unix::fs::symlink(target, &temporary).unwrap();
    std::fs::rename(&temporary, link).unwrap();
}

#[cfg(unix)]
#[test]
fn every_way_of_saving_keeps_the_last_good_rules_and_picks_up_the_next() {
    let root = std::env::temp_dir().join(format!(
        "flowgate-torture-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let dir = root.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flowgate.toml");
    std::fs::write(&path, version(0)).unwrap();
    let engine = Engine::watch_file(&path).unwrap();
    let client = Client::new(engine.clone());
    let mut bench = Bench {
        dir: dir.clone(),
        state: engine.reload_state(),
        engine,
        client: client.clone(),
    };

    // Gates on other threads, all along: never a fallback, never an unknown flag.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let gates: Vec<_> = (0..2)
        .map(|_| {
            let (client, stop, calls) = (client.clone(), Arc::clone(&stop), Arc::clone(&calls));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let flow =
                        client.start_flow_blocking("Torture", &Labels::new(), Duration::ZERO);
                    assert!(
                        flow.should_run() && !flow.by_fallback(),
                        "a gate decided from no rules: {:?}",
                        flow.rejection()
                    );
                    flow.end();
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // 1. In place, in several writes.
    write_in_steps(&path, &version(1));
    bench.until_version(1);

    // 2. Truncated to 0 bytes, written later.
    std::fs::File::create(&path).unwrap();
    bench.until_refused_keeping(1, "truncated to 0 bytes");
    std::fs::write(&path, version(2)).unwrap();
    bench.until_version(2);

    // 3. Half a file (it reads, but without `[flags]`), then the rest.
    std::fs::write(&path, "# version 3, being written\n").unwrap();
    bench.until_refused_keeping(2, "half-written");
    std::fs::write(&path, version(3)).unwrap();
    bench.until_version(3);

    // 4. Replaced by rename, as most editors save.
    replace_by_rename(&path, &version(4));
    bench.until_version(4);

    // 5. Deleted, then created again.
    std::fs::remove_file(&path).unwrap();
    bench.until_refused_keeping(4, "deleted");
    std::fs::write(&path, version(5)).unwrap();
    bench.until_version(5);

    // 6. Its directory removed, then made again.
    std::fs::remove_dir_all(&bench.dir).unwrap();
    bench.until_refused_keeping(5, "directory removed");
    std::fs::create_dir_all(&bench.dir).unwrap();
    std::fs::write(&path, version(6)).unwrap();
    bench.until_version(6);

    // 7. A symlink, whose target (in another directory) is edited in place, then swapped.
    let targets = root.join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    let target_a = targets.join("a.toml");
    std::fs::write(&target_a, version(7)).unwrap();
    swap_symlink(&path, &target_a);
    bench.until_version(7);
    write_in_steps(&target_a, &version(8));
    bench.until_version(8);
    let target_b = targets.join("b.toml");
    std::fs::write(&target_b, version(9)).unwrap();
    swap_symlink(&path, &target_b);
    bench.until_version(9);
    std::fs::remove_file(&target_b).unwrap();
    bench.until_refused_keeping(9, "a dangling symlink");

    // 8. The Kubernetes ConfigMap layout: flowgate.toml -> ..data/flowgate.toml, and
    //    ..data -> a timestamped directory, swapped atomically on each update.
    let configmap = |n: u32| {
        let stamped = dir.join(format!("..2026_11_29_{n:02}"));
        std::fs::create_dir_all(&stamped).unwrap();
        std::fs::write(stamped.join("flowgate.toml"), version(n)).unwrap();
        swap_symlink(&dir.join("..data"), &stamped);
    };
    configmap(10);
    swap_symlink(&path, Path::new("..data/flowgate.toml"));
    bench.until_version(10);
    configmap(11);
    std::fs::remove_dir_all(dir.join("..2026_11_29_10")).unwrap();
    bench.until_version(11);

    stop.store(true, Ordering::Relaxed);
    for gate in gates {
        gate.join().unwrap();
    }
    assert!(calls.load(Ordering::Relaxed) > 0);
    std::fs::remove_dir_all(root).unwrap();
}
