//! Flow labels: the small key/value context a decision is made on.

use std::borrow::Cow;
use std::fmt;

use compact_str::{CompactString, ToCompactString};
use smallvec::SmallVec;

/// How many labels fit inline before [`Labels`] spills to the heap.
const INLINE_LABELS: usize = 4;

/// Ordered key/value pairs describing one call: who is calling, from where, with what.
///
/// Labels are what a decision source buckets and matches on (`userId` for a sticky
/// rollout, `region` for a constraint). They are built on every gated call, so they are
/// cheap: up to four labels live inline, keys are usually `&'static str`, and values of
/// up to 24 bytes are stored without touching the heap.
///
/// Keys keep the order they were first inserted in; inserting an existing key replaces
/// its value in place.
///
/// ```
/// use flowgate::{labels, Labels};
///
/// let user_id = 42;
/// let labels = labels! { "userId" => user_id, "region" => "eu" };
/// assert_eq!(labels.get("userId"), Some("42"));
///
/// let mut by_hand = Labels::new();
/// by_hand.insert("userId", 42);
/// by_hand.insert("region", "eu");
/// assert_eq!(labels, by_hand);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    entries: SmallVec<[(Cow<'static, str>, CompactString); INLINE_LABELS]>,
}

/// A value that can be used as a label: anything that implements [`fmt::Display`].
///
/// Integers and short strings are converted without allocating.
pub trait LabelValue {
    /// Renders the value as label text.
    fn into_label_value(self) -> CompactString;
}

impl<T: fmt::Display> LabelValue for T {
    fn into_label_value(self) -> CompactString {
        self.to_compact_string()
    }
}

impl Labels {
    /// No labels. Does not allocate.
    pub const fn new() -> Self {
        Self {
            entries: SmallVec::new_const(),
        }
    }

    /// Sets `key` to `value`, replacing the value of an existing key in place.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl LabelValue) {
        let key = key.into();
        let value = value.into_label_value();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Builder form of [`Labels::insert`].
    #[must_use]
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl LabelValue) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        // A linear scan beats hashing for the handful of labels a call carries.
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1.into_string())
    }

    /// The labels in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// How many labels are set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the labels live on the heap (more than four labels, or a long value).
    /// Exposed so that allocation-sensitive callers and tests can check it.
    pub fn spilled(&self) -> bool {
        self.entries.spilled() || self.entries.iter().any(|(_, v)| v.is_heap_allocated())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Cow<'static, str>>, V: LabelValue> Extend<(K, V)> for Labels {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (key, value) in iter {
            self.insert(key, value);
        }
    }
}

impl<K: Into<Cow<'static, str>>, V: LabelValue> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut labels = Self::new();
        labels.extend(iter);
        labels
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Labels`] in insertion order, from [`Labels::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (Cow<'static, str>, CompactString)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k.as_ref(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Builds [`Labels`] from `key => value` pairs; values are taken by reference and may be
/// anything that implements `Display`.
///
/// ```
/// let session = String::from("s-1");
/// let labels = flowgate::labels! { "sessionId" => session, "attempt" => 3 };
/// assert_eq!(labels.get("sessionId"), Some("s-1"));
/// assert_eq!(session, "s-1"); // not moved
/// ```
#[macro_export]
macro_rules! labels {
    () => {
        $crate::Labels::new()
    };
    ($($key:expr => $value:expr),+ $(,)?) => {{
        let mut labels = $crate::Labels::new();
        $( labels.insert($key, &$value); )+
        labels
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut labels = labels! { "a" => 1, "b" => 2, "c" => 3 };
        labels.insert("b", "two");
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, [("a", "1"), ("b", "two"), ("c", "3")]);
    }

    #[test]
    fn short_labels_stay_inline_and_long_ones_spill() {
        let labels = labels! { "userId" => 123_456_789_u64, "region" => "eu-west-1" };
        assert!(!labels.spilled());
        let long = labels.clone().with("token", "x".repeat(64));
        assert!(long.spilled());
        let many: Labels = (0..5).map(|i| (format!("k{i}"), i)).collect();
        assert!(many.spilled());
    }

    #[test]
    fn remove_and_get() {
        let mut labels = labels! { "a" => 1 };
        assert_eq!(labels.remove("a").as_deref(), Some("1"));
        assert_eq!(labels.get("a"), None);
        assert!(labels.is_empty());
    }

    #[test]
    fn debug_is_a_map() {
        let labels = labels! { "userId" => 7 };
        assert_eq!(format!("{labels:?}"), r#"{"userId": "7"}"#);
    }
}
