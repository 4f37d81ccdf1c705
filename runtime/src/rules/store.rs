//! The rules a source decides with right now: the current snapshot (swapped in whole on
//! each load, read without locks), whether there is one yet, the context fields the
//! source fills in, and where the source counts evaluations, if it does.
//!
//! Both built-in sources keep their rules in a store: the engine loads it from a file,
//! Unleash from its server. The evaluation paths here are the ones gates take.

use std::sync::Arc;

use super::context::{Context, ContextDefaults};
#[cfg(feature = "unleash")]
use super::tally::{self, FlagUsage};
use super::tally::{Tally, TallyTable};
use super::Snapshot;
use crate::labels::Labels;
use crate::memo::{Counted, FlagSlot, Recall};
use crate::published::Published;
use crate::source::{Evaluation, Readiness, Undecided};
use crate::variant::Variant;

/// See the module documentation.
pub(crate) struct RuleStore {
    snapshot: Published<Snapshot>,
    readiness: Readiness,
    defaults: ContextDefaults,
    /// Where evaluations are counted, for a source that reports usage.
    tally: Option<Arc<TallyTable>>,
}

impl RuleStore {
    /// A store serving `snapshot` (ready), or nothing yet (not ready until the first
    /// [`install`](Self::install)); counting evaluations when `counted`.
    pub(crate) fn new(
        snapshot: Option<Snapshot>,
        defaults: ContextDefaults,
        counted: bool,
    ) -> Self {
        let store = Self {
            snapshot: Published::default(),
            readiness: Readiness::new(),
            defaults,
            tally: counted.then(|| Arc::new(TallyTable::new())),
        };
        if let Some(snapshot) = snapshot {
            store.install(snapshot);
        }
        store
    }

    /// Serves `snapshot` from now on. A counting store keeps the counters of the flags
    /// that stay (so no count is lost to a reload).
    pub(crate) fn install(&self, mut snapshot: Snapshot) {
        if let Some(table) = &self.tally {
            let previous = self.snapshot.load();
            for feature in snapshot.features.iter_mut() {
                let names = feature.variant_names();
                let old = previous
                    .features
                    .get(&feature.name)
                    .and_then(|f| f.tally.as_ref());
                feature.tally = Some(match old {
                    Some(old) if old.counts_variants(&names) => Arc::clone(old),
                    old => Arc::new(Tally::new(&feature.name, names, table, old.map(|o| &**o))),
                });
            }
        }
        self.snapshot.store(snapshot);
        self.readiness.mark_ready();
    }

    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The names of the flags in force, sorted.
    pub(crate) fn flags(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot
            .load()
            .features
            .iter()
            .map(|feature| feature.name.to_string())
            .collect();
        names.sort_unstable();
        names
    }

    /// The usage counted since the last call, per flag (nothing for a store that does
    /// not count).
    #[cfg(feature = "unleash")]
    pub(crate) fn take_usage(&self) -> Vec<FlagUsage> {
        let Some(table) = &self.tally else {
            return Vec::new();
        };
        let snapshot = self.snapshot.load();
        let tallies = snapshot
            .features
            .iter()
            .filter_map(|f| Some((&f.name, f.tally.as_deref()?)));
        tally::take(table, tallies)
    }

    #[inline]
    pub(crate) fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        if !self.readiness.is_ready() {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        let context = Context::new(labels, &self.defaults);
        let enabled = self
            .snapshot
            .read(|snapshot, _| snapshot.is_enabled(flag, &context));
        enabled.map_or(
            Evaluation::Undecided(Undecided::UnknownFlag),
            Evaluation::from,
        )
    }

