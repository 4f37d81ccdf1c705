//! Label values of every form people write, in the attribute, in `labels!` and by
//! hand, reach the decision source as the same text `Display` gives, and compile with
//! no warning under the strictest lints (CI runs clippy on this file with `-D warnings`).

#![deny(warnings, clippy::pedantic)]

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use flowgate::labels::display;
use flowgate::source::{DecisionSource, Evaluation};
use flowgate::{feature_gate, labels, Client, Labels};

/// A source that records the labels of every call, owned.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<Vec<(String, String)>>>);

impl DecisionSource for Recording {
    fn evaluate(&self, _flag: &str, labels: &Labels<'_>) -> Evaluation {
        let seen = labels
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        self.0.lock().unwrap().push(seen);
        Evaluation::from(true)
    }
}

fn recording() -> (Arc<Recording>, Client) {
    let source = Arc::new(Recording::default());
    (Arc::clone(&source), Client::new(Arc::clone(&source)))
}

fn last(source: &Recording) -> Vec<(String, String)> {
    source.0.lock().unwrap().last().cloned().unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An id type of a service's own, with nothing but `Display`.
#[derive(Debug, Clone, Copy)]
pub struct TenantId(u32);

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant-{}", self.0)
    }
}

#[derive(Debug)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub tenant: TenantId,
    pub staff: bool,
    pub ip: IpAddr,
}

fn user() -> User {
    User {
        id: 42,
        name: "Ada Lovelace, a name longer than 24 bytes".into(),
        email: Some("ada@example.com".into()),
        tenant: TenantId(7),
        staff: true,
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    }
}

#[feature_gate(
    "Checkout",
    client = flags,
    labels(
        userId = user.id,
        name = user.name,
        nameRef = &user.name,
        nameStr = user.name.as_str(),
        tenant = user.tenant,
        staff = user.staff,
        ip = user.ip,
        email = user.email.as_deref().unwrap_or(""),
        upper = user.name.to_uppercase(),
        formatted = format!("{}:{}", user.id, user.staff),
        negative = -3_i32,
        letter = 'λ',
        literal = "eu"
    ),
    on_reject = || 0
)]
fn sync_gate(flags: &Client, user: &User) -> u64 {
    user.id
}

#[feature_gate(
    "Checkout",
    client = flags,
    labels(userId = user.id, name = user.name, tenant = user.tenant, count = *count),
    on_reject = || 0
)]
async fn async_gate(flags: &Client, user: &User, count: &usize) -> u64 {
    user.id
}

#[feature_gate("Checkout", client = flags, labels(value = value), on_reject = || false)]
fn generic_gate<T: std::fmt::Display>(flags: &Client, value: T) -> bool {
    value.to_string().is_empty()
}

#[feature_gate("Checkout", client = flags, labels(region = region, id = id), on_reject = || ())]
fn borrowed_args(flags: &Client, region: &str, id: &String) {
    let _ = (region, id);
}

#[test]
fn the_attribute_reads_every_form_as_display_would() {
    let (source, flags) = recording();
    let user = user();
    assert_eq!(sync_gate(&flags, &user), 42);
    let name = user.name.as_str();
    let upper = user.name.to_uppercase();
    assert_eq!(
        last(&source),
        pairs(&[
            ("userId", "42"),
            ("name", name),
            ("nameRef", name),
            ("nameStr", name),
            ("tenant", "tenant-7"),
            ("staff", "true"),
            ("ip", "10.0.0.1"),
            ("email", "ada@example.com"),
            ("upper", &upper),
            ("formatted", "42:true"),
            ("negative", "-3"),
            ("letter", "λ"),
            ("literal", "eu"),
        ])
    );
    let count = 9_usize;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(async_gate(&flags, &user, &count)), 42);
    assert_eq!(
        last(&source),
        pairs(&[
            ("userId", "42"),
            ("name", name),
            ("tenant", "tenant-7"),
            ("count", "9")
        ])
    );
    assert!(!generic_gate(&flags, TenantId(3)));
    assert_eq!(last(&source), pairs(&[("value", "tenant-3")]));
    assert!(!generic_gate(&flags, 5_u8));
    assert_eq!(last(&source), pairs(&[("value", "5")]));
    borrowed_args(&flags, "us", &String::from("id-1"));
    assert_eq!(last(&source), pairs(&[("region", "us"), ("id", "id-1")]));
}

#[test]
fn labels_macro_takes_values_by_reference_and_keeps_temporaries() {
    let user = user();
    let session = String::from("s-1");
    let region: &str = "eu";
    let arc: Arc<str> = Arc::from("shared");
    let cow: Cow<'_, str> = Cow::Owned("cow".into());
    let labels = labels! {
        "userId" => user.id,
        "name" => user.name,
        "session" => session,
        "sessionRef" => &session,
        "region" => region,
        "tenant" => user.tenant,
        "ip" => user.ip,
        "trace" => format!("t-{}", 7),
        "arc" => arc,
        "cow" => cow,
        "staff" => user.staff,
        "big" => u128::MAX,
    };
    // Nothing was moved.
    assert_eq!(session, "s-1");
    assert_eq!(&*arc, "shared");
    assert_eq!(labels.get("userId"), Some("42"));
    assert_eq!(labels.get("name"), Some(user.name.as_str()));
    assert_eq!(labels.get("session"), Some("s-1"));
    assert_eq!(labels.get("sessionRef"), Some("s-1"));
    assert_eq!(labels.get("tenant"), Some("tenant-7"));
    assert_eq!(labels.get("ip"), Some("10.0.0.1"));
    assert_eq!(labels.get("trace"), Some("t-7"));
    assert_eq!(labels.get("arc"), Some("shared"));
    assert_eq!(labels.get("cow"), Some("cow"));
    assert_eq!(labels.get("staff"), Some("true"));
    assert_eq!(labels.get("big"), Some(u128::MAX.to_string().as_str()));
}

