//! The seeded fuzz loop shared by the readers' tests (`config/tests/reader.rs` and
//! `tests/tests/unleash_reader.rs` include this file with `#[path]`: the two crates
//! test different readers with one harness).
//!
//! `FLOWGATE_FUZZ_CASES` cases (default `default_cases`) from `FLOWGATE_FUZZ_SEED` (or
//! a random seed), split over [`SPLITS`] threads, each with its own generator seeded
//! from the seed and its index: the same seed replays the same cases on any machine.
//! On a failure the seed is printed and the panic goes on.

/// Threads the cases are split over: fixed, so that a seed replays anywhere.
pub(crate) const SPLITS: u64 = 2;

/// Runs `case(rng, index)` for every case, on [`SPLITS`] threads.
pub(crate) fn run(default_cases: usize, case: impl Fn(&mut fastrand::Rng, usize) + Sync) {
    let seed = std::env::var("FLOWGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let cases: usize = std::env::var("FLOWGATE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cases);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..SPLITS)
                .map(|split| {
                    let case = &case;
                    scope.spawn(move || {
                        let mut rng = fastrand::Rng::with_seed(
                            seed ^ split.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        );
                        let mut index = usize::try_from(split).unwrap_or(0);
                        while index < cases {
                            case(&mut rng, index);
                            index += usize::try_from(SPLITS).unwrap_or(1);
                        }
                    })
                })
                .collect();
            for worker in workers {
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
    }));
    if let Err(panic) = outcome {
        eprintln!("replay with FLOWGATE_FUZZ_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}

/// A random place in `text` where text may be inserted or cut: a character boundary,
/// the end included.
pub(crate) fn char_boundary(rng: &mut fastrand::Rng, text: &str) -> usize {
    let mut at = rng.usize(..=text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
