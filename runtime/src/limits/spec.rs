//! A flag's limits as configured, read from `flowgate.toml` (through
//! `flowgate_config`), and compared across reloads to tell what changed.

use std::time::Duration;

use flowgate_config::{Limits as Config, Scope};

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
    /// Per process, or shared by the fleet through the store.
    pub(crate) scope: Scope,
    /// A global concurrency limit's lease (zero otherwise).
    pub(crate) lease: Duration,
}

impl<S> Keyed<S> {
    /// Whether the limit is shared by the fleet.
    pub(crate) fn is_global(&self) -> bool {
        self.scope == Scope::Global
    }
}

impl LimitSpec {
    /// Whether a limit of the flag is shared by the fleet.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn is_global(&self) -> bool {
        self.rate.as_ref().is_some_and(Keyed::is_global)
            || self.concurrency.as_ref().is_some_and(Keyed::is_global)
    }

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
                scope: rate.scope,
                lease: Duration::ZERO,
            }),
            concurrency: config.concurrency.as_ref().map(|concurrency| Keyed {
                spec: ConcurrencySpec {
                    max: concurrency.max,
                    queue: concurrency.queue,
                },
                by: concurrency.by.as_deref().map(Into::into),
                max_keys: concurrency.max_keys,
                scope: concurrency.scope,
                lease: if concurrency.scope == Scope::Global {
                    concurrency.lease
                } else {
                    Duration::ZERO
                },
            }),
        }
    }
}
