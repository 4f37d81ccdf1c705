//! What a flow's span and an evaluation's event say, in OpenTelemetry's feature-flag
//! terms: `feature_flag.key`, `feature_flag.provider.name`, `feature_flag.context.id`,
//! `feature_flag.result.value`, `feature_flag.result.reason`,
//! `feature_flag.result.variant` and `error.type`, with flow control under `flowgate.*`
//! (`decision`, `reject_reason`, `by_fallback`, `queue_wait_ms`, `status`, `labels`).
//!
//! Plain `tracing` fields rather than an `otel` feature: a `tracing-opentelemetry`
//! layer turns them into span attributes as they are, other subscribers print them, and
//! flowgate depends on no OpenTelemetry crate (whose versions move together and often).
//!
//! **Trick.** Spans and events are made out of line, behind `tracing`'s level check: a
//! gate with no subscriber that wants DEBUG for `flowgate` pays one load and a compare.
//! **Cost.** What a span says is worked out only when someone listens: the reason reads
//! the flag's rules again (a map lookup), off the gate's path.

use std::sync::Arc;

use crate::labels::Labels;
use crate::reject::RejectReason;
use crate::rules::RuleStore;

/// What a client's spans say about where decisions come from. Kept in the client
/// itself (not behind an `Arc`), so that handing it to a flow is address arithmetic;
/// a clone (for a flow that queues) shares its parts.
#[derive(Clone)]
pub(crate) struct Telemetry {
    /// `feature_flag.provider.name`: the source's name.
    provider: Arc<str>,
    /// The rules of a built-in source, for the reason of an answer.
    rules: Option<Arc<RuleStore>>,
    /// The labels recorded in `flowgate.labels` (none unless asked for).
    labels: Arc<[Box<str>]>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("provider", &self.provider)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            provider: "unknown".into(),
            rules: None,
            labels: Arc::new([]),
        }
    }
}

impl Telemetry {
    pub(crate) fn new(provider: &str, rules: Option<Arc<RuleStore>>) -> Self {
        Self {
            provider: provider.into(),
            rules,
            labels: Arc::new([]),
        }
    }

    /// Whether `flag` defines variants; `None` when the source's rules are not known.
    #[cfg_attr(not(any(feature = "axum", feature = "openfeature")), allow(dead_code))]
    pub(crate) fn defines_variants(&self, flag: &str) -> Option<bool> {
        self.rules.as_ref()?.defines_variants(flag)
    }

    /// Records these labels in every span and event, as `flowgate.labels`.
    pub(crate) fn with_labels(mut self, labels: Vec<Box<str>>) -> Self {
        self.labels = labels.into();
        self
    }

    /// Why a flag the source decided is on or off: OpenTelemetry's reason.
    pub(crate) fn reason(&self, flag: &str) -> &'static str {
        self.rules
            .as_ref()
            .and_then(|rules| rules.reason(flag))
            .unwrap_or("unknown")
    }

    /// The chosen labels, `name=value` separated by spaces.
    fn chosen_labels(&self, labels: &Labels<'_>) -> Option<String> {
        if self.labels.is_empty() {
            return None;
        }
        let mut text = String::new();
        for name in self.labels.iter() {
            if let Some(value) = labels.get(name) {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(name);
                text.push('=');
                text.push_str(value);
            }
        }
        Some(text)
    }
}

/// What a flow's span is told beyond its flag: the client's telemetry and the call's
/// labels. Read only when a subscriber wants the span.
#[derive(Clone, Copy)]
pub(crate) struct Told<'a> {
    pub(crate) telemetry: &'a Telemetry,
    pub(crate) labels: &'a Labels<'a>,
}

/// The stickiness value of a call: `userId`, else `sessionId`.
fn context_id<'l>(labels: &'l Labels<'_>) -> Option<&'l str> {
    labels.get("userId").or_else(|| labels.get("sessionId"))
}

/// OpenTelemetry's `error.type` for a flow rejected because its source could not decide.
fn error_type(reason: RejectReason) -> Option<&'static str> {
    match reason {
        RejectReason::NotReady | RejectReason::NoSource => Some("provider_not_ready"),
        RejectReason::UnknownFlag => Some("flag_not_found"),
        RejectReason::SourceError => Some("general"),
        _ => None,
    }
}

/// The span of a flow of `flag`. Without a subscriber that wants it, this is one load
/// and a compare; the span itself is made out of line.
#[inline]
pub(crate) fn flow_span(telemetry: &Telemetry, flag: &str, labels: &Labels<'_>) -> tracing::Span {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        enabled_flow_span(telemetry, flag, labels)
    } else {
        tracing::Span::none()
    }
}

