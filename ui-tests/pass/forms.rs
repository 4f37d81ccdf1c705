#![deny(warnings, clippy::pedantic)]
//! Forms a first-time user writes: tracing's shorthand labels, a client in a static, a
//! sync body that moves what a label borrowed, `Result<T, String>`.
use std::sync::LazyLock;

use flowgate::{feature_gate, testing::InMemorySource, Client};

static FLAGS: LazyLock<Client> =
    LazyLock::new(|| InMemorySource::new().enable("AwesomeFeature").into_client());

#[feature_gate("AwesomeFeature", client = FLAGS, labels(user_id))]
fn shorthand(user_id: String) -> Option<String> {
    Some(user_id)
}

struct Cart {
    items: Vec<u32>,
    owner: String,
}

#[feature_gate("AwesomeFeature", client = FLAGS, labels(owner = cart.owner))]
fn mutates(cart: &mut Cart) -> Result<usize, String> {
    cart.items.push(1);
    cart.owner.push('!');
    Ok(cart.items.len())
}

fn main() {
    assert_eq!(shorthand("u-1".into()).as_deref(), Some("u-1"));
    let mut cart = Cart { items: Vec::new(), owner: "ann".into() };
    assert_eq!(mutates(&mut cart), Ok(1));
}
