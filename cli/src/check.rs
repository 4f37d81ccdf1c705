//! `flowgate check [FILE]`: the file read and checked by `flowgate_config`, with the
//! checks the attribute (at compile time) and the runtime (at every load) make, so that
//! the command, the build and the service agree on what is a mistake. It lists every
//! mistake in the flags' values (`read_file_all`); the build and the runtime stop at the
//! first.

use std::path::Path;

use serde_json::json;

use crate::report::{print_json, say, Outcome};

pub(crate) fn run(file: &Path, json: bool) -> Result<Outcome, String> {
    // What keeps the command from reading the file at all is exit 2, not a finding.
    if file.is_dir() {
        return Err(format!("{}: a directory, not a rules file", file.display()));
    }
    if let Err(error) = std::fs::File::open(file) {
        return Err(if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{}: no such file (give the path: `flowgate check path/to/flowgate.toml`)",
                file.display()
            )
        } else {
            format!("{}: {error}", file.display())
        });
    }
    match flowgate_config::read_file_all(file) {
        Ok(document) => {
            let flags = document.flags.len();
            let with_rules = document.flags.iter().filter(|f| f.rules.is_some()).count();
            let with_limits = document
                .flags
                .iter()
                .filter(|f| !f.limits.is_empty())
                .count();
            if json {
                print_json(&json!({
                    "file": file.display().to_string(),
                    "ok": true,
                    "flags": flags,
                    "with_rules": with_rules,
                    "with_limits": with_limits,
                }));
            } else {
                say!(
                    "{}: ok, {flags} flag{} ({with_rules} with rules, {with_limits} with limits)",
                    file.display(),
                    if flags == 1 { "" } else { "s" }
                );
            }
            Ok(Outcome::Clean)
        }
        Err(errors) => {
            if json {
                let errors: Vec<_> = errors
                    .iter()
                    .map(|error| {
                        json!({
                            "origin": error.origin(),
                            "line": error.line(),
                            "column": error.column(),
                            "flag": error.flag(),
                            "key": error.key(),
                            "message": error.message(),
                        })
                    })
                    .collect();
                print_json(&json!({
                    "file": file.display().to_string(),
                    "ok": false,
                    "error": errors[0],
                    "errors": errors,
                }));
            } else {
                for error in &errors {
                    say!("{error}");
                }
            }
            Ok(Outcome::Findings)
        }
    }
}
