//! Decision sources: where a client's flag decisions come from, and the trait to write
//! one of your own.
//!
//! flowgate's own sources are [`Engine`](crate::engine::Engine) (rules from
//! `flowgate.toml`), `Unleash` (with the `unleash` feature), and
//! [`InMemorySource`](crate::testing::InMemorySource); [`EmptySource`] decides nothing.
//! A source only decides: the fallback, rate and concurrency limits, counters and spans
//! are the [`Client`](crate::Client)'s, the same for every source.

mod per_flow;
mod readiness;
mod serving;

use crate::explain::Explanation;
use crate::inspect::SourceDetails;
use std::fmt;

pub(crate) use per_flow::{Answer, Check, FlowDecider};
pub use readiness::Readiness;
pub use serving::Serving;

use crate::labels::Labels;
use crate::reject::RejectReason;
use crate::variant::Variant;

/// Answers "is this flag on for these labels?" from local state.
///
/// A source evaluates synchronously and must not block or do I/O in
/// [`evaluate`](DecisionSource::evaluate): it sits on every gated call. A source that
/// loads its state in the background (a file, a server) answers
/// [`Undecided::NotReady`] until it has it, and gives a [`Readiness`] that gates wait
/// on, up to their timeout.
///
/// ```
/// use flowgate::source::{DecisionSource, Evaluation};
/// use flowgate::{labels, Client, Labels};
///
/// /// Everything is on for staff.
/// #[derive(Debug)]
/// struct StaffOnly;
///
/// impl DecisionSource for StaffOnly {
///     fn evaluate(&self, _flag: &str, labels: &Labels<'_>) -> Evaluation {
///         Evaluation::from(labels.get("role") == Some("staff"))
///     }
/// }
///
/// let client = Client::new(StaffOnly);
/// assert!(client.is_enabled("AnyFlag", &labels! { "role" => "staff" }));
/// assert!(!client.is_enabled("AnyFlag", &Labels::new()));
/// ```
pub trait DecisionSource: fmt::Debug + Send + Sync + 'static {
    /// Evaluates `flag` for `labels`.
    fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation;

    /// The variant of `flag` for `labels`; `None` when the source cannot decide or has
    /// no variants (the client then answers a `disabled` variant).
    fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        let _ = (flag, labels);
        None
    }

    /// The readiness signal of a source that loads its state in the background.
    /// `None` (the default) means the source is always ready.
    fn readiness(&self) -> Option<&Readiness> {
        None
    }

    /// `flag`'s decision for `labels`, step by step (see [`Client::explain`]); `None`
    /// (the default) when the source cannot tell how it decides.
    ///
    /// [`Client::explain`]: crate::Client::explain
    fn explain(&self, flag: &str, labels: &Labels<'_>) -> Option<Explanation> {
        let _ = (flag, labels);
        None
    }

    /// What the source can tell about its state and its flags' rules, for
    /// [`Client::inspect`](crate::Client::inspect); `None` (the default) when it
    /// cannot tell. Called rarely (a health check, a status page), never by a gate.
    fn inspect(&self) -> Option<SourceDetails> {
        None
    }

    /// A short name for the source, for logs and telemetry (`"flowgate.engine"`,
    /// `"unleash"`). The default is the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Which state the source decides from right now, for readiness checks. The
    /// default: [`Serving::Live`] once [`readiness`](Self::readiness) says ready,
    /// [`Serving::Fallback`] before.
    fn serving(&self) -> Serving {
        if self.readiness().is_none_or(Readiness::is_ready) {
            Serving::Live
        } else {
            Serving::Fallback
        }
    }

    /// The decider of a source that decides each flow with a request of its own (an
    /// Aperture agent), which answers [`Undecided::PerFlow`] to `evaluate`. flowgate's
    /// own; sources of other crates keep the default, `None`.
    #[doc(hidden)]
    fn per_flow(&self) -> Option<&dyn FlowDecider> {
        None
    }
}

/// A source's answer for one flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Evaluation {
    /// The flag is on for these labels.
    Enabled,
    /// The flag is off for these labels.
    Disabled,
    /// The source cannot decide; the gate applies its fallback.
    Undecided(Undecided),
}

impl From<bool> for Evaluation {
    fn from(enabled: bool) -> Self {
        if enabled {
            Evaluation::Enabled
        } else {
            Evaluation::Disabled
        }
    }
}

/// Why a source could not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undecided {
    /// No state loaded yet; a gate waits on the source's [`Readiness`].
    NotReady,
    /// The source has state, but not for this flag.
    UnknownFlag,
    /// There is no source (see [`EmptySource`]).
    NoSource,
    /// Evaluation failed.
    Error,
    /// The source decides each flow with a request of its own (an Aperture agent):
    /// flows ask it, `is_enabled` and `variant` take the flag's fallback.
    PerFlow,
}

impl From<Undecided> for RejectReason {
    fn from(undecided: Undecided) -> Self {
        match undecided {
            Undecided::NotReady => RejectReason::NotReady,
            Undecided::UnknownFlag => RejectReason::UnknownFlag,
            Undecided::NoSource => RejectReason::NoSource,
            Undecided::Error | Undecided::PerFlow => RejectReason::SourceError,
        }
    }
}

/// The source used when nothing is configured: it decides nothing, so every flag takes
/// its fallback (reason [`RejectReason::NoSource`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmptySource;

impl DecisionSource for EmptySource {
    fn evaluate(&self, _flag: &str, _labels: &Labels<'_>) -> Evaluation {
        Evaluation::Undecided(Undecided::NoSource)
    }

    fn name(&self) -> &'static str {
        "flowgate.empty"
    }

    fn serving(&self) -> Serving {
        Serving::Fallback
    }
}

/// A boxed or shared source decides as the source in it does.
macro_rules! delegate {
    ($($pointer:ident)::+) => {
        impl<S: DecisionSource + ?Sized> DecisionSource for $($pointer)::+<S> {
            fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
                (**self).evaluate(flag, labels)
            }

            fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
                (**self).variant(flag, labels)
            }

            fn readiness(&self) -> Option<&Readiness> {
                (**self).readiness()
            }

            fn explain(&self, flag: &str, labels: &Labels<'_>) -> Option<Explanation> {
                (**self).explain(flag, labels)
            }

            fn inspect(&self) -> Option<SourceDetails> {
                (**self).inspect()
            }

            fn name(&self) -> &str {
                (**self).name()
            }

            fn serving(&self) -> Serving {
                (**self).serving()
            }
        }
    };
}

delegate!(Box);
delegate!(std::sync::Arc);
