//! OpenFeature evaluation contexts to flowgate labels and back: the targeting key is
//! `userId`; other fields are labels of their name, their values as text.

use open_feature::{EvaluationContext, EvaluationContextFieldValue};

use crate::labels::Labels;

/// The labels of `context`; `Err` names a field that has no text form (a structure).
pub(crate) fn labels_of(context: &EvaluationContext) -> Result<Labels<'static>, String> {
    let mut labels = Labels::new();
    if let Some(key) = &context.targeting_key {
        labels.insert("userId", key.clone());
    }
    for (name, value) in &context.custom_fields {
        let text = match value {
            EvaluationContextFieldValue::Bool(on) => on.to_string(),
            EvaluationContextFieldValue::Int(number) => number.to_string(),
            EvaluationContextFieldValue::Float(number) => number.to_string(),
            EvaluationContextFieldValue::String(text) => text.clone(),
            // RFC 3339, as date constraints read it.
            EvaluationContextFieldValue::DateTime(time) => {
                jiff::Timestamp::from_nanosecond(time.unix_timestamp_nanos())
                    .map_err(|e| format!("context field `{name}`: {e}"))?
                    .to_string()
            }
            EvaluationContextFieldValue::Struct(_) => {
                return Err(format!(
                    "context field `{name}` is a structure, which labels cannot hold"
                ))
            }
        };
        labels.insert(name.clone(), text);
    }
    Ok(labels)
}

/// The context of `labels`: `userId` as the targeting key, the others as strings.
pub(crate) fn context_of(labels: &Labels<'_>) -> EvaluationContext {
    let mut context = EvaluationContext::default();
    for (name, value) in labels {
        if name == "userId" {
            context.targeting_key = Some(value.to_owned());
        } else {
            context.add_custom_field(name, value.to_owned());
        }
    }
    context
}
