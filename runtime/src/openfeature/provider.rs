//! [`FlowgateProvider`]: OpenFeature's provider interface over a flowgate client.
//!
//! Every resolution is a flowgate evaluation (the same as `Client::is_enabled` or
//! `Client::variant`): it never waits, though the interface is `async`.

use async_trait::async_trait;
use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{
    EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationReason, EvaluationResult,
    StructValue, Value,
};

use super::context::labels_of;
use crate::source::{Evaluation, Undecided};
use crate::{Client, Variant};

/// An OpenFeature provider backed by a flowgate [`Client`].
///
/// ```
/// use open_feature::provider::FeatureProvider;
/// use open_feature::EvaluationContext;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = flowgate::Client::from_toml_str(r#"
///     [flags.Checkout]
///     variants = [{ name = "one-page", weight = 1, payload = { type = "string", value = "One page" } }]
/// "#)?;
/// let provider = flowgate::openfeature::FlowgateProvider::new(client);
/// let context = EvaluationContext::default().with_targeting_key("user-7");
/// let on = provider.resolve_bool_value("Checkout", &context).await.unwrap();
/// assert!(on.value);
/// let text = provider.resolve_string_value("Checkout", &context).await.unwrap();
/// assert_eq!((text.value.as_str(), text.variant.as_deref()), ("One page", Some("one-page")));
/// # Ok(()) }
/// ```
///
/// With the OpenFeature API: `OpenFeature::singleton_mut().await.set_provider(provider)`.
///
/// - `resolve_bool_value`: the flag's answer; variant `on` or `off`.
/// - `resolve_string_value`: the chosen variant's payload as text, or its name without a
///   payload.
/// - `resolve_int_value`, `resolve_float_value`: a `number` payload.
/// - `resolve_struct_value`: a `json` payload holding an object.
///
/// A flag the source does not know is `FLAG_NOT_FOUND`; a source with no state yet,
/// `PROVIDER_NOT_READY`; a payload of another type, `TYPE_MISMATCH`; a context field
/// holding a structure, `INVALID_CONTEXT`. A flag that chose no variant for the call
/// (it is off for it) answers an error too, so that the caller's default applies.
#[derive(Debug, Clone)]
pub struct FlowgateProvider {
    client: Client,
    metadata: ProviderMetadata,
}

impl FlowgateProvider {
    /// A provider answering with `client`'s flags.
    pub fn new(client: Client) -> Self {
        Self {
            metadata: ProviderMetadata::new("flowgate"),
            client,
        }
    }

    fn reason(&self, flag: &str) -> EvaluationReason {
        match self.client.telemetry_reason(flag) {
            "static" => EvaluationReason::Static,
            "split" => EvaluationReason::Split,
            "targeting_match" => EvaluationReason::TargetingMatch,
            "disabled" => EvaluationReason::Disabled,
            _ => EvaluationReason::Unknown,
        }
    }

    /// The variant chosen for `flag`, or the error that stands for none.
    fn variant(&self, flag: &str, context: &EvaluationContext) -> EvaluationResult<Variant> {
        let labels =
            labels_of(context).map_err(|e| error(EvaluationErrorCode::InvalidContext, e))?;
        if self.client.defines_variants(flag) != Some(true) {
            return Err(match self.client.evaluation(flag, &labels) {
                Evaluation::Undecided(undecided) => undecided_error(flag, undecided),
                _ => error(
                    EvaluationErrorCode::TypeMismatch,
                    format!("flag `{flag}` has no variants: resolve it as a boolean"),
                ),
            });
        }
        let variant = self.client.variant(flag, &labels);
        if variant.enabled() {
            Ok(variant)
        } else {
            Err(error(
                EvaluationErrorCode::General("FLAG_DISABLED".into()),
                format!("flag `{flag}` chose no variant for this context (it is off for it)"),
            ))
        }
    }

    fn details<T>(&self, flag: &str, value: T, variant: &Variant) -> ResolutionDetails<T> {
        ResolutionDetails {
            value,
            variant: Some(variant.name().to_owned()),
            reason: Some(self.reason(flag)),
            flag_metadata: None,
        }
    }
}

