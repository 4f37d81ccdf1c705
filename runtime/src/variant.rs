//! The variant of a flag a call gets (A/B tests, staged configurations).
//!
//! A variant's name and payload are built once per snapshot of the rules and shared by
//! every call that gets it: handing one out costs one reference count, of a copy the
//! calling thread owns (`shards::PerShard`), so that threads do not wait on each other.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::shards::PerShard;

/// The variant of a flag a call gets.
///
/// [`enabled`](Variant::enabled) is false, and the [`name`](Variant::name) is
/// `"disabled"`, when the flag is off or has no variants;
/// [`feature_enabled`](Variant::feature_enabled) tells those two apart.
///
/// ```
/// use flowgate::{labels, Client};
///
/// let client = Client::from_toml_str(r#"
///     [flags.Checkout]
///     variants = [{ name = "blue", payload = "b" }, { name = "green", payload = "g" }]
/// "#)?;
/// let variant = client.variant("Checkout", &labels! { "userId" => 7 });
/// assert!(variant.enabled() && variant.feature_enabled());
/// assert!(["blue", "green"].contains(&variant.name()));
/// assert_eq!(variant.payload().map(|p| &*p.kind), Some("string"));
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Variant {
    chosen: Arc<VariantData>,
    enabled: bool,
    feature_enabled: bool,
}

/// What a flag's variant definition hands out: built once per snapshot. A clone
/// shares the name and payload (one `Arc` each), for per-thread copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VariantData {
    pub(crate) name: Arc<str>,
    pub(crate) payload: Option<VariantPayload>,
}

impl Variant {
    pub(crate) fn new(chosen: Arc<VariantData>, enabled: bool, feature_enabled: bool) -> Self {
        Self {
            chosen,
            enabled,
            feature_enabled,
        }
    }

    /// No variant: the flag is off (`feature_enabled` false) or has none.
    pub(crate) fn disabled(feature_enabled: bool) -> Self {
        static DISABLED: OnceLock<VariantData> = OnceLock::new();
        // Handed out from per-thread copies: see `PerShard`.
        static HANDED_OUT: PerShard<VariantData> = PerShard::new();
        let chosen = HANDED_OUT.get(|| {
            DISABLED
                .get_or_init(|| VariantData {
                    name: Arc::from("disabled"),
                    payload: None,
                })
                .clone()
        });
        Variant::new(chosen, false, feature_enabled)
    }

    /// The variant's name (`"disabled"` when none was chosen).
    pub fn name(&self) -> &str {
        &self.chosen.name
    }

    /// Whether a variant was chosen.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the flag itself is on.
    pub fn feature_enabled(&self) -> bool {
        self.feature_enabled
    }

    /// The variant's payload, if it has one.
    pub fn payload(&self) -> Option<&VariantPayload> {
        self.chosen.payload.as_ref()
    }

    /// The name, shared with every call that got this variant (counted by address).
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.chosen.name
    }
}

// Flat, as if name and payload were fields: the shared `chosen` is how, not what.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name())
            .field("enabled", &self.enabled)
            .field("feature_enabled", &self.feature_enabled)
            .field("payload", &self.payload())
            .finish()
    }
}

/// The data a variant carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantPayload {
    /// The payload type: `string`, `json`, `csv` or `number` in Unleash.
    pub kind: Arc<str>,
    /// The payload itself.
    pub value: Arc<str>,
}
