#![deny(warnings, clippy::pedantic)]
//! `Option` label values: `None` leaves the label out.
use flowgate::{feature_gate, labels, testing::InMemorySource};

struct User {
    email: Option<String>,
    id: Option<u64>,
}

#[feature_gate("AwesomeFeature", labels(email = user.email, id = user.id, region = region), client = client)]
fn optional(client: &flowgate::Client, user: &User, region: Option<&str>) -> Option<()> {
    Some(())
}

fn main() {
    let client = InMemorySource::new().enable("AwesomeFeature").into_client();
    let user = User { email: None, id: Some(7) };
    assert_eq!(optional(&client, &user, None), Some(()));
    let labels = labels! { "email" => user.email, "id" => user.id };
    assert_eq!(labels.get("email"), None);
    assert_eq!(labels.get("id"), Some("7"));
}
