//! Instructions per call of every case, counted by callgrind: repeatable where the
//! timings of `compare` move 20–50% between runs on these shared machines.
//!
//! `cargo bench -p flowgate-benches --bench instructions` runs this binary once per case
//! under `valgrind --tool=callgrind`, collecting only inside [`measured`], and prints
//! instructions per call (the loop's own cost, measured on an empty case, subtracted).
//! Instructions are not nanoseconds: a cache miss or a contended atomic costs far more
//! than its one instruction. They show what the code does, repeatably.
//!
//! - `instructions -- --check benches/instructions.baseline`: fails if a case of the
//!   baseline file counts more than 5% above it (CI runs this).
//! - `instructions -- --write benches/instructions.baseline`: writes the counts there.
//! - `instructions -- <case>` runs one case natively (for `perf`); `--list` lists them.
//!
//! The cases are `flowgate_benches::cases`, the same closures `compare` times.

use std::hint::black_box;
use std::process::Command;

use flowgate_benches::cases::{build, CASES};

/// Calls per case: enough that start-up and the first, cold calls are noise.
const CALLS: u64 = 20_000;

/// How far above its baseline a case may count before `--check` fails.
const TOLERANCE: f64 = 0.05;

/// Calls of a native run (`instructions <case>`): `CALLS` in the environment, for
/// `perf record`, else [`CALLS`].
fn calls() -> u64 {
    std::env::var("CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(CALLS)
}

/// The only function callgrind collects in (`--toggle-collect`): everything the case
/// calls, nothing the set-up does.
#[inline(never)]
fn measured(case: &mut dyn FnMut(u64), calls: u64) {
    for i in 0..calls {
        case(black_box(i));
    }
}

fn run_case(name: &str) -> bool {
    let Some(mut case) = build(name) else {
        return false;
    };
    // Warm: first calls fill caches (call sites, per-thread snapshots).
    for i in 0..100 {
        case(u64::MAX - i);
    }
    let calls = calls();
    let start = std::time::Instant::now();
    measured(&mut *case, calls);
    let elapsed = start.elapsed();
    if std::env::var_os("CALLS").is_some() {
        #[allow(clippy::cast_precision_loss)]
        let per_call = elapsed.as_nanos() as f64 / calls as f64;
        eprintln!("{name}: {per_call:.1} ns per call (wall clock, loop included)");
    }
    true
}

/// Instructions callgrind counted in [`measured`] for one run of `case`.
fn count(case: &str) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file = std::env::temp_dir().join(format!(
        "flowgate-callgrind-{}-{}.out",
        std::process::id(),
        case.replace('/', "_")
    ));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*instructions::measured*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .arg(case)
        .env_remove("CALLS")
        .output()
        .map_err(|e| format!("cannot run valgrind (is it installed?): {e}"))?;
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{case}: valgrind failed:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|line| {
            let (_, collected) = line.split_once("Collected :")?;
            collected.trim().parse().ok()
        })
        .ok_or_else(|| format!("{case}: no instruction count in valgrind's output:\n{stderr}"))
}

/// Instructions per call of every case, the loop's own cost subtracted.
fn count_all(names: &[&str]) -> Vec<(String, f64)> {
    let baseline = count("empty").unwrap_or_else(|e| panic!("{e}"));
    names
        .iter()
        .map(|name| {
            let total = count(name).unwrap_or_else(|e| panic!("{e}"));
            #[allow(clippy::cast_precision_loss)]
            let per_call = total.saturating_sub(baseline) as f64 / CALLS as f64;
            ((*name).to_owned(), per_call)
        })
        .collect()
}

/// `case count` lines; `#` starts a comment.
/// `path` as given from the workspace root (cargo runs benches in the package's folder).
fn from_root(path: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn read_baseline(path: &str) -> Vec<(String, f64)> {
    let path = &from_root(path).display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(name), Some(count)) = (words.next(), words.next()) else {
                panic!("{path}: a line is `case count`: {line:?}");
            };
            let count = count
                .parse()
                .unwrap_or_else(|_| panic!("{path}: not a count: {line:?}"));
            (name.to_owned(), count)
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--list"] => {
            for case in CASES {
                println!(
                    "{:<30} {}{}",
                    case.name,
                    if case.best_case { "(best case) " } else { "" },
                    case.what
                );
            }
        }
        ["--check", path] => {
            let baseline = read_baseline(path);
            let names: Vec<&str> = baseline.iter().map(|(name, _)| name.as_str()).collect();
            let counts = count_all(&names);
            let mut failed = Vec::new();
            println!(
                "instructions per call against {path} (fails above +{:.0}%)",
                TOLERANCE * 100.0
            );
            for ((name, now), (_, then)) in counts.iter().zip(&baseline) {
                let change = now / then - 1.0;
                let verdict = if change > TOLERANCE {
                    "REGRESSED"
                } else {
                    "ok"
                };
                println!(
                    "  {name:<30} {then:>9.1} -> {now:>9.1}  {:>+6.1}%  {verdict}",
                    change * 100.0
                );
                if change > TOLERANCE {
                    failed.push(name.clone());
                }
            }
            if !failed.is_empty() {
                eprintln!(
                    "instruction counts regressed by more than {:.0}%: {}",
                    TOLERANCE * 100.0,
                    failed.join(", ")
                );
                std::process::exit(1);
            }
        }
        ["--write", path] => {
            let names: Vec<&str> = CASES.iter().map(|case| case.name).collect();
            let counts = count_all(&names);
            let mut text = String::from(
                "# Instructions per call of the main cases (callgrind; see benches/benches/instructions.rs).\n\
                 # `.ci/run` fails when one counts more than 5% above its line here.\n\
                 # Regenerate: cargo bench -p flowgate-benches --bench instructions -- --write benches/instructions.baseline\n",
            );
            for (name, count) in &counts {
                use std::fmt::Write as _;
                let _ = writeln!(text, "{name} {count:.1}");
            }
            let file = from_root(path);
            std::fs::write(&file, text).unwrap_or_else(|e| panic!("{path}: {e}"));
            print!("{}", std::fs::read_to_string(&file).unwrap_or_default());
        }
        [case] => {
            if !run_case(case) {
                eprintln!("unknown case {case}; `--list` lists them");
                std::process::exit(2);
            }
        }
        _ => {
            let names: Vec<&str> = CASES.iter().map(|case| case.name).collect();
            println!("instructions per call (callgrind, {CALLS} calls, loop cost subtracted)");
            for (name, count) in count_all(&names) {
                println!("  {name:<30} {count:>9.1}");
            }
        }
    }
}
