//! How often each flag was evaluated on and off, and each variant handed out: the usage
//! a source reports (Unleash's metrics). Kept with the rules because the count is made
//! where the rules decide, and a call site that remembers an answer remembers where to
//! count it.
//!
//! **Trick.** Every evaluation of an Unleash flag is counted, so the yes/no counts sit
//! on the hot path. One shared counter per flag would be a cache line that every thread
//! gating that flag writes, and two threads would spend more time passing it back and
//! forth than deciding. So each thread counts in its own shard (see [`crate::shards`]),
//! and the reporter adds the shards up. **Cost.** 16 KiB of chunk pointers per table,
//! plus 16 KiB per active thread shard per 1 024 flags; flag names are kept for the
//! life of the source; variant counts stay shared atomics (`variant()` is not a gate).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use crate::shards::{bump, shard, SHARDS};

/// Counts per chunk: a thread allocates a chunk (16 KiB) the first time it counts a
/// flag whose index falls in it.
const CHUNK: usize = 1024;
/// Chunks per shard.
const CHUNKS: usize = 64;
/// Flag names a table gives an index to; counts of further names are shared atomics.
const MAX_INDICES: usize = CHUNK * CHUNKS;

/// The yes/no counts of every flag a source has had, per thread shard, by an index
/// that each flag name keeps for the life of the source: reloads never lose a count,
/// and a count made on a snapshot that has just been replaced still lands.
pub(crate) struct TallyTable {
    /// Taken when a state is installed and when usage is reported, never to count.
    book: Mutex<Book>,
    shards: Box<[ShardCounts; SHARDS]>,
}

#[derive(Default)]
struct Book {
    indices: FxHashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
    /// Per index, the yes and no counts reported so far: counts only grow, so a report
    /// is the difference, and a thread never has to reset what it writes.
    reported: Vec<(u64, u64)>,
}

/// One shard's counts.
struct ShardCounts {
    chunks: [OnceLock<Box<Chunk>>; CHUNKS],
}

/// Aligned so that no two shards' chunks share a cache line.
#[repr(align(128))]
struct Chunk([YesNo; CHUNK]);

#[derive(Default)]
struct YesNo {
    yes: AtomicU64,
    no: AtomicU64,
}

fn new_chunk() -> Box<Chunk> {
    Box::new(Chunk(std::array::from_fn(|_| YesNo::default())))
}

impl TallyTable {
    pub(crate) fn new() -> Self {
        Self {
            book: Mutex::new(Book::default()),
            shards: Box::new(std::array::from_fn(|_| ShardCounts {
                chunks: std::array::from_fn(|_| OnceLock::new()),
            })),
        }
    }

    /// The index `name` is counted under, given on first sight; `None` once
    /// [`MAX_INDICES`] names have one.
    pub(crate) fn index_of(&self, name: &Arc<str>) -> Option<u32> {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&index) = book.indices.get(name) {
            return Some(index);
        }
        let index = u32::try_from(book.names.len())
            .ok()
            .filter(|&index| (index as usize) < MAX_INDICES)?;
        book.indices.insert(Arc::clone(name), index);
        book.names.push(Arc::clone(name));
        book.reported.push((0, 0));
        Some(index)
    }

    /// Counts one evaluation of the flag at `index`, in the calling thread's shard.
    #[inline]
    pub(crate) fn count(&self, index: u32, enabled: bool) {
        let shard = shard();
        let index = index as usize;
        let chunk = self.shards[shard].chunks[index / CHUNK].get_or_init(new_chunk);
        let counts = &chunk.0[index % CHUNK];
        bump(
            if enabled { &counts.yes } else { &counts.no },
            shard,
            Relaxed,
        );
    }

    /// The yes and no counts made since the last call, for each flag that has any.
    #[cfg(any(feature = "unleash", test))]
    fn take(&self) -> Vec<(Arc<str>, u64, u64)> {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let book = &mut *book;
        let mut taken = Vec::new();
        for (index, (name, reported)) in book.names.iter().zip(&mut book.reported).enumerate() {
            let (mut yes, mut no) = (0u64, 0u64);
            for shard in self.shards.iter() {
                if let Some(chunk) = shard.chunks[index / CHUNK].get() {
                    let counts = &chunk.0[index % CHUNK];
                    yes = yes.wrapping_add(counts.yes.load(Relaxed));
                    no = no.wrapping_add(counts.no.load(Relaxed));
                }
            }
            let new = (yes.wrapping_sub(reported.0), no.wrapping_sub(reported.1));
            *reported = (yes, no);
            if new != (0, 0) {
                taken.push((Arc::clone(name), new.0, new.1));
            }
        }
        taken
    }
}

