//! Flag overrides local to one test: a thread's ([`override_flags`], a guard) or a
//! task's ([`scope`], a future), winning over whatever source the client asks.
//!
//! **Trick.** Every client decision asks `overrides::overridden` first, and it is compiled in only
//! with the `testing` feature, which users enable in `[dev-dependencies]` alone: a
//! release build does not contain it at all. With the feature on, a process-wide count
//! of live overrides is read first (one relaxed load of a word that changes only when
//! a test sets or drops an override), so a test binary pays one load per decision
//! until some test overrides a flag. **Cost.** While any override is live in the
//! process, every decision looks in its task's and its thread's overrides (a few
//! string comparisons), in every test, not only the one that set them.
//!
//! Overrides are found innermost first: the task's (`scope`), then the thread's guards,
//! the newest first. Tests run on threads of their own, so a guard reaches only its
//! test: the test's own code, and tasks of a current-thread runtime (the default of
//! `#[tokio::test]`), which run on the test's thread. Tasks spawned on a multi-thread
//! runtime's workers see neither; wrap their futures in [`scope`].

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::client::AsFlag;

use crate::overrides::{List, LIVE, NEXT_GUARD, TASK, THREAD};

fn list<F: AsFlag>(flags: impl IntoIterator<Item = (F, bool)>) -> Vec<(Box<str>, bool)> {
    let mut list: Vec<(Box<str>, bool)> = Vec::new();
    for (flag, on) in flags {
        // The last word on a flag in one call wins, as in a map literal.
        let name: Box<str> = flag.flag_name().into();
        list.retain(|(n, _)| *n != name);
        list.push((name, on));
    }
    list
}

/// Overrides `flags` for the calling thread until the guard is dropped: every client's
/// decision on this thread (gates, `is_enabled`, `variant`, `start_flow`, on any source,
/// `global()` included) answers the override, whatever the source says or whether it
/// is ready. Tests run in parallel on threads of their own, so two tests may override
/// the same flag to opposite values.
///
/// ```
/// use flowgate::{labels, testing::override_flags, Client};
///
/// let client = Client::from_toml_str("[flags.Pricing]\nenabled = false\n")?;
/// {
///     let _flags = override_flags([("Pricing", true)]);
///     assert!(client.is_enabled("Pricing", &labels! {}));
/// }
/// assert!(!client.is_enabled("Pricing", &labels! {}), "gone with the guard");
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
///
/// Flags are names or the typed handles of [`flags!`](crate::flags). Guards nest (the
/// newest wins) and may be dropped in any order. The guard is not `Send`: it belongs to
/// its thread. In an async test, its body runs on the test's thread (`#[tokio::test]`,
/// either flavour), and so do the tasks it spawns on a current-thread runtime; tasks
/// on a multi-thread runtime's workers need [`scope`].
#[must_use = "the override ends when the guard is dropped"]
pub fn override_flags<F: AsFlag>(flags: impl IntoIterator<Item = (F, bool)>) -> OverrideGuard {
    let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
    let list: List = list(flags).into();
    LIVE.fetch_add(1, Ordering::SeqCst);
    THREAD.with(|guards| guards.borrow_mut().push((id, list)));
    OverrideGuard {
        id,
        _thread: PhantomData,
    }
}

/// Ends the overrides of one [`override_flags`] call when dropped.
#[derive(Debug)]
pub struct OverrideGuard {
    id: u64,
    /// Not `Send`: the overrides are the thread's.
    _thread: PhantomData<*const ()>,
}

impl Drop for OverrideGuard {
    fn drop(&mut self) {
        // During thread exit the thread's list may be gone already: nothing to remove.
        let _ = THREAD.try_with(|guards| guards.borrow_mut().retain(|(id, _)| *id != self.id));
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `future` with `flags` overridden for it, wherever its task runs (any runtime,
/// any worker thread), over the overrides of an enclosing scope. Tasks it spawns do not
/// inherit it: wrap their futures too.
///
/// ```
/// use flowgate::{labels, testing::{scope, InMemorySource}};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = InMemorySource::new().disable("Pricing").into_client();
/// let seen = scope([("Pricing", true)], async {
///     tokio::task::yield_now().await;
///     client.is_enabled("Pricing", &labels! {})
/// })
/// .await;
/// assert!(seen);
/// assert!(!client.is_enabled("Pricing", &labels! {}));
/// # }
/// ```
pub async fn scope<F, Fut>(flags: impl IntoIterator<Item = (F, bool)>, future: Fut) -> Fut::Output
where
    F: AsFlag,
    Fut: Future,
{
    let mut merged = list(flags);
    // Inner first: an enclosing scope's overrides come after this one's.
    if let Ok(outer) = TASK.try_with(Arc::clone) {
        merged.extend(outer.iter().cloned());
    }
    let _live = Live::count();
    TASK.scope(merged.into(), future).await
}

/// One live scope, counted in [`LIVE`] while it lasts.
struct Live;

impl Live {
    fn count() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::overridden;

    #[test]
    fn guards_nest_and_drop_in_any_order() {
        assert_eq!(overridden("A"), None);
        let outer = override_flags([("A", true), ("B", true)]);
        let inner = override_flags([("A", false)]);
        assert_eq!(overridden("A"), Some(false), "the newest wins");
        assert_eq!(overridden("B"), Some(true));
        drop(outer);
        assert_eq!(overridden("A"), Some(false));
        assert_eq!(
            overridden("B"),
            None,
            "the outer guard's own flags went with it"
        );
        drop(inner);
        assert_eq!(overridden("A"), None);
    }

    #[test]
    fn another_thread_sees_nothing() {
        let _guard = override_flags([("A", true)]);
        let seen = std::thread::spawn(|| overridden("A")).join().unwrap();
        assert_eq!(seen, None);
        assert_eq!(overridden("A"), Some(true));
    }

    #[test]
    fn the_last_word_in_one_call_wins() {
        let _guard = override_flags([("A", true), ("A", false)]);
        assert_eq!(overridden("A"), Some(false));
    }
}
