//! OpenFeature both ways. A flowgate client behind OpenFeature's Rust API (the
//! `open-feature` crate's global API and client, as an application calls them) gives
//! the answers `Client::is_enabled` and `Client::variant` give, for 1 000 generated
//! contexts and every value type; and an OpenFeature provider used as a flowgate source
//! decides gates, fallbacks and limits.
//!
//! `Countdown` below is a provider written for this test, as a team would write one for
//! its own flag store (no OpenFeature provider server can run here): it answers from
//! memory, or (when told to) only after waiting, to show what a provider that would
//! wait does to a gate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flowgate::openfeature::{FlowgateProvider, OpenFeatureSource};
use flowgate::{feature_gate, labels, Client, Engine, Labels, RejectReason};
use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{
    async_trait, EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationReason,
    EvaluationResult, OpenFeature, StructValue, Value,
};

const RULES: &str = r#"
[flags.Rollout]
rollout = 40
constraints = [{ label = "region", operator = "IN", values = ["eu"] }]

[flags.Dark]
enabled = false

[flags.Checkout]
rollout = 70
variants = [
  { name = "one-page", weight = 1, payload = { type = "string", value = "One page" } },
  { name = "two-step", weight = 1 },
]

[flags.Retries]
variants = [
  { name = "few", weight = 1, payload = { type = "number", value = "2" } },
  { name = "many", weight = 1, payload = { type = "number", value = "7" } },
]

[flags.Ratio]
variants = [{ name = "quarter", weight = 1, payload = { type = "number", value = "0.25" } }]

[flags.Layout]
constraints = [{ label = "plan", operator = "IN", values = ["pro"] }]
variants = [{ name = "wide", weight = 1, payload = { type = "json", value = '{"columns": 3, "tags": ["a", 2]}' } }]
"#;

fn context(rng: &mut fastrand::Rng) -> (EvaluationContext, Labels<'static>) {
    let user = format!("user-{}", rng.u32(..));
    let region = ["eu", "us", "EU"][rng.usize(..3)];
    let mut context = EvaluationContext::default()
        .with_targeting_key(user.clone())
        .with_custom_field("region", region);
    let mut labels = labels! { "userId" => user, "region" => region }.into_owned();
    if rng.bool() {
        let plan = ["pro", "free"][rng.usize(..2)];
        context = context.with_custom_field("plan", plan);
        labels.insert("plan", plan);
    }
    (context, labels)
}

/// The variant's payload, when the flag chose a variant.
fn payload(client: &Client, flag: &str, labels: &Labels<'_>) -> Option<String> {
    let variant = client.variant(flag, labels);
    variant.enabled().then(|| match variant.payload() {
        Some(payload) => payload.value.to_string(),
        None => variant.name().to_owned(),
    })
}

