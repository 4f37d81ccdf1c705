use flowgate::{feature_gate, labels};

/// A type with no `Display`.
struct Roles(Vec<u8>);

struct User {
    roles: Roles,
    tags: Vec<String>,
}

#[feature_gate("AwesomeFeature", labels(roles = user.roles))]
fn own_type(user: &User) -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(tags = user.tags))]
fn a_list(user: &User) -> Option<()> {
    Some(())
}

fn main() {
    let user = User { roles: Roles(Vec::new()), tags: Vec::new() };
    let _ = labels! { "roles" => user.roles };
}
