//! [`Client::inspect`]: the source's account of itself joined with what only the client
//! knows (fallbacks in code, limits, flow counts). The types are in [`crate::inspect`].

use std::collections::BTreeMap;

use super::Client;
use crate::inspect::{
    ConcurrencyState, FlagRules, FlagState, Inspection, LimitState, RateState, SourceState,
    MAX_FLAGS,
};
use crate::limits::LimitSpec;

impl Client {
    /// The counts of the store global limits (`scope = "global"`) are kept in: whether
    /// it answers, its failures, and the decisions `on_store_error` made while it did
    /// not. `None` while no limit is global.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), flowgate::ConfigError> {
    /// let client = flowgate::Client::builder().file("flowgate.toml").build()?;
    /// if let Some(store) = client.store_stats() {
    ///     assert!(store.up, "the store is down: {:?}", store.last_error);
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn store_stats(&self) -> Option<crate::limits::global::StoreStats> {
        self.inner.policy.store_stats()
    }

    /// What this client knows: its flags with their rules, fallbacks, limits and flow
    /// counts, and the state of its source. See [`crate::inspect`].
    ///
    /// Made on demand and off the gate's path: call it from a health endpoint or a
    /// status page, not per request.
    pub fn inspect(&self) -> Inspection {
        let source = self.inner.source.get();
        let details = source.inspect().unwrap_or_default();
        let serving = source.serving();
        let metrics = self.metrics();
        let policy = &self.inner.policy;
        let specs = policy.limit_specs();
        let file_fallbacks = policy.fallbacks();

        let mut flags: BTreeMap<&str, Option<&FlagRules>> = BTreeMap::new();
        for rules in &details.flags {
            flags.insert(&rules.name, Some(rules));
        }
        let seen = metrics.iter().map(|(name, _)| name);
        let declared = specs
            .keys()
            .chain(file_fallbacks.keys())
            .chain(self.inner.fallbacks.keys())
            .map(|name| &**name);
        for name in seen.chain(declared) {
            flags.entry(name).or_insert(None);
        }
        let flags_left_out = flags.len().saturating_sub(MAX_FLAGS);
        let flags = flags
            .into_iter()
            .take(MAX_FLAGS)
            .map(|(name, rules)| FlagState {
                name: name.to_owned(),
                rules: rules.cloned(),
                fallback: self.declared_fallback(name),
                limits: specs
                    .get(name)
                    .map(|spec| self.limit_state(name, spec, &metrics)),
                flows: metrics.flag(name),
            })
            .collect();
        Inspection {
            source: SourceState {
                name: source.name().to_owned(),
                ready: self.is_ready(),
                serving: serving.kind(),
                backup: match &serving {
                    crate::source::Serving::Backup { path, .. } => Some(path.clone()),
                    _ => None,
                },
                backup_age_seconds: serving.age().map(|age| age.as_secs()),
                updates: details.updates,
            },
            flags,
            flags_left_out,
        }
    }

    fn limit_state(
        &self,
        flag: &str,
        spec: &LimitSpec,
        metrics: &crate::metrics::Metrics,
    ) -> LimitState {
        let (in_flight, queued) = self
            .inner
            .policy
            .limits()
            .occupancy(flag)
            .unwrap_or_default();
        LimitState {
            rate: spec.rate.as_ref().map(|rate| RateState {
                limit: rate.spec.limit,
                per: rate.spec.per,
                burst: rate.spec.burst,
                by: rate.by.as_deref().map(str::to_owned),
                max_keys: rate.by.is_some().then_some(rate.max_keys),
                global: rate.is_global(),
            }),
            concurrency: spec
                .concurrency
                .as_ref()
                .map(|concurrency| ConcurrencyState {
                    max: concurrency.spec.max,
                    queue: concurrency.spec.queue,
                    by: concurrency.by.as_deref().map(str::to_owned),
                    max_keys: concurrency.by.is_some().then_some(concurrency.max_keys),
                    global: concurrency.is_global(),
                    in_flight,
                    queued,
                    keys: metrics.keys(flag).to_vec(),
                }),
        }
    }
}