    /// Evaluates `flag` at a gated call site. A flag whose answer does not depend on the
    /// call (always on, off) is answered from the call site's `slot` while the snapshot
    /// stays the same. Only a snapshot with the flag has an answer to remember: a store
    /// that is not ready has none.
    #[inline]
    pub(crate) fn evaluate_at(
        &self,
        flag: &str,
        slot: &FlagSlot,
        labels: &Labels<'_>,
    ) -> Evaluation {
        match slot.recall(self.snapshot.generation()) {
            Recall::Nothing => self.evaluate_at_snapshot(flag, slot, labels),
            Recall::Answer(answer) => Evaluation::from(answer),
            Recall::Counted(counted) => self.count_remembered(counted),
        }
    }

    /// Counts an answer a call site remembered, and gives it. Out of line: flags that
    /// count nothing keep a fast path without it.
    #[inline(never)]
    fn count_remembered(&self, counted: Counted) -> Evaluation {
        // Only a counting store's snapshots remember counted answers, under stamps no
        // other store has: the table is there.
        if let Some(table) = &self.tally {
            table.count(counted.index(), counted.answer());
        }
        Evaluation::from(counted.answer())
    }

    /// [`evaluate_at`](Self::evaluate_at) when the slot has no answer.
    fn evaluate_at_snapshot(&self, flag: &str, slot: &FlagSlot, labels: &Labels<'_>) -> Evaluation {
        if !self.readiness.is_ready() {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        let context = Context::new(labels, &self.defaults);
        let enabled = self
            .snapshot
            .read(|snapshot, stamp| snapshot.is_enabled_at(slot, stamp, flag, &context));
        enabled.map_or(
            Evaluation::Undecided(Undecided::UnknownFlag),
            Evaluation::from,
        )
    }

    pub(crate) fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        if !self.readiness.is_ready() {
            return None;
        }
        let context = Context::new(labels, &self.defaults);
        self.snapshot
            .read(|snapshot, _| snapshot.variant(flag, &context))
    }

    /// `flag`'s decision for `labels`, step by step; `None` when the store is not ready
    /// or has no rules for it.
    pub(crate) fn explain(
        &self,
        flag: &str,
        labels: &Labels<'_>,
    ) -> Option<crate::explain::Explanation> {
        if !self.readiness.is_ready() {
            return None;
        }
        let context = Context::new(labels, &self.defaults);
        self.snapshot
            .read(|snapshot, _| snapshot.explain(flag, &context))
    }

    /// The flags with rules, described, sorted by name.
    pub(crate) fn describe(&self) -> Vec<crate::inspect::FlagRules> {
        self.snapshot.load().describe()
    }

    /// OpenTelemetry's reason for `flag`'s answers: `disabled` (off for everyone),
    /// `split` (a rollout, or several variants, share it out), `static` (the same for
    /// every call), `targeting_match` (constraints, user ids, dependencies). `None` when the store
    /// has no rules for it.
    pub(crate) fn reason(&self, flag: &str) -> Option<&'static str> {
        self.snapshot.read(|snapshot, _| {
            let feature = snapshot.features.get(flag).filter(|f| f.has_rules)?;
            let shares_out = |variants: &[super::VariantDef]| variants.len() > 1;
            let split = shares_out(&feature.variants)
                || feature.strategies.iter().any(|s| {
                    matches!(s.kind, super::StrategyKind::Rollout { .. }) || shares_out(&s.variants)
                });
            Some(if !feature.enabled {
                "disabled"
            } else if split {
                "split"
            } else if feature.constant.is_some() {
                "static"
            } else {
                "targeting_match"
            })
        })
    }

    /// Whether `flag` has variants (its own or a strategy's); `None` without rules for it.
    #[cfg_attr(not(any(feature = "axum", feature = "openfeature")), allow(dead_code))]
    pub(crate) fn defines_variants(&self, flag: &str) -> Option<bool> {
        self.snapshot.read(|snapshot, _| {
            let feature = snapshot.features.get(flag).filter(|f| f.has_rules)?;
            Some(
                !feature.variants.is_empty()
                    || feature.strategies.iter().any(|s| !s.variants.is_empty()),
            )
        })
    }

    /// How many flags the current snapshot has.
    pub(crate) fn len(&self) -> usize {
        self.snapshot.load().features.len()
    }
}
