use flowgate::{feature_gate, labels};

struct User {
    email: Option<String>,
}

#[feature_gate("AwesomeFeature", labels(email = user.email))]
fn optional(user: &User) -> Option<()> {
    Some(())
}

fn main() {
    let user = User { email: None };
    let _ = labels! { "email" => user.email };
}
