//! `MurmurHash3` (x86, 32-bit), the hash Unleash buckets with.
//!
//! Written here rather than taken from a crate because Unleash hashes
//! `"{groupId}:{value}"`: the group's part is hashed once when a snapshot is built,
//! and a call hashes only its value, without building that string (no allocation).

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_block(hash: u32, block: u32) -> u32 {
    let k = block.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    (hash ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// `MurmurHash3` of `"{group}:"`, as far as whole blocks go, worked out once when a
/// snapshot is built: a call then hashes only its own value, which is most of a
/// rollout's cost saved for long flag names, with no key to copy together.
#[derive(Clone, Debug)]
pub(crate) struct GroupHash {
    hash: u32,
    /// The bytes after the last whole block, zero-padded.
    pending: [u8; 4],
    pending_len: usize,
    len: u32,
}

impl GroupHash {
    /// The state after `"{group}:"`, without building that string.
    pub(crate) fn new(group: &str, seed: u32) -> Self {
        let group = group.as_bytes();
        let mut hash = seed;
        let mut blocks = group.chunks_exact(4);
        for block in &mut blocks {
            hash = mix_block(hash, u32::from_le_bytes(block.try_into().expect("4 bytes")));
        }
        // The group's last bytes and the `:` after them.
        let rest = blocks.remainder();
        let mut pending = [0_u8; 4];
        pending[..rest.len()].copy_from_slice(rest);
        pending[rest.len()] = b':';
        let mut pending_len = rest.len() + 1;
        if pending_len == 4 {
            hash = mix_block(hash, u32::from_le_bytes(pending));
            pending = [0; 4];
            pending_len = 0;
        }
        Self {
            hash,
            pending,
            pending_len,
            #[allow(clippy::cast_possible_truncation)] // murmur3 mixes the length mod 2^32
            len: (group.len() + 1) as u32,
        }
    }

    /// Unleash's bucket of `value` in this group: 1 to `normalizer` inclusive, as
    /// [`normalized`] computes it.
    #[inline]
    pub(crate) fn bucket(&self, value: &str, normalizer: u32) -> u32 {
        let value = value.as_bytes();
        let mut hash = self.hash;
        // The partial block, little-endian, kept in a register rather than an array.
        let mut tail = u32::from_le_bytes(self.pending);
        let mut tail_len = self.pending_len;
        let mut rest = value;
        while tail_len > 0 && tail_len < 4 {
            let Some((&byte, after)) = rest.split_first() else {
                break;
            };
            tail |= u32::from(byte) << (8 * tail_len);
            tail_len += 1;
            rest = after;
        }
        if tail_len == 4 {
            hash = mix_block(hash, tail);
            tail = 0;
            tail_len = 0;
        }
        // Either the pending block was completed (tail empty) or `rest` is empty.
        let mut blocks = rest.chunks_exact(4);
        for block in &mut blocks {
            hash = mix_block(hash, u32::from_le_bytes(block.try_into().expect("4 bytes")));
        }
        for &byte in blocks.remainder() {
            tail |= u32::from(byte) << (8 * tail_len);
            tail_len += 1;
        }
        if tail_len > 0 {
            hash ^= tail.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        #[allow(clippy::cast_possible_truncation)] // murmur3 mixes the length mod 2^32
        {
            hash ^= self.len.wrapping_add(value.len() as u32);
        }
        hash ^= hash >> 16;
        hash = hash.wrapping_mul(0x85eb_ca6b);
        hash ^= hash >> 13;
        hash = hash.wrapping_mul(0xc2b2_ae35);
        hash ^= hash >> 16;
        // A constant divisor compiles to a multiply: rollouts always bucket in 100.
        if normalizer == 100 {
            hash % 100 + 1
        } else {
            hash % normalizer + 1
        }
    }
}

/// The seed Unleash hashes variant assignment with (rollout uses 0).
pub(crate) const VARIANT_SEED: u32 = 86_028_157;

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: `MurmurHash3` over the parts as one stream, the hash and bucket
    /// as Unleash defines them.
    /// `MurmurHash3` `x86_32` of the concatenation of `parts`.
    fn murmur3_32(parts: &[&[u8]], seed: u32) -> u32 {
        let mut hash = seed;
        let mut pending = [0_u8; 4];
        let mut pending_len = 0;
        let mut total_len: u32 = 0;
        for part in parts {
            #[allow(clippy::cast_possible_truncation)] // murmur3 mixes the length mod 2^32
            {
                total_len = total_len.wrapping_add(part.len() as u32);
            }
            let mut bytes = *part;
            if pending_len > 0 {
                let take = (4 - pending_len).min(bytes.len());
                pending[pending_len..pending_len + take].copy_from_slice(&bytes[..take]);
                pending_len += take;
                bytes = &bytes[take..];
                if pending_len < 4 {
                    continue;
                }
                hash = mix_block(hash, u32::from_le_bytes(pending));
            }
            let mut blocks = bytes.chunks_exact(4);
            for block in &mut blocks {
                hash = mix_block(hash, u32::from_le_bytes(block.try_into().expect("4 bytes")));
            }
            let rest = blocks.remainder();
            pending[..rest.len()].copy_from_slice(rest);
            pending_len = rest.len();
        }
        if pending_len > 0 {
            let mut tail = [0_u8; 4];
            tail[..pending_len].copy_from_slice(&pending[..pending_len]);
            let k = u32::from_le_bytes(tail)
                .wrapping_mul(C1)
                .rotate_left(15)
                .wrapping_mul(C2);
            hash ^= k;
        }
        hash ^= total_len;
        hash ^= hash >> 16;
        hash = hash.wrapping_mul(0x85eb_ca6b);
        hash ^= hash >> 13;
        hash = hash.wrapping_mul(0xc2b2_ae35);
        hash ^ (hash >> 16)
    }

    fn normalized(group: &str, value: &str, normalizer: u32, seed: u32) -> u32 {
        murmur3_32(&[group.as_bytes(), b":", value.as_bytes()], seed) % normalizer + 1
    }

    #[test]
    fn reference_vectors() {
        // Published MurmurHash3 x86_32 vectors.
        assert_eq!(murmur3_32(&[b""], 0), 0);
        assert_eq!(murmur3_32(&[b""], 1), 0x514e_28b7);
        assert_eq!(murmur3_32(&[b"test"], 0), 0xba6b_d213);
        assert_eq!(murmur3_32(&[b"Hello, world!"], 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(&[b"The quick brown fox jumps over the lazy dog"], 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn parts_hash_like_their_concatenation() {
        let whole = b"The quick brown fox jumps over the lazy dog";
        for a in 0..whole.len() {
            for b in a..whole.len() {
                let parts: [&[u8]; 3] = [&whole[..a], &whole[a..b], &whole[b..]];
                assert_eq!(murmur3_32(&parts, 7), murmur3_32(&[whole], 7), "{a} {b}");
            }
        }
    }

    #[test]
    fn group_hashes_continue_like_the_whole_key() {
        let long = "v".repeat(70);
        for group in [
            "",
            "g",
            "ab",
            "abc",
            "abcd",
            "half-7",
            "NewCheckoutFlow",
            "a:b:c:d:e",
        ] {
            let prefix = GroupHash::new(group, 0);
            let variants = GroupHash::new(group, VARIANT_SEED);
            for value in [
                "",
                "1",
                "12",
                "123",
                "1234",
                "user-42",
                "abcdefghijk",
                long.as_str(),
            ] {
                for normalizer in [100, 1000, 7] {
                    assert_eq!(
                        prefix.bucket(value, normalizer),
                        normalized(group, value, normalizer, 0),
                        "{group}:{value} in {normalizer}"
                    );
                    assert_eq!(
                        variants.bucket(value, normalizer),
                        normalized(group, value, normalizer, VARIANT_SEED),
                        "{group}:{value} in {normalizer}, variant seed"
                    );
                }
            }
        }
    }

    #[test]
    fn unleash_normalized_values() {
        // Computed with murmurhash3js 3.0.1, the hash the Unleash client specification's
        // own runner uses: `murmurHash3.x86.hash32("groupId:123") % 100 + 1`, etc.
        assert_eq!(GroupHash::new("groupId", 0).bucket("123", 100), 42);
        assert_eq!(GroupHash::new("groupId", 0).bucket("999", 100), 2);
        assert_eq!(
            GroupHash::new("groupId", VARIANT_SEED).bucket("123", 1000),
            548
        );
    }
}
