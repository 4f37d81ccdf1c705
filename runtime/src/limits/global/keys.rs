//! The names of a global limit's Redis keys: one namespace (`flowgate:`), and a hash tag
//! (`{...}`) per limit so that every key of one limit lives in one Redis Cluster slot
//! (a script may only touch keys of one slot).
//!
//! Label values are part of a key as they are up to [`MAX_VALUE_BYTES`]; a longer value
//! becomes its first bytes and a SHA-1 of the whole, the same in every instance (unlike
//! the per-process hashes of local keyed limits: instances must agree on the name).

/// The longest label value kept in a key as it is, in bytes.
pub(crate) const MAX_VALUE_BYTES: usize = 64;

/// The keys of a global rate limit of `flag`, for the label value `value` (`None`: the
/// limit is not per label value).
pub(crate) fn rate(flag: &str, value: Option<&str>) -> String {
    match value {
        None => format!("flowgate:{{{}}}:rate", escape(flag)),
        Some(value) => format!("flowgate:{{{}|{}}}:rate", escape(flag), escape(value)),
    }
}

/// The three keys of a global concurrency limit of `flag`: slots held per instance (a
/// hash), when each instance's lease ends (a sorted set), and flows running and
/// waiting per instance (a hash, for fair shares).
pub(crate) fn concurrency(flag: &str) -> [String; 3] {
    let tag = escape(flag);
    [
        format!("flowgate:{{{tag}}}:slots"),
        format!("flowgate:{{{tag}}}:leases"),
        format!("flowgate:{{{tag}}}:demand"),
    ]
}

/// The sorted set of the instances that reached the store lately, scored by when.
pub(crate) const INSTANCES: &str = "flowgate:{instances}:seen";

/// `text` fit for a key: braces replaced (a `}` would end the hash tag early, and two
/// values could then share a slot's worth of name), control characters too, and long
/// text shortened to its start and a digest.
fn escape(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '{' | '}' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if clean.len() <= MAX_VALUE_BYTES && clean == text {
        return clean;
    }
    // Changed or long: the digest of the original tells apart values that clean alike.
    let digest = sha1_smol::Sha1::from(text.as_bytes()).digest().to_string();
    let mut cut = clean.len().min(24);
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{digest}", &clean[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag of a key: what Redis Cluster hashes.
    fn tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn a_limits_keys_share_one_slot_and_values_stay_apart() {
        let [slots, leases, demand] = concurrency("Checkout");
        assert_eq!(tag(&slots), tag(&leases));
        assert_eq!(tag(&slots), tag(&demand));
        assert_eq!(rate("Checkout", None), "flowgate:{Checkout}:rate");
        let mut seen = std::collections::HashSet::new();
        // Generated hostile values: braces, separators, control characters, long text.
        for value in [
            "",
            "a",
            "a}b",
            "a{b",
            "a|b",
            "a_b",
            "}",
            "{}",
            "\n",
            "\u{0}",
            "é",
            "x".repeat(64).as_str(),
            "x".repeat(65).as_str(),
            "y".repeat(10_000).as_str(),
            "😀".repeat(40).as_str(),
        ] {
            let key = rate("F", Some(value));
            assert!(key.len() < 200, "{key}");
            assert_eq!(key.matches('{').count(), 1, "{key}");
            assert_eq!(key.matches('}').count(), 1, "{key}");
            assert!(!key.chars().any(char::is_control), "{key:?}");
            assert!(seen.insert(key.clone()), "two values share {key}");
            assert_eq!(key, rate("F", Some(value)), "stable");
        }
    }
}
