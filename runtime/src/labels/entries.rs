//! Where a set of labels keeps its entries: four inline, then a `Vec`; or borrowed,
//! as `#[feature_gate(labels(...))]` lays them out on the stack (nothing moved or
//! pushed: the labels are a view of an array literal; changing them copies it first).
//!
//! Written as an enum of an `ArrayVec` and a `Vec` rather than with `SmallVec`, whose
//! element type is an associated type: that makes `SmallVec` invariant, and labels
//! that borrow must be covariant, so that a `&Labels<'long>` can be passed where a
//! `&Labels<'short>` is taken.

use arrayvec::ArrayVec;

/// Entries of which the first four live inline, or borrowed.
#[derive(Clone)]
pub(super) enum Storage<'a, T, const N: usize> {
    Inline(ArrayVec<T, N>),
    Spilled(Vec<T>),
    Borrowed(&'a [T]),
}

impl<'a, T: Clone, const N: usize> Storage<'a, T, N> {
    pub(super) const fn new() -> Self {
        Storage::Inline(ArrayVec::new_const())
    }

    pub(super) const fn borrowed(items: &'a [T]) -> Self {
        Storage::Borrowed(items)
    }

    /// Room for `additional` more entries, ahead of a run of pushes.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.own();
        if let Storage::Inline(inline) = self {
            if inline.len() + additional > N {
                let mut spilled = Vec::with_capacity(inline.len() + additional);
                spilled.extend(inline.drain(..));
                *self = Storage::Spilled(spilled);
            }
        } else if let Storage::Spilled(spilled) = self {
            spilled.reserve(additional);
        }
    }

    /// Borrowed entries copied, before a change.
    #[inline]
    fn own(&mut self) {
        if let Storage::Borrowed(items) = *self {
            self.copy_borrowed(items);
        }
    }

    #[cold]
    fn copy_borrowed(&mut self, items: &[T]) {
        *self = if items.len() <= N {
            Storage::Inline(items.iter().cloned().collect())
        } else {
            Storage::Spilled(items.to_vec())
        };
    }

    #[inline]
    pub(super) fn push(&mut self, item: T) {
        self.own();
        match self {
            Storage::Inline(inline) => {
                if let Err(full) = inline.try_push(item) {
                    let mut spilled = Vec::with_capacity(N * 4);
                    spilled.extend(inline.drain(..));
                    spilled.push(full.element());
                    *self = Storage::Spilled(spilled);
                }
            }
            Storage::Spilled(spilled) => spilled.push(item),
            Storage::Borrowed(_) => unreachable!("owned above"),
        }
    }

    pub(super) fn remove(&mut self, index: usize) -> T {
        self.own();
        match self {
            Storage::Inline(inline) => inline.remove(index),
            Storage::Spilled(spilled) => spilled.remove(index),
            Storage::Borrowed(_) => unreachable!("owned above"),
        }
    }

    #[inline]
    pub(super) fn as_slice(&self) -> &[T] {
        match self {
            Storage::Inline(inline) => inline,
            Storage::Spilled(spilled) => spilled,
            Storage::Borrowed(items) => items,
        }
    }

    #[inline]
    pub(super) fn as_mut_slice(&mut self) -> &mut [T] {
        self.own();
        match self {
            Storage::Inline(inline) => inline,
            Storage::Spilled(spilled) => spilled,
            Storage::Borrowed(_) => unreachable!("owned above"),
        }
    }

    pub(super) fn spilled(&self) -> bool {
        matches!(self, Storage::Spilled(_))
    }
}

impl<T: Clone, const N: usize> Default for Storage<'_, T, N> {
    fn default() -> Self {
        Self::new()
    }
}
