//! Label names, each carrying a one-word fingerprint made when the name is given.
//!
//! Rules look labels up by name on every evaluation (`userId` for a rollout, `region`
//! for a constraint), and a call carries a handful of labels: a lookup is a short scan.
//! Comparing names byte by byte made that scan a fifth of an evaluation.
//!
//! **The trick.** A name's length and first seven bytes are packed into one `u64`
//! ([`NameWord`]) when the name enters a [`Labels`](super::Labels) or a compiled rule.
//! A lookup compares words: for names of up to seven bytes (`userId`, `region`,
//! `tenant`, `plan`) equal words *are* equal names, and for longer ones a different word
//! is a sure "no", so the bytes are compared only for the one candidate that matches.
//! **Benefit**: a label scan is one compare per label, no call to `memcmp`. **Cost**:
//! eight bytes per label, and the word is worked out when a name is given (folded away
//! by the compiler for a literal name, a short loop otherwise).

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A name's length (capped at 255) in the top byte and its first seven bytes below.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameWord(u64);

impl NameWord {
    /// The word of `name`. A `const fn`, so that rules keep the words of the names
    /// Unleash defines (`userId`, ...) as constants.
    #[inline]
    pub(crate) const fn of(name: &str) -> Self {
        let bytes = name.as_bytes();
        let len = bytes.len();
        let mut word = (if len > 255 { 255 } else { len } as u64) << 56;
        let mut at = 0;
        while at < len && at < 7 {
            word |= (bytes[at] as u64) << (8 * at);
            at += 1;
        }
        NameWord(word)
    }

    /// Whether equal words alone mean equal names: the names are at most 7 bytes.
    #[inline]
    const fn is_whole(self) -> bool {
        self.0 >> 56 <= 7
    }
}

/// A name to look labels up by, with its word: made once per rule (or constant), used
/// on every evaluation.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'n> {
    word: NameWord,
    text: &'n str,
}

impl<'n> Lookup<'n> {
    #[inline]
    pub(crate) const fn new(text: &'n str) -> Self {
        Self {
            word: NameWord::of(text),
            text,
        }
    }
}

impl fmt::Debug for Lookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.text, f)
    }
}

/// An owned name to look labels up by: what a compiled rule keeps.
#[derive(Clone)]
pub(crate) struct LabelName {
    word: NameWord,
    text: Box<str>,
}

impl LabelName {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            word: NameWord::of(text),
            text: text.into(),
        }
    }

    /// The name as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    #[inline]
    pub(crate) fn lookup(&self) -> Lookup<'_> {
        Lookup {
            word: self.word,
            text: &self.text,
        }
    }
}

impl PartialEq for LabelName {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for LabelName {}

impl fmt::Debug for LabelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// A label name known when the program is compiled, with its word worked out then:
/// what `#[feature_gate(labels(...))]` names its labels with.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct LabelKey(Lookup<'static>);

impl LabelKey {
    pub const fn new(name: &'static str) -> Self {
        Self(Lookup::new(name))
    }
}

/// The name of a label in a set: borrowed (a literal, usually) or owned, with its word.
#[derive(Clone)]
pub(super) struct Name<'a> {
    word: NameWord,
    text: Cow<'a, str>,
}

impl<'a> Name<'a> {
    #[inline]
    pub(super) fn new(text: Cow<'a, str>) -> Self {
        Self {
            word: NameWord::of(&text),
            text,
        }
    }

    #[inline]
    pub(super) const fn of_key(key: &LabelKey) -> Self {
        Self {
            word: key.0.word,
            text: Cow::Borrowed(key.0.text),
        }
    }

    #[inline]
    pub(super) fn is(&self, name: Lookup<'_>) -> bool {
        self.word == name.word && (name.word.is_whole() || same_text(&self.text, name.text))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.text
    }

    pub(super) fn into_owned(self) -> Name<'static> {
        Name {
            word: self.word,
            text: Cow::Owned(self.text.into_owned()),
        }
    }
}

impl PartialEq for Name<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.word == other.word && (self.word.is_whole() || same_text(&self.text, &other.text))
    }
}

impl Eq for Name<'_> {}

impl Hash for Name<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// Whether two texts are equal, compared inline in at most a few word loads (the first
/// and last words overlap for lengths between word sizes): names are short, and a call
/// to `memcmp` was a tenth of a gated call.
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let half = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
    };
    match len {
        0 => true,
        // The first, middle and last bytes: all of them, for up to three.
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..=8 => half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4),
        _ => {
            let mut at = 0;
            while at + 8 < len {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, len - 8) == word(b, len - 8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{same_text, Lookup, Name, NameWord};

    const NAMES: [&str; 16] = [
        "",
        "a",
        "b",
        "ab",
        "userId",
        "userIe",
        "user_id",
        "region",
        "regionX",
        "regiox",
        "sessionId",
        "sessionIe",
        "sessionId2",
        "remoteAddress",
        "remoteAddresS",
        "é€ñ",
    ];

    #[test]
    fn words_and_lookups_agree_with_plain_equality() {
        for a in NAMES {
            for b in NAMES {
                let name = Name::new(a.into());
                assert_eq!(name.is(Lookup::new(b)), a == b, "{a:?} vs {b:?}");
                if a.len() <= 7 && b.len() <= 7 {
                    assert_eq!(NameWord::of(a) == NameWord::of(b), a == b, "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn same_text_compares_whole() {
        for (a, b, equal) in [
            ("", "", true),
            ("a", "b", false),
            ("NewCheckout", "NewCheckouT", false),
            ("NewCheckout", "NewCheckou", false),
            ("abcdefgh", "abcdefgX", false),
            ("abcdefghijklmnopq", "abcdefghijklmnopq", true),
            ("abcdefghijklmnopq", "abcdefghijklmnopQ", false),
            ("Xbcdefghijklmnopq", "abcdefghijklmnopq", false),
            ("abcdefghiXklmnopq", "abcdefghijklmnopq", false),
            ("abcdefghijklmnop", "abcdefgHijklmnop", false),
            ("abcde", "abXde", false),
        ] {
            assert_eq!(same_text(a, b), equal, "{a} vs {b}");
        }
    }
}