#[cold]
#[inline(never)]
fn enabled_flow_span(telemetry: &Telemetry, flag: &str, labels: &Labels<'_>) -> tracing::Span {
    macro_rules! flow_span {
        ($($extra:tt)*) => {
            tracing::debug_span!(
                target: "flowgate",
                "flowgate.flow",
                feature_flag.key = flag,
                feature_flag.provider.name = &*telemetry.provider,
                feature_flag.context.id = context_id(labels),
                feature_flag.result.value = tracing::field::Empty,
                feature_flag.result.reason = tracing::field::Empty,
                "error.type" = tracing::field::Empty,
                flowgate.decision = tracing::field::Empty,
                flowgate.reject_reason = tracing::field::Empty,
                flowgate.by_fallback = tracing::field::Empty,
                flowgate.queue_wait_ms = tracing::field::Empty,
                flowgate.status = tracing::field::Empty,
                flowgate.labels = tracing::field::Empty,
                $($extra)*
            )
        };
    }
    // A flow an Aperture agent decided also carries the status as Aperture's SDKs
    // report it; other flows do not carry the field at all.
    let span = if &*telemetry.provider == "aperture" {
        flow_span!(aperture.flow.status = tracing::field::Empty)
    } else {
        flow_span!()
    };
    if let Some(chosen) = telemetry.chosen_labels(labels) {
        span.record("flowgate.labels", chosen);
    }
    span
}

/// Records a flow's decision (`rejected`: why it was not accepted) in its span. Kept out of line: without a subscriber,
/// spans are disabled and this never runs.
#[inline(never)]
pub(crate) fn record_decision(
    span: &tracing::Span,
    telemetry: &Telemetry,
    flag: &str,
    rejected: Option<RejectReason>,
    by_fallback: bool,
) {
    // The flag's own answer: off only when the flag said no (or its fallback did);
    // a flow a limit rejected had its flag on.
    let value = match rejected {
        None => true,
        Some(
            RejectReason::RateLimited
            | RejectReason::ConcurrencyLimited
            | RejectReason::QueueTimeout,
        ) => !by_fallback,
        // Off, or the fallback said no.
        Some(_) => false,
    };
    span.record("feature_flag.result.value", value);
    span.record("flowgate.by_fallback", by_fallback);
    span.record(
        "flowgate.decision",
        if rejected.is_none() {
            "accepted"
        } else {
            "rejected"
        },
    );
    if let Some(reason) = rejected {
        span.record("flowgate.reject_reason", reason.as_str());
    }
    match rejected.and_then(error_type).filter(|_| by_fallback) {
        Some(error) => {
            span.record("feature_flag.result.reason", "error");
            span.record("error.type", error);
        }
        None if by_fallback => {
            span.record("feature_flag.result.reason", "default");
        }
        None => {
            span.record("feature_flag.result.reason", telemetry.reason(flag));
        }
    }
}

/// Records how long a flow waited for a concurrency slot.
#[inline(never)]
pub(crate) fn record_queue_wait(span: &tracing::Span, waited: std::time::Duration) {
    span.record("flowgate.queue_wait_ms", waited.as_secs_f64() * 1000.0);
}

/// An `is_enabled` or `variant` answer, as a `feature_flag.evaluation` event at DEBUG:
/// `error` is OpenTelemetry's `error.type` when the source could not decide. Callers
/// check `tracing::level_enabled!(DEBUG)` first.
#[cold]
#[inline(never)]
pub(crate) fn evaluation_event(
    telemetry: &Telemetry,
    flag: &str,
    labels: &Labels<'_>,
    error: Option<&'static str>,
    value: bool,
    variant: Option<&str>,
) {
    let reason = if error.is_some() {
        "error"
    } else {
        telemetry.reason(flag)
    };
    tracing::event!(
        name: "feature_flag.evaluation",
        target: "flowgate",
        tracing::Level::DEBUG,
        { "feature_flag.key" } = flag,
        { "feature_flag.provider.name" } = &*telemetry.provider,
        { "feature_flag.context.id" } = context_id(labels),
        { "feature_flag.result.value" } = value,
        { "feature_flag.result.reason" } = reason,
        { "feature_flag.result.variant" } = variant,
        { "error.type" } = error,
        { "flowgate.labels" } = telemetry.chosen_labels(labels),
    );
}
