//! A value that gates read on every call and a reload replaces now and then (a rules
//! snapshot, a table of limiters).
//!
//! Each thread keeps its own reference to the current value, checked against a
//! generation number: a read is one atomic load of shared state, where an `ArcSwap`
//! load writes to shared state on every call.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};

use crate::memo::StateStamp;

/// The current value of one kind of state; see the module documentation.
pub(crate) struct Published<T> {
    /// Picks the slot of the per-thread caches this value uses.
    id: u64,
    /// A copy of the current value's stamp, to check caches against.
    generation: AtomicU64,
    current: ArcSwap<Stamped<T>>,
    /// Writers take turns, so that the last stamp stored is the last value's.
    writer: Mutex<()>,
}

/// A published value and its stamp: a new one for every value stored, never given to
/// any other value in the process. The stamp travels with the value, so that whatever
/// a reader remembers about a value (a position, an answer) is filed under that
/// value's own stamp, even when a reload races with the read.
pub(crate) struct Stamped<T> {
    stamp: StateStamp,
    value: T,
}

impl<T> std::ops::Deref for Stamped<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How many published values of one type a thread keeps at hand.
pub(crate) const CACHED: usize = 4;

/// A thread's cache for one type: (stamp, value) of the values it read last. A thread
/// keeps an old value alive until it reads that state again (or its slot is reused).
pub(crate) type Cache<T> = RefCell<[Option<Arc<Stamped<T>>>; CACHED]>;

/// A type that can be published: it has a per-thread cache of its own (typed, so that
/// reading needs no downcast). Implemented with [`per_thread_cache!`].
pub(crate) trait PerThread: Send + Sync + Sized + 'static {
    /// Runs `f` on this thread's cache, unless the thread is exiting.
    fn with_cache<R>(f: impl FnOnce(&Cache<Self>) -> R) -> Option<R>;
}

/// Gives a type its per-thread cache.
macro_rules! per_thread_cache {
    ($type:ty) => {
        impl $crate::published::PerThread for $type {
            #[inline]
            fn with_cache<R>(f: impl FnOnce(&$crate::published::Cache<Self>) -> R) -> Option<R> {
                ::std::thread_local! {
                    static CACHE: $crate::published::Cache<$type> =
                        const { ::std::cell::RefCell::new([const { None }; $crate::published::CACHED]) };
                }
                CACHE.try_with(f).ok()
            }
        }
    };
}
pub(crate) use per_thread_cache;

impl<T: PerThread> Published<T> {
    pub(crate) fn new(value: T) -> Self {
        let stamp = StateStamp::next();
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(stamp.get()),
            current: ArcSwap::from_pointee(Stamped { stamp, value }),
            writer: Mutex::new(()),
        }
    }

    /// The current value, for writers and for reads off the hot path.
    pub(crate) fn load(&self) -> Guard<Arc<Stamped<T>>> {
        self.current.load()
    }

    /// The stamp of the current value: changes with every [`store`](Self::store). A
    /// read that starts after this load sees this value or a newer one.
    #[inline]
    pub(crate) fn generation(&self) -> StateStamp {
        StateStamp::from_raw(self.generation.load(Ordering::Acquire))
    }

    /// Replaces the value; the next read on every thread sees it.
    pub(crate) fn store(&self, value: T) {
        let _turn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = StateStamp::next();
        self.current.store(Arc::new(Stamped { stamp, value }));
        self.generation.store(stamp.get(), Ordering::Release);
    }

    /// Runs `read` on the current value and its stamp, from this thread's cache when
    /// it is current.
    #[inline]
    pub(crate) fn read<R>(&self, read: impl FnOnce(&T, StateStamp) -> R) -> R {
        let generation = self.generation();
        #[allow(clippy::cast_possible_truncation)] // only picks a slot
        let slot = (self.id as usize) % CACHED;
        let mut read = Some(read);
        let cached = T::with_cache(|cache| {
            // Re-entered (a read inside a read): the caller reads without the cache.
            let mut cache = cache.try_borrow_mut().ok()?;
            let read = read.take()?;
            // Stamps are unique in the process: a cached value with this stamp is this
            // one's current value.
            if let Some(cached) = &cache[slot] {
                if cached.stamp == generation {
                    return Some(read(&cached.value, cached.stamp));
                }
            }
            // If a newer value than `generation` is loaded here, the next read sees its
            // stamp and simply loads again.
            let current = self.current.load_full();
            let result = read(&current.value, current.stamp);
            cache[slot] = Some(current);
            Some(result)
        });
        match (cached, read) {
            (Some(Some(result)), _) => result,
            // Thread exit, or re-entered: straight from the shared value.
            (_, Some(read)) => {
                let current = self.current.load();
                read(&current.value, current.stamp)
            }
            (_, None) => unreachable!("`read` ran only if a result came back"),
        }
    }
}

impl<T: Default + PerThread> Default for Published<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::Published;

    per_thread_cache!(u32);
    per_thread_cache!(&'static str);

    #[test]
    fn reads_see_every_store_and_reentrant_reads_work() {
        let numbers = Published::new(1_u32);
        let words = Published::new("one");
        assert_eq!(numbers.read(|n, _| *n), 1);
        assert_eq!(words.read(|w, _| *w), "one");
        numbers.store(2);
        assert_eq!(
            numbers.read(|n, _| *n),
            2,
            "a store is seen by the next read"
        );
        let nested = numbers.read(|n, _| words.read(|w, _| format!("{n} {w}")));
        assert_eq!(nested, "2 one");
        let reentered = numbers.read(|outer, _| numbers.read(|inner, _| outer + inner));
        assert_eq!(reentered, 4, "a read inside a read of the same type");
        let (before, stamp_before) = numbers.read(|n, stamp| (*n, stamp));
        assert_eq!((before, stamp_before), (2, numbers.generation()));
        numbers.store(20);
        let (after, stamp_after) = numbers.read(|n, stamp| (*n, stamp));
        assert_eq!(after, 20, "the cached value was replaced");
        assert_ne!(
            stamp_after, stamp_before,
            "each value has a stamp of its own"
        );
        assert_eq!(stamp_after, numbers.generation());
        assert_ne!(
            words.generation(),
            stamp_after,
            "stamps are unique in the process"
        );
        numbers.store(2);
        std::thread::spawn(move || {
            assert_eq!(numbers.read(|n, _| *n), 2);
            numbers.store(3);
            assert_eq!(numbers.read(|n, _| *n), 3);
        })
        .join()
        .unwrap();
    }
}
