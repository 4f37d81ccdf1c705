//! Reloading 1 000, 10 000 and 100 000 flags while the previous rules stay alive (as in
//! a running service, where gates read the old snapshot until the new one is swapped
//! in): time per reload, and the process's resident memory before and at its peak.
//!
//! `cargo bench -p flowgate-benches --bench reload`
//!
//! Each size and format runs in a child process of its own (this binary again), so
//! that one run's memory does not count in the next: the child loads the rules once,
//! notes its resident memory (steady), resets the kernel's peak (`/proc/self/clear_refs`),
//! reloads five times with the old rules alive, and reports the median time and the
//! peak (`VmHWM`). Linux only.

use std::process::Command;
use std::time::{Duration, Instant};

use flowgate::engine::Engine;
use flowgate_benches::service::{many_flags_json, many_flags_toml};

const RELOADS: usize = 5;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or(0)
}

/// In the child: `format` is `toml`, `json`, or `toml-parse` (the `toml` crate's own
/// parse of the same text, alone: the floor of a `flowgate.toml` reload). The rules are
/// read from a file on every reload, as a watched file is, so that the text is not
/// counted in the steady memory.
fn child(format: &str, count: usize) {
    let path = std::env::temp_dir().join(format!("flowgate-reload-{}", std::process::id()));
    let text = if format == "json" {
        many_flags_json(count)
    } else {
        many_flags_toml(count)
    };
    std::fs::write(&path, text).unwrap();
    let read = || std::fs::read_to_string(&path).unwrap();
    let mut times: Vec<Duration> = Vec::with_capacity(RELOADS);
    let (steady, peak) = match format {
        "toml" => {
            let engine = Engine::from_toml_str(&read()).unwrap();
            let steady = status_kib("VmRSS");
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            for _ in 0..RELOADS {
                let start = Instant::now();
                engine.replace_from_toml_str(&read()).unwrap();
                times.push(start.elapsed());
            }
            (steady, status_kib("VmHWM"))
        }
        "toml-parse" => {
            let steady = status_kib("VmRSS");
            for _ in 0..RELOADS {
                let text = read();
                let start = Instant::now();
                let parsed = toml::de::DeTable::parse(&text).unwrap();
                times.push(start.elapsed());
                drop(std::hint::black_box(parsed));
            }
            (steady, status_kib("VmHWM"))
        }
        _ => {
            let mut current = flowgate::unleash::Unleash::from_json(&read()).unwrap();
            let steady = status_kib("VmRSS");
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            for _ in 0..RELOADS {
                let start = Instant::now();
                // The new state is compiled while the old one is alive, then replaces it.
                let next = flowgate::unleash::Unleash::from_json(&read()).unwrap();
                times.push(start.elapsed());
                current = next;
            }
            drop(current);
            (steady, status_kib("VmHWM"))
        }
    };
    let _ = std::fs::remove_file(&path);
    times.sort();
    let median = times[RELOADS / 2];
    println!("{} {} {}", median.as_micros(), steady, peak);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [format, count] = args.as_slice() {
        child(format, count.parse().expect("a flag count"));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!("reload with the previous rules alive (median of {RELOADS}; memory resident, MiB)");
    println!(
        "  {:<34} {:>8} {:>10} {:>10} {:>10} {:>7}",
        "format", "flags", "reload", "steady", "peak", "peak/steady"
    );
    for format in ["toml", "toml-parse", "json"] {
        for count in [1_000, 10_000, 100_000] {
            let output = Command::new(&exe)
                .arg(format)
                .arg(count.to_string())
                .output()
                .expect("run the child");
            let text = String::from_utf8_lossy(&output.stdout);
            let numbers: Vec<u64> = text
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            let [micros, steady, peak] = numbers[..] else {
                panic!("child failed: {}", String::from_utf8_lossy(&output.stderr));
            };
            #[allow(clippy::cast_precision_loss)]
            let (ms, steady_mib, peak_mib) = (
                micros as f64 / 1000.0,
                steady as f64 / 1024.0,
                peak as f64 / 1024.0,
            );
            println!(
                "  {:<34} {:>8} {:>8.1}ms {:>10.1} {:>10.1} {:>10.2}x",
                match format {
                    "toml" => "flowgate.toml",
                    "toml-parse" => "toml crate's parse alone (floor)",
                    _ => "Unleash JSON",
                },
                count,
                ms,
                steady_mib,
                peak_mib,
                peak_mib / steady_mib
            );
        }
    }
}
