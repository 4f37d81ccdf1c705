//! When to log that Unleash cannot be reached: once as an outage starts, then at most
//! every [`REPEAT`] with how long it has lasted and how many polls failed, and once
//! when it ends. A poll every second during an hour's outage logged 3 600 warnings;
//! now it logs 13 lines.
//!
//! Pure bookkeeping on times the caller gives, so that it is tested without waiting.

use std::time::{Duration, Instant};

/// The longest a continuing outage goes unmentioned.
pub(crate) const REPEAT: Duration = Duration::from_secs(300);

/// What to say about a failure, if anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Say {
    /// The first failure after a success (or at start).
    Started,
    /// Still failing: how long, and how many failures so far.
    Continues { lasted: Duration, failures: u64 },
}

/// One kind of request's outage (the features poll, the metrics reports).
#[derive(Debug, Default)]
pub(crate) struct Outage {
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    since: Instant,
    failures: u64,
    said_at: Instant,
}

impl Outage {
    /// A failed request at `now`: what to log, if anything.
    pub(crate) fn failed(&mut self, now: Instant) -> Option<Say> {
        match &mut self.current {
            None => {
                self.current = Some(Current {
                    since: now,
                    failures: 1,
                    said_at: now,
                });
                Some(Say::Started)
            }
            Some(current) => {
                current.failures += 1;
                if now.saturating_duration_since(current.said_at) < REPEAT {
                    return None;
                }
                current.said_at = now;
                Some(Say::Continues {
                    lasted: now.saturating_duration_since(current.since),
                    failures: current.failures,
                })
            }
        }
    }

    /// A request that succeeded at `now`: how long the outage it ends lasted and how
    /// many requests failed, if one was going on.
    pub(crate) fn succeeded(&mut self, now: Instant) -> Option<(Duration, u64)> {
        let current = self.current.take()?;
        Some((
            now.saturating_duration_since(current.since),
            current.failures,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An hour of failures a second: said once at the start, then every five minutes
    /// with the count, then once at the end; a second outage starts afresh.
    #[test]
    fn an_hour_of_failures_is_said_thirteen_times() {
        let start = Instant::now();
        let mut outage = Outage::default();
        let mut said = Vec::new();
        for second in 0..3_600 {
            if let Some(say) = outage.failed(start + Duration::from_secs(second)) {
                said.push(say);
            }
        }
        assert_eq!(said.len(), 12);
        assert_eq!(said[0], Say::Started);
        assert_eq!(
            said[1],
            Say::Continues {
                lasted: Duration::from_secs(300),
                failures: 301
            }
        );
        let end = start + Duration::from_secs(3_600);
        assert_eq!(
            outage.succeeded(end),
            Some((Duration::from_secs(3_600), 3_600))
        );
        assert_eq!(outage.succeeded(end), None, "said once");
        assert_eq!(outage.failed(end), Some(Say::Started));
    }
}
