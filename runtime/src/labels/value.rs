//! Label values: what a call's labels hold, and how each kind of value becomes one
//! without Rust's formatting machinery.
//!
//! A value is borrowed text or text of its own ([`LabelValue`]): a `&str` or a
//! `&String` is borrowed for as long as the labels live, a `String` moves in, a number
//! is written in place by `itoa` (at most 24 bytes inline, no heap), `true` and `false`
//! are static text. Only a type with nothing but `Display` goes through `core::fmt`
//! ([`display`]). Formatting label values was 43% of a gated call before.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use compact_str::{CompactString, ToCompactString};

/// A label's value as [`Labels`](super::Labels) keep it: text borrowed for `'a`, or
/// text of its own.
///
/// Made by [`LabelValue::into_label_value`]; a type of your own makes one with
/// [`Value::borrowed`] or [`Value::owned`].
#[derive(Clone)]
pub struct Value<'a>(Repr<'a>);

#[derive(Clone)]
enum Repr<'a> {
    Borrowed(&'a str),
    /// Up to 24 bytes inline, longer on the heap.
    Owned(CompactString),
    /// No value (an `Option` that is `None`): the label is left out.
    Absent,
}

impl<'a> Value<'a> {
    /// Text borrowed for as long as the labels live.
    #[inline]
    pub const fn borrowed(text: &'a str) -> Self {
        Value(Repr::Borrowed(text))
    }

    /// Text of its own: up to 24 bytes are kept inline; a longer `String` keeps its
    /// buffer (no copy).
    #[inline]
    pub fn owned(text: impl Into<String>) -> Value<'static> {
        Value(Repr::Owned(CompactString::from(text.into())))
    }

    /// A copy of `text`, inline up to 24 bytes.
    #[inline]
    fn copied(text: &str) -> Value<'static> {
        Value(Repr::Owned(CompactString::new(text)))
    }

    /// The text of anything `Display`, through `core::fmt`.
    pub fn display(value: &(impl fmt::Display + ?Sized)) -> Value<'static> {
        Value(Repr::Owned(value.to_compact_string()))
    }

    /// No value: a label given `None` is left out of the labels (lookups do not find
    /// it, iteration skips it).
    #[inline]
    pub const fn absent() -> Value<'static> {
        Value(Repr::Absent)
    }

    /// Whether this is [`Value::absent`].
    #[inline]
    pub const fn is_absent(&self) -> bool {
        matches!(self.0, Repr::Absent)
    }

    /// The text (empty for [`Value::absent`]).
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Borrowed(text) => text,
            Repr::Owned(text) => text.as_str(),
            Repr::Absent => "",
        }
    }

    /// The text, `None` when absent.
    #[inline]
    pub(super) fn get(&self) -> Option<&str> {
        match &self.0 {
            Repr::Borrowed(text) => Some(text),
            Repr::Owned(text) => Some(text.as_str()),
            Repr::Absent => None,
        }
    }

    /// The same text, owned: for labels that must outlive what they borrowed.
    pub fn into_owned(self) -> Value<'static> {
        match self.0 {
            Repr::Borrowed(text) => Value::copied(text),
            Repr::Owned(text) => Value(Repr::Owned(text)),
            Repr::Absent => Value(Repr::Absent),
        }
    }

    pub(super) fn into_string(self) -> String {
        match self.0 {
            Repr::Borrowed(text) => text.to_owned(),
            Repr::Owned(text) => text.into_string(),
            Repr::Absent => String::new(),
        }
    }

    pub(super) fn is_heap_allocated(&self) -> bool {
        matches!(&self.0, Repr::Owned(text) if text.is_heap_allocated())
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Value<'_> {}

impl Hash for Value<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can be a label's value, and how it becomes one: borrowed for `'a`, or owned.
///
/// | given | kept as |
/// |---|---|
/// | `&str`, `&String`, `&Box<str>`, `&Arc<str>`, `&Cow<str>` | borrowed, no copy |
/// | `String`, `Box<str>`, `Cow<str>` | moved in (an owned `Cow`), or borrowed (a borrowed one) |
/// | integers of every width, by value or by reference | digits written in place, no `core::fmt`, inline |
/// | `bool`, `char` | `"true"` / `"false"`; the character, inline |
/// | anything else that is `Display` | through [`display`], or as-is in [`labels!`](crate::labels!) and `#[feature_gate(labels(...))]` |
///
/// ```
/// use flowgate::Labels;
///
/// let user_id = String::from("user-42");
/// let mut labels = Labels::new();
/// labels.insert("userId", &user_id);   // borrowed: `labels` lives no longer than `user_id`
/// labels.insert("attempt", 3);         // "3", written without core::fmt
/// labels.insert("beta", true);         // "true"
/// assert_eq!(labels.get("userId"), Some("user-42"));
/// assert_eq!(labels.get("attempt"), Some("3"));
/// ```
pub trait LabelValue<'a> {
    /// The value as labels keep it.
    fn into_label_value(self) -> Value<'a>;
}

