//! An in-memory decision source, set from code: for tests, and for services that
//! compute their flags themselves.
//!
//! Flags are held in a map swapped whole on every change, so reads take no lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::client::Client;
use crate::inspect::{FlagRules, SourceDetails, StrategyRules};
use crate::labels::Labels;
use crate::source::{DecisionSource, Evaluation, Readiness, Undecided};

type Rule = dyn Fn(&Labels<'_>) -> bool + Send + Sync;

#[derive(Clone)]
enum Entry {
    Fixed(bool),
    Rule(Arc<Rule>),
    Error,
}

/// Flags held in memory and changed from code, visible to every clone at once.
///
/// Reads are lock-free (the flag table is swapped whole on each change), so it is as
/// cheap on the gate's hot path as a real source. A flag that was never set is
/// [`Undecided::UnknownFlag`], so the gate's fallback applies (set fallbacks for calls
/// by name with [`ClientBuilder::fallback`](crate::ClientBuilder::fallback)).
///
/// ```
/// use flowgate::{labels, testing::InMemorySource};
///
/// let source = InMemorySource::new()
///     .enable("AwesomeFeature")
///     .rule("BetaSearch", |labels| labels.get("plan") == Some("beta"));
/// let client = source.clone().into_client();
///
/// assert!(client.is_enabled("AwesomeFeature", &labels! {}));
/// assert!(client.is_enabled("BetaSearch", &labels! { "plan" => "beta" }));
/// source.set("AwesomeFeature", false); // seen by the client at once
/// assert!(!client.is_enabled("AwesomeFeature", &labels! {}));
/// ```
#[derive(Clone)]
pub struct InMemorySource {
    shared: Arc<Shared>,
}

struct Shared {
    flags: ArcSwap<HashMap<String, Entry>>,
    readiness: Readiness,
}

impl InMemorySource {
    /// An empty, ready source.
    pub fn new() -> Self {
        let source = Self::pending();
        source.mark_ready();
        source
    }

    /// An empty source that is not ready until [`mark_ready`](Self::mark_ready): every
    /// evaluation says [`Undecided::NotReady`] and gates wait up to their timeout.
    pub fn pending() -> Self {
        Self {
            shared: Arc::new(Shared {
                flags: ArcSwap::default(),
                readiness: Readiness::new(),
            }),
        }
    }

    /// Makes the source ready, waking gates that wait for it.
    pub fn mark_ready(&self) {
        self.shared.readiness.mark_ready();
    }

    /// Turns `flag` on or off for everyone.
    pub fn set(&self, flag: &str, enabled: bool) {
        self.update(flag, &Entry::Fixed(enabled));
    }

    /// Decides `flag` with `rule` on each call's labels.
    pub fn set_rule(&self, flag: &str, rule: impl Fn(&Labels<'_>) -> bool + Send + Sync + 'static) {
        self.update(flag, &Entry::Rule(Arc::new(rule)));
    }

    /// Makes evaluating `flag` fail ([`Undecided::Error`]).
    pub fn set_error(&self, flag: &str) {
        self.update(flag, &Entry::Error);
    }

    /// Forgets `flag`: it becomes [`Undecided::UnknownFlag`] again.
    pub fn remove(&self, flag: &str) {
        self.shared.flags.rcu(|flags| {
            let mut flags = HashMap::clone(flags);
            flags.remove(flag);
            flags
        });
    }

    /// Builder form of `set(flag, true)`.
    #[must_use]
    pub fn enable(self, flag: &str) -> Self {
        self.set(flag, true);
        self
    }

    /// Builder form of `set(flag, false)`.
    #[must_use]
    pub fn disable(self, flag: &str) -> Self {
        self.set(flag, false);
        self
    }

    /// Builder form of [`set_rule`](Self::set_rule).
    #[must_use]
    pub fn rule(
        self,
        flag: &str,
        rule: impl Fn(&Labels<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.set_rule(flag, rule);
        self
    }

    /// A client deciding with this source.
    pub fn into_client(self) -> Client {
        Client::new(self)
    }

    fn update(&self, flag: &str, entry: &Entry) {
        self.shared.flags.rcu(|flags| {
            let mut flags = HashMap::clone(flags);
            flags.insert(flag.to_owned(), entry.clone());
            flags
        });
    }
}

impl Default for InMemorySource {
    fn default() -> Self {
        Self::new()
    }
}

impl DecisionSource for InMemorySource {
    fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        if !self.shared.readiness.is_ready() {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        match self.shared.flags.load().get(flag) {
            None => Evaluation::Undecided(Undecided::UnknownFlag),
            Some(Entry::Fixed(enabled)) => Evaluation::from(*enabled),
            Some(Entry::Rule(rule)) => Evaluation::from(rule(labels)),
            Some(Entry::Error) => Evaluation::Undecided(Undecided::Error),
        }
    }

    fn readiness(&self) -> Option<&Readiness> {
        Some(&self.shared.readiness)
    }

    fn name(&self) -> &'static str {
        "flowgate.in_memory"
    }

    /// Fixed flags as on or off for everyone; a flag set by a rule in code as on, with
    /// one strategy `a rule in code`; a flag set to fail as off, with `an error`.
    fn inspect(&self) -> Option<SourceDetails> {
        let flags = self.shared.flags.load();
        let mut described: Vec<FlagRules> = flags
            .iter()
            .map(|(name, entry)| match entry {
                Entry::Fixed(enabled) => FlagRules::named(name.as_str(), *enabled),
                Entry::Rule(_) | Entry::Error => {
                    let mut rules = FlagRules::named(name.as_str(), true);
                    rules.constant = None;
                    rules.strategies.push(StrategyRules::described(
                        if matches!(entry, Entry::Rule(_)) {
                            "a rule in code"
                        } else {
                            "an error"
                        },
                    ));
                    rules
                }
            })
            .collect();
        described.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Some(SourceDetails {
            flags: described,
            ..SourceDetails::default()
        })
    }
}

impl fmt::Debug for InMemorySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.shared.flags.load();
        let mut names: Vec<&str> = flags.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("InMemorySource")
            .field("ready", &self.shared.readiness.is_ready())
            .field("flags", &names)
            .finish()
    }
}
