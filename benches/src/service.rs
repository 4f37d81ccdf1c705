//! The fixtures of the cases "as a service calls it": requests from many users, labels
//! built on every call, flags whose answer depends on the call, for flowgate and for
//! the Unleash engines beside it (each given its context as its API wants it, built
//! per request).

use std::collections::HashMap;
use std::fmt::Write as _;

use flowgate::{feature_gate, labels, Client};

use crate::work;

/// How many distinct users the requests come from: more than any cache in the path.
pub const USERS: usize = 1 << 16;

/// One incoming request: a user id as services carry them (a UUID, 36 bytes), and the
/// region it came from.
#[derive(Debug, Clone)]
pub struct Request {
    pub user_id: String,
    pub region: &'static str,
}

/// splitmix64: a fresh, scrambled number per call.
#[inline]
#[must_use]
pub fn scramble(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The request of call `i`: a different user on every call, in no order a cache
/// could follow.
#[inline]
#[must_use]
pub fn request(requests: &[Request], i: u64) -> &Request {
    // The pool's length is a power of two.
    #[allow(clippy::cast_possible_truncation)]
    let at = (scramble(i) as usize) & (requests.len() - 1);
    &requests[at]
}

/// [`USERS`] requests, each from another user, all from `region`.
#[must_use]
pub fn requests(region: &'static str) -> Vec<Request> {
    (0..USERS as u64)
        .map(|n| {
            let (a, b) = (scramble(n), scramble(n ^ 0xFFFF_0000));
            let mut user_id = String::with_capacity(36);
            let _ = write!(
                user_id,
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xFFFF,
                a & 0xFFF,
                b >> 52,
                b & 0xFFFF_FFFF_FFFF
            );
            Request { user_id, region }
        })
        .collect()
}

/// The embedded engine on `benches/flowgate.toml`, as a service runs it: rules from the
/// crate's file, watched for changes.
#[must_use]
pub fn file_client() -> Client {
    Client::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/flowgate.toml")).unwrap()
}

// ---- the handlers ------------------------------------------------------------------

/// An async handler behind a 50% rollout in two regions, labelled with the request's
/// user and region: what `#[feature_gate]` is for.
#[feature_gate(
    "regional-7",
    client = flags,
    labels(userId = request.user_id, region = request.region),
    on_reject = || 0
)]
pub async fn handler(flags: &Client, request: &Request) -> u64 {
    work(request.user_id.len() as u64)
}

/// yggdrasil's context of a request, built per request as its users build it: owned
/// strings, a map of properties.
#[inline]
fn yggdrasil_context(request: &Request) -> unleash_yggdrasil::Context {
    unleash_yggdrasil::Context {
        user_id: Some(request.user_id.clone()),
        properties: Some(HashMap::from([(
            "region".to_owned(),
            request.region.to_owned(),
        )])),
        ..Default::default()
    }
}

/// The same handler with yggdrasil (the Unleash engine the Unleash SDKs embed): its
/// context is owned strings, built per request.
#[must_use]
pub fn yggdrasil_handler(engine: &unleash_yggdrasil::EngineState, request: &Request) -> u64 {
    let context = yggdrasil_context(request);
    if engine.is_enabled("regional-7", &context, &None) {
        work(request.user_id.len() as u64)
    } else {
        0
    }
}

/// The same handler with the Unleash Rust SDK.
#[must_use]
pub fn sdk_handler(sdk: &unleash_api_client::Client<crate::SdkFeatures>, request: &Request) -> u64 {
    let context = unleash_api_client::Context {
        user_id: Some(request.user_id.clone()),
        properties: HashMap::from([("region".to_owned(), request.region.to_owned())]),
        ..Default::default()
    };
    if sdk.is_enabled_str("regional-7", Some(&context), false) {
        work(request.user_id.len() as u64)
    } else {
        0
    }
}

