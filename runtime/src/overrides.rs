//! Where a decision finds a test's flag overrides (the `testing` feature): the thread's
//! and the task's, and the process-wide count that makes the check one load while there
//! are none. Set through `testing::override_flags` and `testing::scope`, which are in
//! `testing/overrides.rs` with the full story; kept here, below the client, because
//! every decision (`client/dispatch.rs`) reads it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Overrides live anywhere in the process (guards and scopes): while none is, a
/// decision reads this and nothing else.
pub(crate) static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Names the guards, so that one dropped out of order removes its own overrides.
pub(crate) static NEXT_GUARD: AtomicU64 = AtomicU64::new(0);

/// Flags and their values, the first match winning.
pub(crate) type List = Arc<[(Box<str>, bool)]>;

thread_local! {
    /// The thread's guards, oldest first.
    pub(crate) static THREAD: RefCell<Vec<(u64, List)>> = const { RefCell::new(Vec::new()) };
}

tokio::task_local! {
    /// The task's overrides, innermost scope's first.
    pub(crate) static TASK: List;
}

/// Whether `flag` is overridden for the calling task or thread, and to what.
#[inline]
pub(crate) fn overridden(flag: &str) -> Option<bool> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    look_up(flag)
}

#[cold]
fn look_up(flag: &str) -> Option<bool> {
    let in_task = TASK.try_with(|list| find(list, flag)).ok().flatten();
    in_task.or_else(|| {
        THREAD
            .try_with(|guards| {
                guards
                    .borrow()
                    .iter()
                    .rev()
                    .find_map(|(_, list)| find(list, flag))
            })
            .ok()
            .flatten()
    })
}

pub(crate) fn find(list: &[(Box<str>, bool)], flag: &str) -> Option<bool> {
    list.iter()
        .find(|(name, _)| &**name == flag)
        .map(|(_, on)| *on)
}
