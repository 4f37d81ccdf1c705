//! A flag's limits as configured, read from `flowgate.toml` (through
//! `flowgate_config`), and compared across reloads to tell what changed.

use flowgate_config::Limits as Config;

use super::concurrency::ConcurrencySpec;
use super::rate::RateSpec;

/// The limits of one flag, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LimitSpec {
    pub(crate) rate: Option<Keyed<RateSpec>>,
    pub(crate) concurrency: Option<Keyed<ConcurrencySpec>>,
}

/// A limit, for all flows or one per value of the label `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyed<S> {
    pub(crate) spec: S,
    pub(crate) by: Option<Box<str>>,
    pub(crate) max_keys: usize,
}

impl LimitSpec {
    /// The limits a flag's table of the rules file sets.
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            rate: config.rate.as_ref().map(|rate| Keyed {
                spec: RateSpec {
                    limit: rate.limit,
                    per: rate.per,
                    burst: rate.burst,
                },
                by: rate.by.as_deref().map(Into::into),
                max_keys: rate.max_keys,
            }),
            concurrency: config.concurrency.as_ref().map(|concurrency| Keyed {
                spec: ConcurrencySpec {
                    max: concurrency.max,
                    queue: concurrency.queue,
                },
                by: concurrency.by.as_deref().map(Into::into),
                max_keys: concurrency.max_keys,
            }),
        }
    }
}