impl std::fmt::Debug for TallyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("TallyTable")
            .field("flags", &book.names.len())
            .finish_non_exhaustive()
    }
}

/// One flag's counters. Shared by the snapshots of one source while the flag's
/// variants stay the same, so counts survive reloads.
#[derive(Debug)]
pub(crate) struct Tally {
    table: Arc<TallyTable>,
    /// Where `table` counts this flag; `None` when the table is full, and the yes/no
    /// counts are the shared atomics below.
    pub(crate) index: Option<u32>,
    yes: AtomicU64,
    no: AtomicU64,
    /// One counter per variant name the flag can hand out, `disabled` included. Shared
    /// atomics: variants are asked for by name, not through a gate.
    variants: Vec<(Arc<str>, AtomicU64)>,
}

impl Tally {
    /// Counters for the flag `name`, which can hand out the variants `names`, counted
    /// in `table`; counts already made under the same variant names (in `previous`)
    /// are carried over.
    pub(crate) fn new(
        name: &Arc<str>,
        names: Vec<Arc<str>>,
        table: &Arc<TallyTable>,
        previous: Option<&Tally>,
    ) -> Self {
        let carried = |name: &str| {
            previous
                .and_then(|p| p.variants.iter().find(|(n, _)| &**n == name))
                .map_or(0, |(_, c)| c.swap(0, Relaxed))
        };
        Tally {
            table: Arc::clone(table),
            index: table.index_of(name),
            yes: AtomicU64::new(previous.map_or(0, |p| p.yes.swap(0, Relaxed))),
            no: AtomicU64::new(previous.map_or(0, |p| p.no.swap(0, Relaxed))),
            variants: names
                .into_iter()
                .map(|name| {
                    let count = carried(&name);
                    (name, AtomicU64::new(count))
                })
                .collect(),
        }
    }

    /// Whether `self` counts exactly the variants `names`.
    pub(crate) fn counts_variants(&self, names: &[Arc<str>]) -> bool {
        self.variants.len() == names.len()
            && self.variants.iter().zip(names).all(|(a, b)| a.0 == *b)
    }

