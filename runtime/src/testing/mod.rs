//! Flags set from code, for tests: a source of flags held in memory
//! ([`InMemorySource`]), and, with the `testing` feature, overrides local to one test
//! that win over any source, `global()` included (`override_flags`, `scope`,
//! `#[flowgate::test]`).
//!
//! Two tools because tests need two things: a client of their own whose flags they set
//! (an [`InMemorySource`]), or code under test that uses a client it was not given
//! (`global()`, a client built deep inside the app), whose answers only an override
//! can change without reaching other tests running in parallel.

mod in_memory;
#[cfg(feature = "testing")]
mod overrides;

pub use in_memory::InMemorySource;
#[cfg(feature = "testing")]
pub use overrides::{override_flags, scope, OverrideGuard};