#[tokio::test]
async fn the_openfeature_api_over_flowgate_answers_as_flowgate_for_1000_contexts() {
    let client = Client::from_toml_str(RULES).unwrap();
    OpenFeature::singleton_mut()
        .await
        .set_provider(FlowgateProvider::new(client.clone()))
        .await;
    let features = OpenFeature::singleton().await.create_client();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..1_000 {
        let (context, labels) = context(&mut rng);
        let on = features
            .get_bool_value("Rollout", Some(&context), None)
            .await
            .unwrap();
        assert_eq!(on, client.is_enabled("Rollout", &labels));
        reached.insert(format!("Rollout={on}"));
        assert!(!features
            .get_bool_value("Dark", Some(&context), None)
            .await
            .unwrap());

        let text = features
            .get_string_value("Checkout", Some(&context), None)
            .await
            .ok();
        assert_eq!(text, payload(&client, "Checkout", &labels));
        reached.insert(format!("Checkout={text:?}"));
        let retries = features
            .get_int_value("Retries", Some(&context), None)
            .await
            .unwrap();
        assert_eq!(
            Some(retries.to_string()),
            payload(&client, "Retries", &labels)
        );
        reached.insert(format!("Retries={retries}"));
        let ratio = features
            .get_float_value("Ratio", Some(&context), None)
            .await
            .unwrap();
        assert!((ratio - 0.25).abs() < f64::EPSILON);

        let layout = features
            .get_struct_details::<StructValue>("Layout", Some(&context), None)
            .await;
        match payload(&client, "Layout", &labels) {
            Some(_) => {
                let layout = layout.unwrap();
                assert_eq!(layout.value.fields["columns"], Value::Int(3));
                assert_eq!(
                    layout.value.fields["tags"],
                    Value::Array(vec![Value::String("a".into()), Value::Int(2)])
                );
                assert_eq!(layout.variant.as_deref(), Some("wide"));
                assert_eq!(layout.reason, Some(EvaluationReason::TargetingMatch));
            }
            None => assert!(layout.is_err(), "no variant: the caller's default applies"),
        }
    }
    for answer in [
        "Rollout=true",
        "Rollout=false",
        r#"Checkout=Some("One page")"#,
        r#"Checkout=Some("two-step")"#,
        "Checkout=None",
        "Retries=2",
        "Retries=7",
    ] {
        assert!(
            reached.contains(answer),
            "{answer} never answered: {reached:?}"
        );
    }
}

#[tokio::test]
async fn the_provider_maps_reasons_and_error_codes() {
    let provider = FlowgateProvider::new(Client::from_toml_str(RULES).unwrap());
    let context = EvaluationContext::default()
        .with_targeting_key("u-1")
        .with_custom_field("region", "eu");
    let rollout = provider
        .resolve_bool_value("Rollout", &context)
        .await
        .unwrap();
    assert_eq!(rollout.reason, Some(EvaluationReason::Split));
    let dark = provider.resolve_bool_value("Dark", &context).await.unwrap();
    assert_eq!(
        (dark.value, dark.reason),
        (false, Some(EvaluationReason::Disabled))
    );
    assert_eq!(dark.variant.as_deref(), Some("off"));

    let code = |result: EvaluationResult<()>| result.unwrap_err().code;
    assert_eq!(
        code(
            provider
                .resolve_bool_value("Missing", &context)
                .await
                .map(drop)
        ),
        EvaluationErrorCode::FlagNotFound
    );
    assert_eq!(
        code(
            provider
                .resolve_int_value("Rollout", &context)
                .await
                .map(drop)
        ),
        EvaluationErrorCode::TypeMismatch,
        "a flag without variants is a boolean"
    );
    assert_eq!(
        code(
            provider
                .resolve_int_value("Checkout", &context)
                .await
                .map(drop)
        ),
        EvaluationErrorCode::TypeMismatch,
        "a string payload is not a number"
    );
    let with_struct = context.clone().with_custom_field(
        "profile",
        open_feature::EvaluationContextFieldValue::new_struct(7_u8),
    );
    assert_eq!(
        code(
            provider
                .resolve_bool_value("Rollout", &with_struct)
                .await
                .map(drop)
        ),
        EvaluationErrorCode::InvalidContext
    );
    let pending = FlowgateProvider::new(Client::new(Engine::pending()));
    assert_eq!(pending.status(), ProviderStatus::NotReady);
    assert_eq!(
        code(
            pending
                .resolve_bool_value("Rollout", &context)
                .await
                .map(drop)
        ),
        EvaluationErrorCode::ProviderNotReady
    );
}

/// A provider of the test's own (see the module documentation): flags on or off in a
/// map; when `wait` is set, it answers only after a pending poll.
struct Countdown {
    flags: HashMap<&'static str, bool>,
    wait: AtomicBool,
    metadata: ProviderMetadata,
}

