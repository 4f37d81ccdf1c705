//! Flow labels: the small key/value context a decision is made on.
//!
//! Built on every gated call, so built cheaply: up to four labels inline, values
//! borrowed or written in place (`value.rs`), names carrying a one-word fingerprint
//! that makes a rule's lookup one compare per label (`name.rs`).

mod ambient;
mod entries;
mod name;
#[doc(hidden)]
pub mod probe;
mod value;

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

// `ambient_live` and `with_ambient_cold` serve the one caller that returns a `Flow`:
// through `with`'s closure it counted 17 more instructions (a blocking gate: 218 vs 201).
pub(crate) use ambient::{
    live as ambient_live, owned as with_ambient_owned, with as with_ambient,
    with_ambient as with_ambient_cold,
};
pub use ambient::{scope, sync_scope};
#[cfg(feature = "tower")]
pub(crate) use ambient::{scoped, Scoped};
use entries::Storage;
pub use name::LabelKey;
use name::Name;
pub(crate) use name::{same_text, LabelName, Lookup};
#[doc(hidden)]
pub use value::LendLabel;
pub use value::{display, Displayed, LabelValue, Value};

/// How many labels fit inline before [`Labels`] spills to the heap.
const INLINE_LABELS: usize = 4;

/// Ordered key/value pairs describing one call: who is calling, from where, with what.
///
/// Labels are what a decision source buckets and matches on (`userId` for a sticky
/// rollout, `region` for a constraint). They are built on every gated call, so they are
/// cheap: up to four labels live inline, names are usually `&'static str`, values are
/// borrowed for `'a` or written in place ([`LabelValue`]), and nothing goes through
/// `core::fmt` but a type that only has `Display`.
///
/// Keys keep the order they were first inserted in; inserting an existing key replaces
/// its value in place.
///
/// ```
/// use flowgate::{labels, Labels};
///
/// let user_id = 42;
/// let region = String::from("eu");
/// let labels = labels! { "userId" => user_id, "region" => region };
/// assert_eq!(labels.get("userId"), Some("42"));
///
/// let mut by_hand = Labels::new();
/// by_hand.insert("userId", 42);
/// by_hand.insert("region", &region);   // borrowed
/// assert_eq!(labels, by_hand);
/// ```
///
/// Labels that borrow live no longer than what they borrow; [`Labels::into_owned`]
/// gives a `Labels<'static>` to keep (in a struct field, across threads).
#[derive(Clone, Default)]
pub struct Labels<'a> {
    entries: Storage<'a, Entry<'a>, INLINE_LABELS>,
}

/// One label: its name and value. Public only for `#[feature_gate(labels(...))]`,
/// which lays a call's labels out as an array of these.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Entry<'a> {
    name: Name<'a>,
    value: Value<'a>,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} => {:?}", self.name.as_str(), self.value)
    }
}

impl<'a> Entry<'a> {
    #[doc(hidden)]
    #[inline]
    pub fn __new(key: &LabelKey, value: Value<'a>) -> Self {
        Self {
            name: Name::of_key(key),
            value,
        }
    }
}

impl<'a> Labels<'a> {
    /// No labels. Does not allocate.
    pub const fn new() -> Self {
        Self {
            entries: Storage::new(),
        }
    }

    /// Sets `key` to `value`, replacing the value of an existing key in place.
    #[inline]
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: impl LabelValue<'a>) {
        self.insert_value(Name::new(key.into()), value.into_label_value());
    }

    #[inline]
    fn insert_value(&mut self, name: Name<'a>, value: Value<'a>) {
        if value.is_absent() {
            // `None`: the label is left out, and an earlier value of it removed.
            self.remove_name(&name);
            return;
        }
        match self
            .entries
            .as_mut_slice()
            .iter_mut()
            .find(|entry| entry.name == name)
        {
            Some(entry) => entry.value = value,
            None => self.entries.push(Entry { name, value }),
        }
    }

    /// Builder form of [`Labels::insert`].
    #[must_use]
    #[inline]
    pub fn with(mut self, key: impl Into<Cow<'a, str>>, value: impl LabelValue<'a>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(Lookup::new(key))
    }

    /// The value of the label `name`: one word compared per label (see `name.rs`).
    #[inline]
    pub(crate) fn find(&self, name: Lookup<'_>) -> Option<&str> {
        self.entries
            .as_slice()
            .iter()
            .find(|entry| entry.name.is(name))
            .and_then(|entry| entry.value.get())
    }

    /// The value of the label named either way (camelCase first), in one pass.
    #[inline]
    pub(crate) fn find_either(&self, [first, second]: [Lookup<'_>; 2]) -> Option<&str> {
        let mut other = None;
        for entry in self.entries.as_slice() {
            if entry.name.is(first) {
                if let Some(value) = entry.value.get() {
                    return Some(value);
                }
            } else if other.is_none() && entry.name.is(second) {
                other = entry.value.get();
            }
        }
        other
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let key = Lookup::new(key);
        let index = self
            .entries
            .as_slice()
            .iter()
            .position(|entry| entry.name.is(key))?;
        let value = self.entries.remove(index).value;
        (!value.is_absent()).then(|| value.into_string())
    }

    /// Removes the label `name`, if set.
    fn remove_name(&mut self, name: &Name<'a>) {
        if let Some(index) = self
            .entries
            .as_slice()
            .iter()
            .position(|entry| entry.name == *name)
        {
            self.entries.remove(index);
        }
    }

    /// The labels in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.as_slice().iter(),
        }
    }

    /// How many labels are set.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The same labels, owning their text: to keep them beyond what they borrow.
    #[must_use]
    pub fn into_owned(self) -> Labels<'static> {
        let mut owned = Labels::new();
        for entry in self.entries.as_slice() {
            if !entry.value.is_absent() {
                owned.entries.push(entry.clone().into_owned());
            }
        }
        owned
    }

    /// Whether the labels live on the heap (more than four labels, or an owned value
    /// longer than 24 bytes). Exposed so that allocation-sensitive callers and tests
    /// can check it.
    pub fn spilled(&self) -> bool {
        self.entries.spilled()
            || self
                .entries
                .as_slice()
                .iter()
                .any(|e| e.value.is_heap_allocated())
    }

    /// A view of labels of distinct names laid out by `#[feature_gate(labels(...))]`
    /// (the attribute has checked that the names differ): nothing is copied.
    #[doc(hidden)]
    #[inline]
    pub const fn __borrowing(entries: &'a [Entry<'a>]) -> Self {
        Self {
            entries: Storage::borrowed(entries),
        }
    }

    /// Inserts a value the `labels!` macro made.
    #[doc(hidden)]
    #[inline]
    pub fn __insert_value(&mut self, key: impl Into<Cow<'a, str>>, value: Value<'a>) {
        self.insert_value(Name::new(key.into()), value);
    }
}