#[test]
fn by_hand_values_borrow_move_or_display() {
    let id = String::from("user-1");
    let owned = String::from("moved in");
    let labels = Labels::new()
        .with("userId", &id)
        .with("moved", owned)
        .with("n", 42_u16)
        .with("neg", -1_i64)
        .with(String::from("dynamicKey"), "v")
        .with("ip", display(Ipv4Addr::LOCALHOST));
    assert_eq!(labels.get("userId"), Some("user-1"));
    assert_eq!(labels.get("moved"), Some("moved in"));
    assert_eq!(labels.get("n"), Some("42"));
    assert_eq!(labels.get("neg"), Some("-1"));
    assert_eq!(labels.get("dynamicKey"), Some("v"));
    assert_eq!(labels.get("ip"), Some("127.0.0.1"));
    // Kept beyond what they borrowed.
    let kept: Labels<'static> = labels.clone().into_owned();
    drop(labels);
    drop(id);
    assert_eq!(kept.get("userId"), Some("user-1"));
}

#[test]
fn many_generated_names_and_values_are_found_as_inserted() {
    let mut rng = fastrand::Rng::with_seed(11);
    let alphabet: Vec<char> = "aAzZ_-09.é€userIdregion".chars().collect();
    for _ in 0..2_000 {
        let count = rng.usize(0..12);
        let mut model: Vec<(String, String)> = Vec::new();
        let mut labels = Labels::new();
        for _ in 0..count {
            let key: String = (0..rng.usize(0..20))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let value = rng.i64(..).to_string();
            match model.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1.clone_from(&value),
                None => model.push((key.clone(), value.clone())),
            }
            labels.insert(key, value.parse::<i64>().unwrap());
        }
        let seen: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(seen, model);
        for (key, value) in &model {
            assert_eq!(labels.get(key), Some(value.as_str()));
            // A name one byte off is another name.
            let mut other = key.clone();
            other.push('x');
            if !model.iter().any(|(k, _)| *k == other) {
                assert_eq!(labels.get(&other), None, "{other:?} in {model:?}");
            }
        }
    }
}

#[feature_gate(
    "Checkout",
    client = flags,
    labels(email = user.email, header = header, tries = tries, region = "eu"),
    on_reject = || 0
)]
fn optional_labels(flags: &Client, user: &User, header: Option<&str>, tries: Option<u32>) -> u64 {
    user.id
}

/// An `Option` label is its value when `Some` and left out when `None`: the source
/// never sees it, lookups do not find it, and a rule reads it as missing.
#[test]
fn optional_values_are_left_out_when_none() {
    let (source, client) = recording();
    let mut ada = user();
    optional_labels(&client, &ada, Some("h-1"), Some(3));
    assert_eq!(
        last(&source),
        pairs(&[
            ("email", "ada@example.com"),
            ("header", "h-1"),
            ("tries", "3"),
            ("region", "eu")
        ])
    );
    ada.email = None;
    optional_labels(&client, &ada, None, None);
    assert_eq!(last(&source), pairs(&[("region", "eu")]));

    let email: Option<String> = None;
    let labels = labels! { "email" => email, "tenant" => Some(TenantId(3).to_string()) };
    assert_eq!(labels.get("email"), None);
    assert_eq!(labels.len(), 1);
    assert_eq!(format!("{labels:?}"), r#"{"tenant": "tenant-3"}"#);

    // Setting `None` removes an earlier value.
    let mut by_hand = Labels::new().with("userId", "u-1");
    by_hand.insert("userId", None::<&str>);
    assert_eq!(by_hand.get("userId"), None);
    assert!(by_hand.is_empty());
    assert_eq!(by_hand, Labels::new());
}

/// A rule on a label given as `None` reads it as missing: `IN` fails and `NOT_IN`
/// holds, exactly as with the label never given.
#[test]
fn a_rule_reads_a_none_label_as_missing() {
    let engine = flowgate::engine::Engine::from_toml_str(
        "[flags.Checkout]\nconstraints = [{ label = \"tenant\", operator = \"NOT_IN\", values = [\"t-1\"] }]\n\
         [flags.Search]\nconstraints = [{ label = \"tenant\", operator = \"IN\", values = [\"t-1\"] }]\n",
    )
    .unwrap();
    let client = Client::new(engine);
    for tenant in [None, Some("t-1"), Some("t-2")] {
        let with_option = labels! { "tenant" => tenant };
        let mut plain = Labels::new();
        if let Some(tenant) = tenant {
            plain.insert("tenant", tenant);
        }
        for flag in ["Checkout", "Search"] {
            assert_eq!(
                client.is_enabled(flag, &with_option),
                client.is_enabled(flag, &plain),
                "{flag} with tenant {tenant:?}"
            );
        }
    }
}
