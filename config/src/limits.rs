//! The largest rules file flowgate reads, and the most of each thing in it.
//!
//! Limits rather than trust: a rules file comes from people and tools, and a file that
//! is hostile or simply broken must end in an error that names it, not in a process
//! that runs out of memory or stack. Each limit is far above what a real file holds (a
//! 10 000-flag file is about 1.5 MB).

/// The largest rules file read, in bytes (32 MiB).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// The most flags a file may declare.
pub const MAX_FLAGS: usize = 100_000;

/// The most values one constraint may list (`values = [...]`).
pub const MAX_VALUES: usize = 10_000;

/// The longest value a constraint may compare against, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The deepest nesting of arrays and inline tables (flowgate's keys nest three levels
/// deep). Checked before the `toml` crate reads the file, without recursion, so that no
/// file can overflow a thread's stack.
pub const MAX_DEPTH: usize = 16;
