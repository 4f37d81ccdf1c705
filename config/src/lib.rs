//! The `flowgate.toml` format: its keys, its value checks and its errors, in one place.
//!
//! flowgate reads this file three times over in a project's life: the
//! `#[feature_gate]` attribute checks it at compile time (so a flag that is not
//! declared, or a rule that cannot work, does not build), the runtime loads and
//! reloads it, and tools (`flowgate check`) report on it. All three read it through
//! this crate, so a file means the same thing, and a mistake reads the same way,
//! everywhere:
//!
//! ```text
//! flowgate.toml:7:11: flag `NewCheckout`, key `rollout`: a rollout is a percentage from 0 to 100, got 140
//! ```
//!
//! ```
//! use flowgate_config::{Comparand, Fallback, Operator};
//!
//! let document = flowgate_config::parse(r#"
//!     [flags.NewCheckout]
//!     description = "The new checkout flow"
//!     fallback = "reject"
//!     rollout = 25
//!     constraints = [{ label = "appVersion", operator = "SEMVER_GTE", value = "2.1.0" }]
//!     rate_limit = { limit = 100, per = "1s" }
//!
//!     [flags.Recommendations]
//!     fallback = "accept"
//! "#, "flowgate.toml")?;
//!
//! let checkout = document.flag("NewCheckout").unwrap();
//! let rules = checkout.rules.as_ref().unwrap();
//! assert_eq!(rules.rollout, 25);
//! assert_eq!(rules.constraints[0].operator, Operator::SemverGte);
//! assert!(matches!(rules.constraints[0].comparand, Comparand::Version(_)));
//! assert_eq!(checkout.limits.rate.as_ref().unwrap().per, std::time::Duration::from_secs(1));
//!
//! let recommendations = document.flag("Recommendations").unwrap();
//! assert_eq!(recommendations.fallback, Some(Fallback::Accept));
//! assert!(recommendations.rules.is_none(), "declared only: its fallback decides");
//! # Ok::<(), flowgate_config::ConfigError>(())
//! ```
//!
//! The file is read with the `toml` crate; its keys are listed in
//! [`Document`]'s types and in the README's rules reference.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod check;
mod document;
pub mod duration;
mod error;
pub mod limits;
mod nesting;
mod operator;
mod schema;
mod store;
pub mod values;

use std::path::Path;

pub use document::{
    redacted_url, Concurrency, Constraint, Document, Fallback, Flag, Limits, OnStoreError,
    Override, Payload, RateLimit, Rules, Scope, Store, Variant, DEFAULT_LEASE, DEFAULT_MAX_KEYS,
};
pub use error::ConfigError;
pub use operator::{Arity, Comparand, Operator};
pub use store::check_url as check_store_url;

/// The name of a flag's typed handle (`flowgate::flags!()` makes one per flag): upper
/// camel case, words split at anything that is not a letter or digit; a name starting
/// with a digit gets `Flag` in front. Shared by the macro and the `flowgate` command.
///
/// ```
/// assert_eq!(flowgate_config::handle_name("delete_survey_flag"), "DeleteSurveyFlag");
/// assert_eq!(flowgate_config::handle_name("2fa"), "Flag2fa");
/// ```
#[must_use]
pub fn handle_name(flag: &str) -> String {
    let mut out = String::new();
    for word in flag.split(|c: char| !c.is_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || !out.is_ascii() {
        let safe: String = out
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out = format!("Flag{safe}");
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// What errors call a text that came from no file.
pub const STRING_ORIGIN: &str = "<string>";

/// Reads and checks the text of a rules file; `origin` names it in errors (a path, or
/// [`STRING_ORIGIN`]). A text with no `[flags]` table is a file with no flags.
///
/// # Errors
/// The first mistake, placed by line, column, flag and key, or a text beyond the
/// [`limits`].
pub fn parse(text: &str, origin: &str) -> Result<Document, ConfigError> {
    check::document(text, origin, false)
}

/// Reads and checks a rules file.
///
/// A file is read whole, at most [`limits::MAX_FILE_BYTES`], and must hold a `[flags]`
/// table, even an empty one: a file with none is taken for one being written (a 0-byte
/// or half-written file), never for "no flags".
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("flowgate-config-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("flowgate.toml");
/// std::fs::write(&path, "")?;
/// let error = flowgate_config::read_file(&path).unwrap_err();
/// assert!(error.message().contains("no `[flags]` table"), "{error}");
///
/// std::fs::write(&path, "[flags]\n")?;
/// assert!(flowgate_config::read_file(&path)?.flags.is_empty());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The file cannot be read, is larger than [`limits::MAX_FILE_BYTES`], is not UTF-8 (the
/// error gives the line and column of the first bad byte), has no `[flags]` table, or
/// its first mistake, placed by line, column, flag and key.
pub fn read_file(path: &Path) -> Result<Document, ConfigError> {
    let origin = path.display().to_string();
    let text = read_text(path, &origin)?;
    check::document(&text, &origin, true)
}

/// As [`read_file`], with every mistake in the flags' values rather than the first,
/// sorted by line (for tools: `flowgate check`). A mistake in the TOML itself (its
/// syntax, an unknown key, a wrong type), or in reading the file, is the only one.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("flowgate-config-all-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("flowgate.toml");
/// std::fs::write(&path, "[flags.A]\nrollout = 140\n\n[flags.B]\nrollout = 50\n\n[flags.C]\nfallback = \"maybe\"\n")?;
/// let errors = flowgate_config::read_file_all(&path).unwrap_err();
/// assert_eq!(errors.len(), 2);
/// assert_eq!((errors[0].flag(), errors[0].line()), (Some("A"), 2));
/// assert_eq!((errors[1].flag(), errors[1].line()), (Some("C"), 8));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`read_file`], all of them.
pub fn read_file_all(path: &Path) -> Result<Document, Vec<ConfigError>> {
    let origin = path.display().to_string();
    let text = read_text(path, &origin).map_err(|e| vec![e])?;
    check::document_all(&text, &origin, true)
}

/// The text of the file at `path`, within [`limits::MAX_FILE_BYTES`] and UTF-8.
fn read_text(path: &Path, origin: &str) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let cannot =
        |error: std::io::Error| ConfigError::new(origin, format!("cannot read the file: {error}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a file that is too large, whatever its metadata says
    // (it may be growing, or a pipe).
    file.take(limits::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limits::MAX_FILE_BYTES {
        return Err(ConfigError::new(
            origin,
            format!(
                "the file is larger than {} MiB, the most a rules file may be",
                limits::MAX_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&error.as_bytes()[..valid]);
        let (line, column) = error::line_column(&text, valid);
        ConfigError::new(origin, "the file is not UTF-8 text").at(line, column)
    })
}