fn error(code: EvaluationErrorCode, message: String) -> EvaluationError {
    EvaluationError {
        code,
        message: Some(message),
    }
}

fn undecided_error(flag: &str, undecided: Undecided) -> EvaluationError {
    match undecided {
        Undecided::UnknownFlag => error(
            EvaluationErrorCode::FlagNotFound,
            format!("no flag `{flag}`"),
        ),
        Undecided::NotReady | Undecided::NoSource => error(
            EvaluationErrorCode::ProviderNotReady,
            "the flag source has no state yet".into(),
        ),
        Undecided::Error => error(
            EvaluationErrorCode::General("GENERAL".into()),
            format!("the flag source could not evaluate `{flag}`"),
        ),
        _ => error(
            EvaluationErrorCode::General("GENERAL".into()),
            format!(
                "the flag source decides each flow of `{flag}` (an Aperture agent): it has \
                 no answer outside a flow"
            ),
        ),
    }
}

fn mismatch(flag: &str, wanted: &str, variant: &Variant) -> EvaluationError {
    let kind = variant.payload().map_or("no payload", |p| &*p.kind);
    error(
        EvaluationErrorCode::TypeMismatch,
        format!(
            "flag `{flag}`: variant `{}` has {kind}, not {wanted}",
            variant.name()
        ),
    )
}

/// A `json` payload's value as OpenFeature's value.
fn value_of(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Struct(StructValue::default()),
        serde_json::Value::Bool(on) => Value::Bool(on),
        serde_json::Value::Number(number) => number.as_i64().map_or_else(
            || Value::Float(number.as_f64().unwrap_or(f64::NAN)),
            Value::Int,
        ),
        serde_json::Value::String(text) => Value::String(text),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(value_of).collect()),
        serde_json::Value::Object(fields) => Value::Struct(StructValue {
            fields: fields.into_iter().map(|(k, v)| (k, value_of(v))).collect(),
        }),
    }
}

#[async_trait]
impl FeatureProvider for FlowgateProvider {
    fn status(&self) -> ProviderStatus {
        if self.client.is_ready() {
            ProviderStatus::Ready
        } else {
            ProviderStatus::NotReady
        }
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        let labels =
            labels_of(context).map_err(|e| error(EvaluationErrorCode::InvalidContext, e))?;
        let on = match self.client.evaluation(flag, &labels) {
            Evaluation::Enabled => true,
            Evaluation::Disabled => false,
            Evaluation::Undecided(undecided) => return Err(undecided_error(flag, undecided)),
        };
        Ok(ResolutionDetails {
            value: on,
            variant: Some(if on { "on" } else { "off" }.to_owned()),
            reason: Some(self.reason(flag)),
            flag_metadata: None,
        })
    }

    async fn resolve_int_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        let variant = self.variant(flag, context)?;
        let number = variant
            .payload()
            .filter(|p| &*p.kind == "number")
            .and_then(|p| p.value.parse::<i64>().ok())
            .ok_or_else(|| mismatch(flag, "a whole number", &variant))?;
        Ok(self.details(flag, number, &variant))
    }

    async fn resolve_float_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        let variant = self.variant(flag, context)?;
        let number = variant
            .payload()
            .filter(|p| &*p.kind == "number")
            .and_then(|p| p.value.parse::<f64>().ok())
            .ok_or_else(|| mismatch(flag, "a number", &variant))?;
        Ok(self.details(flag, number, &variant))
    }

    async fn resolve_string_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        let variant = self.variant(flag, context)?;
        let text = match variant.payload() {
            Some(payload) => payload.value.to_string(),
            None => variant.name().to_owned(),
        };
        Ok(self.details(flag, text, &variant))
    }

    async fn resolve_struct_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        let variant = self.variant(flag, context)?;
        let fields = variant
            .payload()
            .filter(|p| &*p.kind == "json")
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p.value).ok())
            .and_then(|json| match value_of(json) {
                Value::Struct(fields) => Some(fields),
                _ => None,
            })
            .ok_or_else(|| mismatch(flag, "a JSON object", &variant))?;
        Ok(self.details(flag, fields, &variant))
    }
}