impl Countdown {
    fn new(flags: &[(&'static str, bool)]) -> Self {
        Self {
            flags: flags.iter().copied().collect(),
            wait: AtomicBool::new(false),
            metadata: ProviderMetadata::new("countdown"),
        }
    }

    async fn answer(&self, flag: &str, context: &EvaluationContext) -> EvaluationResult<bool> {
        if self.wait.load(Ordering::Relaxed) {
            tokio::task::yield_now().await;
        }
        // Staff see everything: the context arrives as labels put it.
        if context.custom_fields.get("role").and_then(|v| v.as_str()) == Some("staff") {
            return Ok(true);
        }
        self.flags.get(flag).copied().ok_or(EvaluationError {
            code: EvaluationErrorCode::FlagNotFound,
            message: None,
        })
    }
}

#[async_trait]
impl FeatureProvider for Countdown {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        Ok(ResolutionDetails::new(self.answer(flag, context).await?))
    }

    async fn resolve_int_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        Err(EvaluationError {
            code: EvaluationErrorCode::TypeMismatch,
            message: None,
        })
    }

    async fn resolve_float_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        Err(EvaluationError {
            code: EvaluationErrorCode::TypeMismatch,
            message: None,
        })
    }

    async fn resolve_string_value(
        &self,
        flag: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        let on = self.answer(flag, context).await?;
        Ok(ResolutionDetails {
            value: if on { "blue".into() } else { "grey".into() },
            variant: Some(if on { "on" } else { "off" }.into()),
            reason: None,
            flag_metadata: None,
        })
    }

    async fn resolve_struct_value(
        &self,
        _: &str,
        _: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        Err(EvaluationError {
            code: EvaluationErrorCode::TypeMismatch,
            message: None,
        })
    }
}

#[feature_gate("Search", client = flags, on_reject = |r| Err(r.clone()))]
fn search(flags: &Client) -> Result<&'static str, flowgate::Rejection> {
    Ok("new search")
}

#[test]
fn an_openfeature_provider_decides_gates_fallbacks_and_limits() {
    let source = OpenFeatureSource::new(Countdown::new(&[("Search", true), ("Old", false)]));
    let flags = Client::builder()
        .source(source)
        .limits_file(write_limits(
            "[flags.Search]\nrate_limit = { limit = 2, per = \"1h\" }\n",
        ))
        .build()
        .unwrap();
    assert_eq!(flags.source().name(), "countdown");
    assert!(!flags.is_enabled("Old", &Labels::new()));
    assert!(
        flags.is_enabled("Old", &labels! { "role" => "staff" }),
        "labels reach the provider"
    );
    assert_eq!(search(&flags), Ok("new search"));
    assert_eq!(search(&flags), Ok("new search"));
    assert_eq!(
        search(&flags).unwrap_err().reason(),
        RejectReason::RateLimited,
        "the limits file's rate limit applies to the provider's flag"
    );
    let unknown = flags.start_flow_blocking("Nope", &Labels::new(), Duration::ZERO);
    assert_eq!(
        unknown.rejection().map(flowgate::Rejection::reason),
        Some(RejectReason::UnknownFlag)
    );
    let variant = flags.variant("Search", &Labels::new());
    assert_eq!(
        (variant.name(), variant.payload().map(|p| &*p.value)),
        ("on", Some("blue"))
    );
}

#[test]
fn a_provider_that_would_wait_leaves_gates_on_their_fallback() {
    let countdown = Countdown::new(&[("Search", true)]);
    countdown.wait.store(true, Ordering::Relaxed);
    let source = OpenFeatureSource::new(countdown);
    let flags = Client::builder()
        .source(source)
        .fallback("Search", flowgate::Fallback::Reject)
        .build()
        .unwrap();
    let rejection = search(&flags).unwrap_err();
    assert_eq!(rejection.reason(), RejectReason::SourceError);
    assert!(
        format!("{:?}", flags.source()).contains("would_wait: 1"),
        "{:?}",
        flags.source()
    );
}

fn write_limits(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("flowgate-of-limits-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}
