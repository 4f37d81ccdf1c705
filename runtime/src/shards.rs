//! Per-thread shards for counters written on the hot path.
//!
//! A counter written by every thread on one cache line makes threads wait on each
//! other. Instead, each counter has `SHARDS` copies; a thread writes only its own.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How many copies a sharded counter has: one for each of the first
/// `SHARDS - 1` threads that claim one, and one shared by every other thread.
///
/// A thread that owns its copy counts with a plain load and store, as no other thread
/// writes there: a locked read-modify-write would cost about as much as the rest of a
/// gated call. Threads beyond the owned copies share the last one and count atomically.
pub(crate) const SHARDS: usize = 16;
pub(crate) const SHARED_SHARD: usize = SHARDS - 1;

/// Which owned shards are taken by a live thread.
static CLAIMED: [AtomicBool; SHARED_SHARD] = [const { AtomicBool::new(false) }; SHARED_SHARD];

const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// The shard of this thread. Without a destructor, so that reading it is one load
    /// (a thread-local with one is checked for registration on every access); the claim
    /// is given back by [`CLAIM`] instead.
    static SHARD: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives this thread's shard back when the thread exits. Set only when a thread
    /// claims a shard.
    static CLAIM: ShardClaim = const { ShardClaim(Cell::new(UNCLAIMED)) };
}

/// A thread's claim on a shard, given back when the thread exits.
struct ShardClaim(Cell<usize>);

impl Drop for ShardClaim {
    fn drop(&mut self) {
        // From here on this thread counts on the shared shard, atomically.
        let _ = SHARD.try_with(|shard| shard.set(SHARED_SHARD));
        if let Some(claimed) = CLAIMED.get(self.0.get()) {
            claimed.store(false, Ordering::Release);
        }
    }
}

/// The shard of the calling thread.
#[inline]
pub(crate) fn shard() -> usize {
    match SHARD.get() {
        UNCLAIMED => claim_shard(),
        shard => shard,
    }
}

#[cold]
fn claim_shard() -> usize {
    // Acquire: the counts the previous owner stored are seen before they are added to.
    let shard = CLAIMED
        .iter()
        .position(|claimed| {
            claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .unwrap_or(SHARED_SHARD);
    // A thread that is exiting cannot register the claim's release: it keeps none.
    let kept = shard != SHARED_SHARD && CLAIM.try_with(|claim| claim.0.set(shard)).is_ok();
    if !kept {
        if let Some(claimed) = CLAIMED.get(shard) {
            claimed.store(false, Ordering::Release);
        }
    }
    let shard = if kept { shard } else { SHARED_SHARD };
    SHARD.set(shard);
    shard
}

/// Adds one to `counter` of `shard`; `order` orders this count before whatever the
/// thread writes next.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, shard: usize, order: Ordering) {
    if shard == SHARED_SHARD {
        counter.fetch_add(1, order);
    } else {
        // Only this thread writes this shard.
        counter.store(counter.load(Ordering::Relaxed) + 1, order);
    }
}

/// One copy of a shared `Arc` per thread shard, made the first time a thread of that
/// shard asks: a clone of a thread's own copy touches a reference count no other
/// thread touches (threads beyond the owned shards share the last copy).
///
/// **Benefit**: handing out a shared value (a variant) from two threads scales, where
/// one `Arc` counted by both made each thread wait on the other's increments.
/// **Cost**: the copies' table (16 pointers) is made on the first hand-out; each
/// copy is one more `Arc` of the value (the value's own fields are shared, not
/// copied).
pub(crate) struct PerShard<T> {
    copies: std::sync::OnceLock<Box<[std::sync::OnceLock<std::sync::Arc<T>>; SHARDS]>>,
}

impl<T> Default for PerShard<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for PerShard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerShard")
    }
}

impl<T> PerShard<T> {
    pub(crate) const fn new() -> Self {
        Self {
            copies: std::sync::OnceLock::new(),
        }
    }

    /// A clone of the calling thread's copy, made by `copy` the first time.
    #[inline]
    pub(crate) fn get(&self, copy: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let copies = self
            .copies
            .get_or_init(|| Box::new([const { std::sync::OnceLock::new() }; SHARDS]));
        std::sync::Arc::clone(copies[shard()].get_or_init(|| std::sync::Arc::new(copy())))
    }
}
