//! How a command reports: what it found (its exit code) and its JSON.

/// What a command found: whether the run is a success for CI.
pub(crate) enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Something to fix: exit 1.
    Findings,
}

/// `println!` that does not panic when stdout is gone (`flowgate stale | head -1`):
/// what cannot be written is dropped, and the command ends with its own exit code.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use say;

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values print")
    );
}
