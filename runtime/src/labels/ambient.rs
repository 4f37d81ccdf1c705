//! Ambient labels: labels put in a task's scope (by the tower layer, from the request,
//! or by [`scope`]) that every decision inside the task adds to its own, so a gate deep
//! in a handler decides on the request's `userId` without being passed it.
//!
//! **Trick.** A decision reads a process-wide flag first (one relaxed load of a word
//! written once, by the first scope the process makes, and never again: a count of
//! live scopes would be a write to one shared cache line per request), and only once
//! some scope was made is the task-local looked up. **Benefit.** Services that never
//! use ambient labels pay one load per decision; those that do, one task-local lookup. **Cost.** Inside a scope, a
//! decision merges the labels: the ambient ones first, the call's own replacing those of
//! the same name (explicit labels win); on the stack up to four labels in all, else one
//! allocation. A gate that has to wait (for its source, or in a concurrency queue) keeps
//! an owned copy of the merge while it waits.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Labels;

/// Whether the process ever made a scope: until it does, decisions read only this.
static USED: AtomicBool = AtomicBool::new(false);

/// Marks the process as using ambient labels (a write the first time only).
fn mark_used() {
    if !USED.load(Ordering::Relaxed) {
        USED.store(true, Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// `None` in a scope that adds nothing (a layer with no labels to take).
    static AMBIENT: Option<Arc<Labels<'static>>>;
}

/// A future run with ambient labels: what [`scoped`] returns, a type callers can name
/// (the tower layer's response future holds one).
pub(crate) type Scoped<F> = tokio::task::futures::TaskLocalFuture<Option<Arc<Labels<'static>>>, F>;

/// Runs `future` with `labels` ambient: every gate, `is_enabled`, `variant` and
/// `start_flow` inside it (on any client) decides on its own labels plus these, its
/// own winning where both name a label. Nested scopes add to the outer one's labels.
/// Tasks `future` spawns do not inherit them.
///
/// ```
/// use flowgate::{labels, Client};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), flowgate::ConfigError> {
/// let client = Client::from_toml_str(
///     "[flags.Beta]\nconstraints = [{ label = \"plan\", operator = \"IN\", values = [\"beta\"] }]\n",
/// )?;
/// let deep_in_a_handler = |client: Client| async move { client.is_enabled("Beta", &labels! {}) };
/// let on = flowgate::labels::scope(labels! { "plan" => "beta" }.into_owned(), deep_in_a_handler(client.clone())).await;
/// assert!(on);
/// assert!(!deep_in_a_handler(client).await, "outside the scope, no plan");
/// # Ok(())
/// # }
/// ```
pub async fn scope<F: Future>(labels: Labels<'static>, future: F) -> F::Output {
    scoped(labels, future).await
}

/// [`scope`] as a future of a type that can be named. Empty `labels` allocate nothing
/// and mark nothing: inside another scope the future keeps that scope's labels.
pub(crate) fn scoped<F: Future>(labels: Labels<'static>, future: F) -> Scoped<F> {
    AMBIENT.scope(combined(labels), future)
}

/// Runs `work` with `labels` ambient, on this thread, outside any async task: the
/// blocking counterpart of [`scope`].
pub fn sync_scope<R>(labels: Labels<'static>, work: impl FnOnce() -> R) -> R {
    AMBIENT.sync_scope(combined(labels), work)
}

/// The value of a new scope: `labels` added to the enclosing scope's.
fn combined(labels: Labels<'static>) -> Option<Arc<Labels<'static>>> {
    let outer = current();
    if labels.is_empty() {
        return outer;
    }
    mark_used();
    Some(match outer {
        Some(outer) => Arc::new(merge(&labels, &outer).into_owned()),
        None => Arc::new(labels),
    })
}

/// The ambient labels of the calling task, if it is in a scope.
#[inline]
pub(crate) fn current() -> Option<Arc<Labels<'static>>> {
    if !live() {
        return None;
    }
    lookup()
}

#[cold]
#[inline(never)]
fn lookup() -> Option<Arc<Labels<'static>>> {
    AMBIENT.try_with(Clone::clone).ok().flatten()
}

/// `ambient`'s labels, then `own`'s (replacing those of the same name), borrowed.
pub(crate) fn merge<'a>(own: &'a Labels<'_>, ambient: &'a Labels<'_>) -> Labels<'a> {
    let mut merged = Labels::new();
    for (key, value) in ambient.iter().chain(own.iter()) {
        merged.insert(key, value);
    }
    merged
}

/// Runs `decide` on `labels` with the ambient labels added, if the task has any.
///
/// Whether the process ever made a scope: one relaxed load, for the hot path.
#[inline]
pub(crate) fn live() -> bool {
    USED.load(Ordering::Relaxed)
}

/// Runs `decide` on `labels` with the ambient labels added: [`live`] and, when it is,
/// [`with_ambient`].
#[inline]
pub(crate) fn with<R>(labels: &Labels<'_>, decide: impl FnOnce(&Labels<'_>) -> R) -> R {
    if live() {
        return with_ambient(labels, decide);
    }
    decide(labels)
}

/// The out-of-line half of [`with`], for a caller that checked [`live`] itself.
#[cold]
#[inline(never)]
pub(crate) fn with_ambient<R>(labels: &Labels<'_>, decide: impl FnOnce(&Labels<'_>) -> R) -> R {
    let Some(ambient) = lookup() else {
        return decide(labels);
    };
    if labels.is_empty() {
        return decide(&ambient);
    }
    let merged = merge(labels, &ambient);
    decide(&merged)
}

/// `labels` with the ambient ones added, owned, when the task has any: for a decision
/// that waits, and so must keep them.
pub(crate) fn owned(labels: &Labels<'_>) -> Option<Box<Labels<'static>>> {
    let ambient = current()?;
    Some(Box::new(merge(labels, &ambient).into_owned()))
}
