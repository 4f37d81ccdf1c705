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
mod operator;
mod schema;
pub mod values;

use std::path::Path;

pub use document::{
    Concurrency, Constraint, Document, Fallback, Flag, Limits, Override, Payload, RateLimit, Rules,
    Variant, DEFAULT_MAX_KEYS,
};
pub use error::ConfigError;
pub use operator::{Arity, Comparand, Operator};

/// What errors call a text that came from no file.
pub const STRING_ORIGIN: &str = "<string>";

/// Reads and checks the text of a rules file; `origin` names it in errors (a path, or
/// [`STRING_ORIGIN`]).
///
/// # Errors
/// The first mistake, placed by line, column, flag and key.
pub fn parse(text: &str, origin: &str) -> Result<Document, ConfigError> {
    check::document(text, origin)
}

/// Reads and checks a rules file.
///
/// # Errors
/// The file cannot be read (the error names it), or its first mistake, placed by line,
/// column, flag and key.
pub fn read_file(path: &Path) -> Result<Document, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::new(&origin, format!("cannot read the file: {error}")))?;
    parse(&text, &origin)
}
