//! `MurmurHash3` (x86, 32-bit), the hash Unleash buckets with.
//!
//! Written here rather than taken from a crate because Unleash hashes
//! `"{groupId}:{value}"`: hashing the parts as one stream avoids building that string,
//! which keeps rollout evaluation free of allocation.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_block(hash: u32, block: u32) -> u32 {
    let k = block.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    (hash ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// `MurmurHash3` `x86_32` of the concatenation of `parts`.
pub(crate) fn murmur3_32(parts: &[&[u8]], seed: u32) -> u32 {
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

/// `MurmurHash3` `x86_32` of one contiguous slice: the fast path.
fn murmur3_32_contiguous(bytes: &[u8], seed: u32) -> u32 {
    let mut hash = seed;
    let mut blocks = bytes.chunks_exact(4);
    for block in &mut blocks {
        hash = mix_block(
            hash,
            u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
        );
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut last = [0_u8; 4];
        last[..tail.len()].copy_from_slice(tail);
        hash ^= u32::from_le_bytes(last)
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
    }
    #[allow(clippy::cast_possible_truncation)] // murmur3 mixes the length mod 2^32
    {
        hash ^= bytes.len() as u32;
    }
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^ (hash >> 16)
}

/// Keys up to this long are hashed from a buffer on the stack.
const STACK_KEY: usize = 128;

/// Unleash's bucket of `value` in `group`: 1 to `normalizer` inclusive.
pub(crate) fn normalized(group: &str, value: &str, normalizer: u32, seed: u32) -> u32 {
    let (group, value) = (group.as_bytes(), value.as_bytes());
    let length = group.len() + 1 + value.len();
    let hash = if length <= STACK_KEY {
        // Contiguous bytes hash several times faster than a stream of parts.
        let mut key = [0_u8; STACK_KEY];
        key[..group.len()].copy_from_slice(group);
        key[group.len()] = b':';
        key[group.len() + 1..length].copy_from_slice(value);
        murmur3_32_contiguous(&key[..length], seed)
    } else {
        murmur3_32(&[group, b":", value], seed)
    };
    // Rollouts always bucket in 100: a constant divisor compiles to a multiply, several
    // times faster than the division a variable one needs.
    if normalizer == 100 {
        hash % 100 + 1
    } else {
        hash % normalizer + 1
    }
}

/// The seed Unleash hashes variant assignment with (rollout uses 0).
pub(crate) const VARIANT_SEED: u32 = 86_028_157;

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_contiguous_path_hashes_like_the_streaming_one() {
        let long = "x".repeat(300);
        for (group, value) in [
            ("g", ""),
            ("AwesomeFeature", "42"),
            ("", "abcdefg"),
            ("g", long.as_str()),
        ] {
            let streamed = murmur3_32(&[group.as_bytes(), b":", value.as_bytes()], 5) % 100 + 1;
            assert_eq!(
                normalized(group, value, 100, 5),
                streamed,
                "{group}:{}",
                value.len()
            );
        }
        for n in 0..20 {
            let bytes: Vec<u8> = (0..n).collect();
            assert_eq!(murmur3_32_contiguous(&bytes, 9), murmur3_32(&[&bytes], 9));
        }
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
    fn unleash_normalized_values() {
        // Computed with murmurhash3js 3.0.1, the hash the Unleash client specification's
        // own runner uses: `murmurHash3.x86.hash32("groupId:123") % 100 + 1`, etc.
        assert_eq!(normalized("groupId", "123", 100, 0), 42);
        assert_eq!(normalized("groupId", "999", 100, 0), 2);
        assert_eq!(normalized("groupId", "123", 1000, VARIANT_SEED), 548);
    }
}
