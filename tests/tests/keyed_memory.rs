//! Keyed limits are bounded in bytes, not only in keys: a flood of distinct 64 KiB label
//! values cannot grow the process past a bound (each limit keeps at most `max_keys`
//! values, each in at most 64 bytes and a hash; README "Guarantees and limits").
//!
//! Alone in its test binary: it reads the process's resident memory (`VmRSS`).

use std::fmt::Write as _;
use std::time::Duration;

use flowgate::{labels, Client};

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[test]
fn a_flood_of_long_label_values_stays_within_the_bound() {
    let client = Client::from_toml_str(
        "[flags.Limited]\n\
         rate_limit = { limit = 1000000, per = \"1s\", by = \"tenant\", max_keys = 10000 }\n\
         concurrency = { max = 4, by = \"tenant\", max_keys = 10000 }\n",
    )
    .unwrap();
    let mut value = "x".repeat(64 * 1024);
    // Warm up: the allocator's own arenas, the limiters' maps at their full size.
    for i in 0..2_000_u32 {
        let flow =
            client.start_flow_blocking("Limited", &labels! { "tenant" => i }, Duration::ZERO);
        flow.end();
    }
    let before = resident_kib();
    for i in 0..12_000_u32 {
        // A distinct 64 KiB value each time: the last bytes are the counter.
        value.truncate(64 * 1024 - 10);
        write!(value, "{i:010}").expect("writing to a String cannot fail");
        let flow =
            client.start_flow_blocking("Limited", &labels! { "tenant" => value }, Duration::ZERO);
        assert!(flow.should_run());
        flow.end();
    }
    let grown = resident_kib().saturating_sub(before);
    // 12 000 values of 64 KiB are 790 MB; kept whole, the 10 000 each limit tracks
    // would be 1.3 GB for the two. Bounded, they hold 20 000 short keys.
    assert!(grown < 32 * 1024, "resident memory grew by {grown} KiB");
    assert!(
        client.metrics().keys("Limited").is_empty(),
        "nothing in flight"
    );
}
