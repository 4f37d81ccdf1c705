//! `flowgate stale [--src DIR] [--file F]`: flags to clean up.
//!
//! - **Unused**: declared in the file, named nowhere in the sources. A flag counts as
//!   used when a `.rs` file under `--src` has a string literal equal to its name (a
//!   gate, `is_enabled("X")`, a layer) or its typed handle at the end of a path
//!   (`flags::X`, named by `flowgate_config::handle_name`, as the macro names it). The
//!   files are read as Rust tokens (`proc-macro2`), so comments do not count (a file
//!   that does not read as tokens is searched as text); names built at run time cannot
//!   be seen, so a flag named only that way shows as unused.
//! - **Always on / always off**: rules that decide the same for every call (off, a 0%
//!   rollout, or on for everyone with no constraints, variants or limits): the gate
//!   can go.
//! - **Unseen** (with `--unleash`): flags of the file that no client evaluated in the
//!   last `--days` days, from Unleash's own last-seen data.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use serde_json::json;

use crate::report::{print_json, say, Outcome};

/// Sources larger than this are skipped (generated code), and said so.
const MAX_SOURCE_BYTES: u64 = 8 << 20;

pub(crate) fn run(
    src: &Path,
    file: &Path,
    server: Option<(&str, &str, u32)>,
    json: bool,
) -> Result<Outcome, String> {
    let document = flowgate_config::read_file(file).map_err(|e| e.to_string())?;
    if !src.is_dir() {
        return Err(format!("--src {}: not a directory", src.display()));
    }
    let (files, seen, skipped) = scan(src)?;
    let mut found = Findings::of(&document, &seen);
    if let Some((url, project, days)) = server {
        found.unseen = unseen(&document, url, project, days)?;
    }
    if json {
        print_json(&json!({
            "file": file.display().to_string(),
            "sources": files,
            "unused": found.unused,
            "always_on": found.always_on,
            "always_off": found.always_off,
            "unseen": found.unseen,
            "skipped": skipped,
        }));
    } else {
        for note in &skipped {
            eprintln!("flowgate: {note}");
        }
        found.print(&document, file, files);
    }
    Ok(if found.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// Reads every `.rs` file under `src`: how many, what they name, and the files that
/// could not be read (said, not fatal).
fn scan(src: &Path) -> Result<(usize, Seen, Vec<String>), String> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut visited = HashSet::new();
    collect(src, &mut files, &mut skipped, &mut visited);
    if files.is_empty() {
        return Err(format!(
            "no .rs files under {} (give the sources with --src DIR)",
            src.display()
        ));
    }
    let mut seen = Seen::default();
    for path in &files {
        match std::fs::metadata(path) {
            Ok(meta) if meta.len() > MAX_SOURCE_BYTES => {
                skipped.push(format!("{}: larger than 8 MiB, skipped", path.display()));
                continue;
            }
            Err(error) => {
                skipped.push(format!("{}: {error}", path.display()));
                continue;
            }
            Ok(_) => {}
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                skipped.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        match text.parse::<TokenStream>() {
            Ok(tokens) => seen.scan(tokens),
            // Half-written code still names its flags: read its text instead.
            Err(error) => {
                skipped.push(format!(
                    "{}: not Rust tokens ({error}); its text searched instead",
                    path.display()
                ));
                seen.text.push(text);
            }
        }
    }
    Ok((files.len(), seen, skipped))
}

/// The stale flags, by kind, in the file's order.
struct Findings {
    unused: Vec<String>,
    always_on: Vec<String>,
    always_off: Vec<String>,
    /// Flags the server has that no client evaluated in the window, and when one
    /// last did (`None`: never).
    unseen: Vec<(String, Option<String>)>,
}

/// The file's flags that Unleash says no client evaluated in the last `days` days.
fn unseen(
    document: &flowgate_config::Document,
    url: &str,
    project: &str,
    days: u32,
) -> Result<Vec<(String, Option<String>)>, String> {
    let admin = crate::admin::Admin::new(url, project)?;
    let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * i64::from(days));
    let mut unseen = Vec::new();
    for (name, last) in admin.last_seen()? {
        if document.flag(&name).is_none() {
            continue;
        }
        let recent = last
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .is_some_and(|t| t >= cutoff);
        if !recent {
            unseen.push((name, last));
        }
    }
    Ok(unseen)
}

impl Findings {
    fn of(document: &flowgate_config::Document, seen: &Seen) -> Self {
        let mut found = Findings {
            unused: Vec::new(),
            always_on: Vec::new(),
            always_off: Vec::new(),
            unseen: Vec::new(),
        };
        for flag in &document.flags {
            if !seen.names(&flag.name) {
                found.unused.push(flag.name.clone());
            }
            if let Some(rules) = &flag.rules {
                if !rules.enabled || rules.rollout == 0 {
                    found.always_off.push(flag.name.clone());
                } else if rules.rollout >= 100
                    && flag.limits.is_empty()
                    && rules.constraints.is_empty()
                    && rules.variants.is_empty()
                    && matches!(rules.stickiness.as_str(), "default" | "random")
                {
                    found.always_on.push(flag.name.clone());
                }
            }
        }
        found
    }

    fn is_empty(&self) -> bool {
        self.unused.is_empty()
            && self.always_on.is_empty()
            && self.always_off.is_empty()
            && self.unseen.is_empty()
    }

    fn print(&self, document: &flowgate_config::Document, file: &Path, sources: usize) {
        if self.is_empty() {
            say!(
                "{}: no stale flags ({} flags, {sources} source files)",
                file.display(),
                document.flags.len(),
            );
            return;
        }
        let width = document
            .flags
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        say!("{:width$}  finding", "flag");
        for (names, why) in [
            (&self.unused, "unused: named in no source file"),
            (&self.always_on, "always on: no constraints, 100%"),
            (&self.always_off, "always off: disabled or 0%"),
        ] {
            for name in names {
                say!("{name:width$}  {why}");
            }
        }
        for (name, last) in &self.unseen {
            if let Some(last) = last {
                say!("{name:width$}  unseen: no client since {last}");
            } else {
                say!("{name:width$}  unseen: no client ever evaluated it");
            }
        }
    }
}

/// Every `.rs` file under `dir`, skipping `target` and hidden directories; symlinks
/// are not followed (a loop cannot trap the walk).
fn collect(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<String>,
    visited: &mut HashSet<PathBuf>,
) {
    // A directory reached twice (a symlink loop, or two links to one place) is read
    // once.
    match std::fs::canonicalize(dir) {
        Ok(real) => {
            if !visited.insert(real) {
                return;
            }
        }
        Err(error) => {
            skipped.push(format!("{}: {error}", dir.display()));
            return;
        }
    }
    let entries = match std::fs::read_dir(dir).and_then(Iterator::collect::<Result<Vec<_>, _>>) {
        Ok(entries) => entries,
        Err(error) => {
            skipped.push(format!("{}: {error}", dir.display()));
            return;
        }
    };
    let mut entries = entries;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Symlinks are followed (metadata, not file_type); loops end above.
        let Ok(meta) = std::fs::metadata(&path) else {
            skipped.push(format!("{}: a broken link", path.display()));
            continue;
        };
        if meta.is_dir() {
            if name.starts_with('.') || name == "target" {
                continue;
            }
            collect(&path, files, skipped, visited);
        } else if meta.is_file() && name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// What the sources name: string literals' contents, identifiers that end a path
/// (`flags::X`, `crate::flags::X`: after `::`, so an `enum State { Killed }` does not
/// count as the flag `Killed`), and the text of files that did not read as tokens.
#[derive(Default)]
struct Seen {
    strings: HashSet<String>,
    paths: HashSet<String>,
    text: Vec<String>,
}

impl Seen {
    fn scan(&mut self, tokens: TokenStream) {
        let mut colons = 0;
        for token in tokens {
            match token {
                TokenTree::Group(group) => self.scan(group.stream()),
                TokenTree::Ident(ident) => {
                    if colons >= 2 {
                        self.paths.insert(ident.to_string());
                    }
                }
                TokenTree::Literal(literal) => {
                    if let Some(text) = string_contents(&literal.to_string()) {
                        self.strings.insert(text);
                    }
                }
                TokenTree::Punct(ref punct) if punct.as_char() == ':' => {
                    colons += 1;
                    continue;
                }
                TokenTree::Punct(_) => {}
            }
            colons = 0;
        }
    }

    /// Whether the sources name `flag`: as a string, or its typed handle in a path.
    fn names(&self, flag: &str) -> bool {
        let handle = flowgate_config::handle_name(flag);
        self.strings.contains(flag)
            || self.paths.contains(&handle)
            || self.text.iter().any(|text| {
                text.contains(&format!("\"{flag}\"")) || text.contains(&format!("::{handle}"))
            })
    }
}

/// The contents of a string literal's source text (`"X"`, `r"X"`, `r#"X"#`); `None`
/// for other literals. Escapes are left as written: flag names have none.
fn string_contents(literal: &str) -> Option<String> {
    if let Some(raw) = literal.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let inner = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        return Some(inner.strip_prefix('"')?.strip_suffix('"')?.to_owned());
    }
    Some(literal.strip_prefix('"')?.strip_suffix('"')?.to_owned())
}
