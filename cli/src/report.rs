//! How a command reports: what it found (its exit code) and its JSON.

/// What a command found: whether the run is a success for CI.
pub(crate) enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Something to fix: exit 1.
    Findings,
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values print")
    );
}
