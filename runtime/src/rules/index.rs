//! A snapshot's flags: a list, and an index by name into it, with the call site's memo
//! of where its flag sits looked at first.

use std::fmt;
use std::hash::Hasher as _;

use hashbrown::HashTable;

use super::model::Feature;
use crate::labels::same_text as same_name;
use crate::memo::FlagSlot;

/// The flags of a snapshot, found by name, or straight by position from a call site's
/// [`FlagSlot`].
#[derive(Default)]
pub(crate) struct Features {
    list: Vec<Feature>,
    /// Positions in `list`, by the hash of the flag's name.
    index: HashTable<u32>,
}

impl Features {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            list: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
        }
    }

    /// Adds `feature`, replacing the flag of the same name.
    pub(crate) fn insert(&mut self, mut feature: Feature) {
        feature.seal();
        let hash = hash_name(&feature.name);
        if let Some(&at) = self.index.find(hash, |&at| {
            same_name(&self.list[at as usize].name, &feature.name)
        }) {
            self.list[at as usize] = feature;
            return;
        }
        let Ok(at) = u32::try_from(self.list.len()) else {
            // Four billion flags do not fit in memory anyway.
            return;
        };
        self.list.push(feature);
        let list = &self.list;
        self.index
            .insert_unique(hash, at, |&at| hash_name(&list[at as usize].name));
    }

    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<&Feature> {
        self.position(name).map(|at| &self.list[at])
    }

    /// The flag `name`, looked for first where `slot` says it was last time.
    #[inline]
    pub(crate) fn get_at(&self, slot: &FlagSlot, name: &str) -> Option<&Feature> {
        if let Some(feature) = slot.position().and_then(|at| self.list.get(at)) {
            if same_name(&feature.name, name) {
                return Some(feature);
            }
        }
        let at = self.position(name)?;
        slot.set_position(at);
        Some(&self.list[at])
    }

    #[inline]
    fn position(&self, name: &str) -> Option<usize> {
        self.index
            .find(hash_name(name), |&at| {
                same_name(&self.list[at as usize].name, name)
            })
            .map(|&at| at as usize)
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Feature> {
        self.list.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Feature> {
        self.list.iter_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(features: I) -> Self {
        let features = features.into_iter();
        let mut all = Self::with_capacity(features.size_hint().0);
        for feature in features {
            all.insert(feature);
        }
        all
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.list).finish()
    }
}

/// Flag names come from configuration, not from requests: a fast hash is safe here.
#[inline]
fn hash_name(name: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(name.as_bytes());
    hasher.finish()
}
