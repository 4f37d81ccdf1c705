//! `set_global` installs the client that gates without `client = ...` use. (Its own
//! test binary: the global client is process-wide.)

use flowgate::feature_gate;
use flowgate::testing::InMemorySource;

#[feature_gate("Checkout")]
fn checkout() -> Option<&'static str> {
    Some("checked out")
}

#[test]
fn set_global_once_then_gates_use_it() {
    let source = InMemorySource::new().enable("Checkout");
    flowgate::set_global(source.clone().into_client()).unwrap();
    assert_eq!(checkout(), Some("checked out"));
    source.set("Checkout", false);
    assert_eq!(checkout(), None);

    let second = InMemorySource::new().into_client();
    let refused = flowgate::set_global(second).unwrap_err();
    let _given_back: flowgate::Client = refused.into_client();

    let counts = flowgate::global().metrics().flag("Checkout");
    assert_eq!((counts.accepted, counts.rejected), (1, 1));
}