impl Entry<'_> {
    fn into_owned(self) -> Entry<'static> {
        Entry {
            name: self.name.into_owned(),
            value: self.value.into_owned(),
        }
    }
}

/// Equal when the same names have the same values in the same order, inline or not.
impl PartialEq for Labels<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Labels<'_> {}

impl Hash for Labels<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for entry in self {
            entry.hash(state);
        }
    }
}

impl fmt::Debug for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: LabelValue<'a>> Extend<(K, V)> for Labels<'a> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.entries.reserve(iter.size_hint().0);
        for (key, value) in iter {
            self.insert(key, value);
        }
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: LabelValue<'a>> FromIterator<(K, V)> for Labels<'a> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut labels = Self::new();
        labels.extend(iter);
        labels
    }
}

impl<'l> IntoIterator for &'l Labels<'_> {
    type Item = (&'l str, &'l str);
    type IntoIter = Iter<'l>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Labels`] in insertion order, from [`Labels::iter`].
#[derive(Clone)]
pub struct Iter<'l> {
    inner: std::slice::Iter<'l, Entry<'l>>,
}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'l> Iterator for Iter<'l> {
    type Item = (&'l str, &'l str);

    fn next(&mut self) -> Option<Self::Item> {
        // Absent values (`None` given to `#[feature_gate(labels(...))]`) are skipped.
        self.inner
            .find_map(|entry| Some((entry.name.as_str(), entry.value.get()?)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.inner.size_hint().1)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Builds [`Labels`] from `key => value` pairs.
///
/// Each value is taken by reference and never moved: a `&str` or a reference
/// (`&user.name`) is borrowed for as long as the labels live; an owned string
/// (a `String` variable, `format!(...)`) is copied, inline up to 24 bytes; numbers and
/// `bool`s are written without `core::fmt`; anything else that is `Display` (an
/// `IpAddr`, a `Uuid`) is formatted.
///
/// ```
/// let session = String::from("s-1");
/// let region = "eu";
/// let labels = flowgate::labels! {
///     "sessionId" => session,             // copied: `session` is not moved
///     "region" => region,                 // borrowed
///     "attempt" => 3,
///     "ip" => std::net::Ipv4Addr::LOCALHOST,
///     "trace" => format!("t-{}", 7),      // a temporary: copied
/// };
/// assert_eq!(labels.get("sessionId"), Some("s-1"));
/// assert_eq!(labels.get("ip"), Some("127.0.0.1"));
/// assert_eq!(session, "s-1");
/// ```
#[macro_export]
macro_rules! labels {
    () => {
        $crate::Labels::new()
    };
    ($($key:expr => $value:expr),+ $(,)?) => {{
        #[allow(unused_imports)]
        use $crate::labels::probe::{LendsLabel as _, LendsDisplay as _};
        let mut labels = $crate::Labels::new();
        $( labels.__insert_value($key, (&$crate::labels::probe::LabelProbe(&$value)).lend_label()); )+
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
        let many: Labels<'_> = (0..5).map(|i| (format!("k{i}"), i)).collect();
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

    #[test]
    fn owned_labels_outlive_what_they_borrowed() {
        let kept: Labels<'static> = {
            let user = String::from("a user id longer than twenty-four bytes");
            Labels::new().with("userId", &user).into_owned()
        };
        assert_eq!(
            kept.get("userId"),
            Some("a user id longer than twenty-four bytes")
        );
    }
}
