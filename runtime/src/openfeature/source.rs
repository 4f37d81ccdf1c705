//! [`OpenFeatureSource`]: any OpenFeature provider as a flowgate decision source.
//!
//! **Trick.** A decision source answers at once, on local state; an OpenFeature provider
//! answers through `async` methods. The source polls the provider's future once, with a
//! waker that does nothing: a provider that evaluates in process (flagd's in-process
//! mode, an in-memory or environment provider, flowgate's own) is ready at the first
//! poll, and its answer decides the gate. **Cost.** A provider that would wait (one
//! that asks a server per evaluation) cannot decide in time: the gate takes its
//! fallback, and the source counts it ([`OpenFeatureSource::would_wait`]). And a
//! context is built per evaluation (the provider's interface takes one), which
//! allocates.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{EvaluationErrorCode, EvaluationResult};

use super::context::context_of;
use crate::labels::Labels;
use crate::source::{DecisionSource, Evaluation, Serving, Undecided};
use crate::variant::{Variant, VariantData, VariantPayload};

/// A decision source backed by an OpenFeature provider: see the module documentation.
///
/// ```
/// use flowgate::openfeature::{FlowgateProvider, OpenFeatureSource};
///
/// // Any provider; here flowgate's own, over a rules text.
/// let provider = FlowgateProvider::new(flowgate::Client::from_toml_str("[flags.A]\nenabled = true\n")?);
/// let client = flowgate::Client::new(OpenFeatureSource::new(provider));
/// assert!(client.is_enabled("A", &flowgate::Labels::new()));
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
///
/// Labels become the provider's context: `userId` is the targeting key, the others
/// fields of their name. `resolve_bool_value` decides flags; `resolve_string_value`
/// gives [`Client::variant`](crate::Client::variant) its variant (named by the
/// provider's `variant`, with the string as a `string` payload). The provider's
/// `FLAG_NOT_FOUND` is an unknown flag, `PROVIDER_NOT_READY` a source not ready, any
/// other error an error: each takes the gate's fallback.
pub struct OpenFeatureSource<P> {
    provider: Arc<P>,
    name: Box<str>,
    would_wait: AtomicU64,
}

impl<P: FeatureProvider> OpenFeatureSource<P> {
    /// A source asking `provider` (initialize it first, as OpenFeature's API would).
    pub fn new(provider: P) -> Self {
        let name = provider.metadata().name.clone().into_boxed_str();
        Self {
            provider: Arc::new(provider),
            name,
            would_wait: AtomicU64::new(0),
        }
    }

    /// Evaluations the provider could not answer without waiting (each took the
    /// gate's fallback).
    pub fn would_wait(&self) -> u64 {
        self.would_wait.load(Ordering::Relaxed)
    }

    /// The provider's answer if it has one at the first poll.
    fn now<T>(
        &self,
        future: impl Future<Output = EvaluationResult<T>>,
    ) -> Option<EvaluationResult<T>> {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(answer) => Some(answer),
            Poll::Pending => {
                if self.would_wait.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        target: "flowgate",
                        provider = %self.name,
                        "the OpenFeature provider could not answer without waiting; \
                         gates take their fallback (use a provider that evaluates in process)"
                    );
                }
                None
            }
        }
    }
}

impl<P: FeatureProvider> DecisionSource for OpenFeatureSource<P> {
    fn evaluate(&self, flag: &str, labels: &Labels<'_>) -> Evaluation {
        if self.provider.status() != ProviderStatus::Ready {
            return Evaluation::Undecided(Undecided::NotReady);
        }
        let context = context_of(labels);
        match self.now(self.provider.resolve_bool_value(flag, &context)) {
            Some(Ok(details)) => Evaluation::from(details.value),
            Some(Err(error)) => Evaluation::Undecided(match error.code {
                EvaluationErrorCode::FlagNotFound => Undecided::UnknownFlag,
                EvaluationErrorCode::ProviderNotReady => Undecided::NotReady,
                _ => Undecided::Error,
            }),
            None => Evaluation::Undecided(Undecided::Error),
        }
    }

    fn variant(&self, flag: &str, labels: &Labels<'_>) -> Option<Variant> {
        if self.provider.status() != ProviderStatus::Ready {
            return None;
        }
        let context = context_of(labels);
        let details = self
            .now(self.provider.resolve_string_value(flag, &context))?
            .ok()?;
        let name = details.variant.unwrap_or_else(|| details.value.clone());
        let data = VariantData {
            name: name.into(),
            payload: Some(VariantPayload {
                kind: "string".into(),
                value: details.value.into(),
            }),
        };
        Some(Variant::new(Arc::new(data), true, true))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn serving(&self) -> Serving {
        match self.provider.status() {
            ProviderStatus::Ready | ProviderStatus::STALE => Serving::Live,
            _ => Serving::Fallback,
        }
    }
}

impl<P> fmt::Debug for OpenFeatureSource<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenFeatureSource")
            .field("provider", &self.name)
            .field("would_wait", &self.would_wait.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