    /// Out of line: evaluating a flag that counts nothing stays small enough to inline.
    #[inline(never)]
    pub(crate) fn count(&self, enabled: bool) {
        if let Some(index) = self.index {
            self.table.count(index, enabled);
        } else {
            let counter = if enabled { &self.yes } else { &self.no };
            counter.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn count_variant(&self, name: &Arc<str>) {
        // The counters share the names of the variants they count: found by address,
        // unless the name came from elsewhere.
        let counter = self
            .variants
            .iter()
            .find(|(n, _)| Arc::ptr_eq(n, name))
            .or_else(|| self.variants.iter().find(|(n, _)| **n == **name));
        if let Some((_, counter)) = counter {
            counter.fetch_add(1, Relaxed);
        }
    }
}

/// One flag's usage since the last report: name, yes, no, and counts per variant.
#[cfg(any(feature = "unleash", test))]
pub(crate) type FlagUsage = (String, u64, u64, Vec<(String, u64)>);

/// The usage counted since the last call, per flag: the table's yes/no counts (flags
/// no longer in `tallies` included), and the shared counters of the flags in
/// `tallies` (name, counters).
#[cfg(any(feature = "unleash", test))]
pub(crate) fn take<'a>(
    table: &TallyTable,
    tallies: impl Iterator<Item = (&'a Arc<str>, &'a Tally)>,
) -> Vec<FlagUsage> {
    let mut usage: FxHashMap<Arc<str>, FlagUsage> = table
        .take()
        .into_iter()
        .map(|(name, yes, no)| {
            let entry = (name.to_string(), yes, no, Vec::new());
            (name, entry)
        })
        .collect();
    for (name, counters) in tallies {
        let yes = counters.yes.swap(0, Relaxed);
        let no = counters.no.swap(0, Relaxed);
        let variants: Vec<(String, u64)> = counters
            .variants
            .iter()
            .map(|(n, c)| (n.to_string(), c.swap(0, Relaxed)))
            .filter(|(_, c)| *c > 0)
            .collect();
        if yes + no == 0 && variants.is_empty() {
            continue;
        }
        let entry = usage
            .entry(Arc::clone(name))
            .or_insert_with(|| (name.to_string(), 0, 0, Vec::new()));
        entry.1 += yes;
        entry.2 += no;
        entry.3 = variants;
    }
    let mut usage: Vec<FlagUsage> = usage.into_values().collect();
    usage.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More threads than owned shards, in waves, counting the same flags: every count
    /// is reported once, whichever shard it was made in, and none twice.
    #[test]
    fn counts_from_many_threads_are_reported_once_each() {
        const THREADS: usize = SHARDS + 5;
        const WAVES: usize = 2;
        const CALLS: u64 = 3_000;
        let table = Arc::new(TallyTable::new());
        let names: Vec<Arc<str>> = (0..3).map(|i| Arc::from(format!("flag-{i}"))).collect();
        let indices: Vec<u32> = names.iter().map(|n| table.index_of(n).unwrap()).collect();
        assert_eq!(table.index_of(&names[1]), Some(indices[1]), "kept");
        let mut reported: FxHashMap<Arc<str>, (u64, u64)> = FxHashMap::default();
        let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
        for _ in 0..WAVES {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let table = Arc::clone(&table);
                    let start = Arc::clone(&start);
                    let indices = indices.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        for i in 0..CALLS {
                            table.count(indices[(i % 3) as usize], i % 2 == 0);
                        }
                    })
                })
                .collect();
            start.wait();
            // Reports taken while the threads count lose nothing.
            for _ in 0..50 {
                for (name, yes, no) in table.take() {
                    let total = reported.entry(name).or_default();
                    total.0 += yes;
                    total.1 += no;
                }
            }
            for thread in threads {
                thread.join().unwrap();
            }
        }
        for (name, yes, no) in table.take() {
            let total = reported.entry(name).or_default();
            total.0 += yes;
            total.1 += no;
        }
        let per_flag = (THREADS * WAVES) as u64 * CALLS / 3;
        for name in &names {
            let (yes, no) = reported[name];
            assert_eq!(yes + no, per_flag, "{name}");
        }
        let yes: u64 = reported.values().map(|c| c.0).sum();
        assert_eq!(yes, (THREADS * WAVES) as u64 * CALLS / 2);
        assert!(table.take().is_empty(), "nothing is reported twice");
    }

    /// Past [`MAX_INDICES`] names, a flag has no index and counts in its own shared
    /// counters, which are reported all the same, with its variants.
    #[test]
    fn a_full_table_gives_no_new_index_and_flags_beyond_it_still_count() {
        let table = Arc::new(TallyTable::new());
        for i in 0..MAX_INDICES {
            assert!(table.index_of(&Arc::from(format!("f{i}"))).is_some());
        }
        assert_eq!(table.index_of(&Arc::from("one too many")), None);
        assert_eq!(table.index_of(&Arc::from("f7")), Some(7), "kept");

        let name: Arc<str> = Arc::from("late");
        let blue: Arc<str> = Arc::from("blue");
        let tally = Tally::new(&name, vec![Arc::from("disabled"), blue], &table, None);
        assert_eq!(tally.index, None);
        tally.count(true);
        tally.count(true);
        tally.count(false);
        tally.count_variant(&Arc::from("blue"));
        assert_eq!(
            take(&table, std::iter::once((&name, &tally))),
            [("late".to_owned(), 2, 1, vec![("blue".to_owned(), 1)])]
        );
        assert!(take(&table, std::iter::once((&name, &tally))).is_empty());
    }

    /// A reload that keeps a flag's variants keeps counting where it counted; one that
    /// changes them carries the counts of the names that stay.
    #[test]
    fn counts_carry_over_to_a_flag_whose_variants_change() {
        let table = Arc::new(TallyTable::new());
        let name: Arc<str> = Arc::from("f");
        let names = |list: &[&str]| list.iter().map(|n| Arc::from(*n)).collect::<Vec<_>>();
        let first = Tally::new(&name, names(&["disabled", "a"]), &table, None);
        first.count_variant(&Arc::from("a"));
        assert!(first.counts_variants(&names(&["disabled", "a"])));
        assert!(!first.counts_variants(&names(&["disabled", "a", "b"])));
        let second = Tally::new(&name, names(&["disabled", "a", "b"]), &table, Some(&first));
        second.count_variant(&Arc::from("b"));
        assert_eq!(second.index, first.index, "one index per name");
        let taken = take(&table, std::iter::once((&name, &second)));
        assert_eq!(taken[0].3, [("a".to_owned(), 1), ("b".to_owned(), 1)]);
    }
}