impl<'a> LabelValue<'a> for Value<'a> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        self
    }
}

impl<'a> LabelValue<'a> for &'a str {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(self)
    }
}

impl<'a> LabelValue<'a> for &'a String {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(self)
    }
}

impl<'a> LabelValue<'a> for &'a Box<str> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(self)
    }
}

impl<'a> LabelValue<'a> for &'a Arc<str> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(self)
    }
}

impl<'a> LabelValue<'a> for &'a Cow<'_, str> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(self)
    }
}

impl<'a> LabelValue<'a> for Cow<'a, str> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        match self {
            Cow::Borrowed(text) => Value::borrowed(text),
            Cow::Owned(text) => Value::owned(text),
        }
    }
}

impl<'a> LabelValue<'a> for String {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::owned(self)
    }
}

impl<'a> LabelValue<'a> for Box<str> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::owned(self)
    }
}

/// `Some(value)` is the value; `None` leaves the label out (an optional header, a user
/// who is not signed in).
///
/// ```
/// use flowgate::Labels;
///
/// let tenant: Option<&str> = None;
/// let labels = Labels::new().with("region", Some("eu")).with("tenant", tenant);
/// assert_eq!(labels.get("region"), Some("eu"));
/// assert_eq!(labels.get("tenant"), None);
/// assert_eq!(labels.len(), 1);
/// ```
impl<'a, T: LabelValue<'a>> LabelValue<'a> for Option<T> {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        match self {
            Some(value) => value.into_label_value(),
            None => Value::absent(),
        }
    }
}

/// A borrowed `Option`: its value borrowed, or the label left out.
impl<'a, T> LabelValue<'a> for &'a Option<T>
where
    &'a T: LabelValue<'a>,
{
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        match self {
            Some(value) => value.into_label_value(),
            None => Value::absent(),
        }
    }
}

/// A reference to a reference (`&&str`, `&&String`, `&&u64`): what the inner one gives.
impl<'a, T: ?Sized> LabelValue<'a> for &&'a T
where
    &'a T: LabelValue<'a>,
{
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        (*self).into_label_value()
    }
}

macro_rules! integers {
    ($($int:ty),*) => {$(
        impl<'a> LabelValue<'a> for $int {
            #[inline]
            fn into_label_value(self) -> Value<'a> {
                Value::copied(itoa::Buffer::new().format(self))
            }
        }

        impl<'a> LabelValue<'a> for &$int {
            #[inline]
            fn into_label_value(self) -> Value<'a> {
                (*self).into_label_value()
            }
        }
    )*};
}

integers!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl<'a> LabelValue<'a> for bool {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::borrowed(if self { "true" } else { "false" })
    }
}

impl<'a> LabelValue<'a> for &bool {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        (*self).into_label_value()
    }
}

impl<'a> LabelValue<'a> for char {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        Value::copied(self.encode_utf8(&mut [0; 4]))
    }
}

impl<'a> LabelValue<'a> for &char {
    #[inline]
    fn into_label_value(self) -> Value<'a> {
        (*self).into_label_value()
    }
}

