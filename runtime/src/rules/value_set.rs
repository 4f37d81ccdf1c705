//! The values of an `IN` or `NOT_IN` constraint, looked up as a set.
//!
//! **The trick.** A constraint's values are fixed when the snapshot is built, and a call
//! asks whether its one label value is among them. A short list (up to
//! [`SCANNED`] values) is scanned with an inline compare of a few word loads (no
//! `memcmp` call); a longer one is indexed once, when the snapshot is built, in a hash
//! table of positions, so that a call hashes its value once and compares one or two
//! candidates. **Benefit**: 16 constraints of 16 values each cost 16 hashes, not 256
//! compares. **Cost**: a table of 4-byte positions per long list, and an `FxHash` of
//! the call's value (the table holds only configured values, so a caller cannot make a
//! probe longer than the table's own longest).
//!
//! Case-insensitive lists are scanned: lower-casing a call's value would allocate.

use std::hash::Hasher as _;

use hashbrown::HashTable;

use crate::labels::same_text;

/// Lists this long or shorter are scanned.
const SCANNED: usize = 8;

/// The values of one `IN` or `NOT_IN` constraint.
#[derive(Debug)]
pub(crate) struct ValueSet {
    values: Vec<Box<str>>,
    /// Positions in `values` by hash, for a long case-sensitive list.
    index: Option<HashTable<u32>>,
    case_insensitive: bool,
}

impl ValueSet {
    pub(crate) fn new(values: Vec<Box<str>>, case_insensitive: bool) -> Self {
        let index = (!case_insensitive && values.len() > SCANNED).then(|| {
            let mut index = HashTable::with_capacity(values.len());
            for (at, value) in values.iter().enumerate() {
                let Ok(at) = u32::try_from(at) else { break };
                let hash = hash(value);
                if index
                    .find(hash, |&i: &u32| *values[i as usize] == **value)
                    .is_none()
                {
                    index.insert_unique(hash, at, |&i| self::hash(&values[i as usize]));
                }
            }
            index
        });
        Self {
            values,
            index,
            case_insensitive,
        }
    }

    /// How many values it holds.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether `value` is one of the values.
    #[inline]
    pub(crate) fn contains(&self, value: &str) -> bool {
        if self.case_insensitive {
            return self.values.iter().any(|v| eq_ignore_case(v, value));
        }
        match &self.index {
            None => self.values.iter().any(|v| same_text(v, value)),
            Some(index) => index
                .find(hash(value), |&at| {
                    same_text(&self.values[at as usize], value)
                })
                .is_some(),
        }
    }
}

#[inline]
fn hash(value: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(value.as_bytes());
    hasher.finish()
}

pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::ValueSet;

    #[test]
    fn sets_of_every_size_agree_with_a_plain_scan() {
        let mut rng = fastrand::Rng::with_seed(3);
        let pieces = ["a", "b", "é", "eu", "us", "region-", "0", "ß", ""];
        let word = |rng: &mut fastrand::Rng| -> String {
            (0..rng.usize(0..5))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect()
        };
        for _ in 0..3_000 {
            let values: Vec<Box<str>> = (0..rng.usize(0..40))
                .map(|_| word(&mut rng).into())
                .collect();
            let insensitive = rng.bool();
            let set = ValueSet::new(values.clone(), insensitive);
            for _ in 0..20 {
                let probe = if rng.bool() && !values.is_empty() {
                    values[rng.usize(..values.len())].to_string()
                } else {
                    word(&mut rng)
                };
                let expected = values.iter().any(|v| {
                    if insensitive {
                        v.to_lowercase() == probe.to_lowercase()
                    } else {
                        **v == *probe
                    }
                });
                assert_eq!(set.contains(&probe), expected, "{probe:?} in {values:?}");
            }
        }
    }
}