/// A handler choosing an A/B variant for the request's user (`labels!` borrows the id:
/// `&request.user_id`).
#[must_use]
pub fn variant_handler(flags: &Client, request: &Request) -> usize {
    let variant = flags.variant(
        "variant-7",
        &labels! { "userId" => &request.user_id, "region" => request.region },
    );
    variant.name().len()
}

/// The same with yggdrasil.
#[must_use]
pub fn yggdrasil_variant_handler(
    engine: &unleash_yggdrasil::EngineState,
    request: &Request,
) -> usize {
    let context = yggdrasil_context(request);
    engine.get_variant("variant-7", &context, &None).name.len()
}

/// The same with the Unleash Rust SDK.
#[must_use]
pub fn sdk_variant_handler(
    sdk: &unleash_api_client::Client<crate::SdkFeatures>,
    request: &Request,
) -> usize {
    let context = unleash_api_client::Context {
        user_id: Some(request.user_id.clone()),
        properties: HashMap::from([("region".to_owned(), request.region.to_owned())]),
        ..Default::default()
    };
    sdk.get_variant_str("variant-7", &context).name.len()
}

// ---- more labels, more flags, more values ----------------------------------------------

/// The names of the labels a call carries beside `userId`, in the label-count cases.
pub const FILLER: [&str; 15] = [
    "region", "tenant", "plan", "device", "os", "locale", "build", "channel", "country", "tier",
    "team", "role", "cohort", "source", "shard",
];

/// `n` flags (`f0`, `f1`, ...) of the constrained rollout, as `flowgate.toml`.
#[must_use]
pub fn many_flags_toml(n: usize) -> String {
    let mut toml = String::new();
    for i in 0..n {
        let _ = write!(
            toml,
            "[flags.f{i}]\nrollout = 50\nconstraints = [{{ label = \"region\", operator = \"IN\", values = [\"eu\", \"us\"] }}]\n\n"
        );
    }
    toml
}

/// The same flags as an Unleash feature state.
#[must_use]
pub fn many_flags_json(n: usize) -> String {
    let features: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "name": format!("f{i}"), "enabled": true,
                "strategies": [{ "name": "flexibleRollout",
                    "parameters": { "rollout": "50", "stickiness": "default", "groupId": format!("f{i}") },
                    "constraints": [{ "contextName": "region", "operator": "IN", "values": ["eu", "us"] }] }]
            })
        })
        .collect();
    serde_json::json!({ "version": 2, "features": features }).to_string()
}

/// The names of those flags in a shuffled order, to touch them in.
#[must_use]
pub fn shuffled_names(n: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    fastrand::Rng::with_seed(5).shuffle(&mut names);
    names
}

/// One flag, `in16`, on only when each of 16 labels (`c0`..`c15`) is one of 16 values;
/// a call gives each label the last value of its list, the worst case for a scan.
#[must_use]
pub fn sixteen_in_constraints() -> (String, String) {
    let values: Vec<String> = (0..16).map(|v| format!("value-{v}")).collect();
    let mut toml = String::from("[flags.in16]\nconstraints = [\n");
    let mut constraints = Vec::new();
    for c in 0..16 {
        let list: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        let _ = writeln!(
            toml,
            "  {{ label = \"c{c}\", operator = \"IN\", values = [{}] }},",
            list.join(", ")
        );
        constraints.push(serde_json::json!({
            "contextName": format!("c{c}"), "operator": "IN", "values": values
        }));
    }
    toml.push_str("]\n");
    let json = serde_json::json!({ "version": 2, "features": [{
        "name": "in16", "enabled": true,
        "strategies": [{ "name": "default", "parameters": {}, "constraints": constraints }]
    }] })
    .to_string();
    (toml, json)
}

/// The label names of [`sixteen_in_constraints`], and the value each call gives.
pub const IN16_LABELS: [&str; 16] = [
    "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14",
    "c15",
];
pub const IN16_VALUE: &str = "value-15";