/// A value of a type with nothing but `Display` (an IP address, a UUID, an enum of your
/// own), for [`Labels::insert`](super::Labels::insert). Goes through `core::fmt`.
///
/// ```
/// use std::net::Ipv4Addr;
/// use flowgate::{labels::display, Labels};
///
/// let labels = Labels::new().with("remoteAddress", display(Ipv4Addr::LOCALHOST));
/// assert_eq!(labels.get("remoteAddress"), Some("127.0.0.1"));
/// ```
pub fn display<T: fmt::Display>(value: T) -> Displayed<T> {
    Displayed(value)
}

/// A value labelled through its `Display`; see [`display`].
#[derive(Debug, Clone, Copy)]
pub struct Displayed<T>(T);

impl<'a, T: fmt::Display> LabelValue<'a> for Displayed<T> {
    fn into_label_value(self) -> Value<'a> {
        Value::display(&self.0)
    }
}

/// What the `labels!` macro uses for a value given as an expression (`"k" => value`):
/// a reference, or a `&str`, is borrowed for as long as the labels live; an owned
/// string is copied (inline up to 24 bytes), so that a temporary (`format!(...)`) or a
/// variable keeps working after the macro, which takes each value by reference.
#[doc(hidden)]
pub trait LendLabel<'a> {
    fn lend_label_value(&self) -> Value<'a>;
}

/// A reference (`&name`, a `&str`): borrowed for its own lifetime.
impl<'a, T: ?Sized> LendLabel<'a> for &'a T
where
    &'a T: LabelValue<'a>,
{
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        (*self).into_label_value()
    }
}

impl<'a> LendLabel<'a> for String {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        Value::copied(self)
    }
}

impl<'a> LendLabel<'a> for Box<str> {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        Value::copied(self)
    }
}

impl<'a> LendLabel<'a> for Arc<str> {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        Value::copied(self)
    }
}

impl<'a> LendLabel<'a> for Cow<'a, str> {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        match self {
            Cow::Borrowed(text) => Value::borrowed(text),
            Cow::Owned(text) => Value::copied(text),
        }
    }
}

/// `Some` lends its value; `None` leaves the label out.
impl<'a, T: LendLabel<'a>> LendLabel<'a> for Option<T> {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        match self {
            Some(value) => value.lend_label_value(),
            None => Value::absent(),
        }
    }
}

impl<'a> LendLabel<'a> for Value<'a> {
    #[inline]
    fn lend_label_value(&self) -> Value<'a> {
        self.clone()
    }
}

macro_rules! lend_copies {
    ($($t:ty),*) => {$(
        impl<'a> LendLabel<'a> for $t {
            #[inline]
            fn lend_label_value(&self) -> Value<'a> {
                (*self).into_label_value()
            }
        }
    )*};
}

lend_copies!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_of_every_width_read_as_display_does() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let n = rng.u64(..) >> rng.u32(..64);
            assert_eq!(n.into_label_value().as_str(), n.to_string());
            let signed = n.cast_signed();
            assert_eq!(signed.into_label_value().as_str(), signed.to_string());
            let negated = signed.wrapping_neg();
            assert_eq!(negated.into_label_value().as_str(), negated.to_string());
        }
        for n in [u128::MAX, 0] {
            assert_eq!(n.into_label_value().as_str(), n.to_string());
        }
        assert_eq!(i128::MIN.into_label_value().as_str(), i128::MIN.to_string());
        assert_eq!(i8::MIN.into_label_value().as_str(), "-128");
        assert!(!u64::MAX.into_label_value().is_heap_allocated());
        assert!(!i64::MIN.into_label_value().is_heap_allocated());
    }

    #[test]
    fn strings_are_borrowed_and_owned_ones_moved() {
        let text = String::from("a longer value than twenty-four bytes");
        let value = (&text).into_label_value();
        assert!(matches!(value.0, Repr::Borrowed(t) if std::ptr::eq(t, text.as_str())));
        let buffer = text.as_ptr();
        let moved = text.into_label_value();
        assert!(matches!(&moved.0, Repr::Owned(t) if t.as_ptr() == buffer));
        assert_eq!(true.into_label_value().as_str(), "true");
        assert_eq!('é'.into_label_value().as_str(), "é");
    }
}
