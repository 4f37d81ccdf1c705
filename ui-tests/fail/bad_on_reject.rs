use flowgate::{feature_gate, Rejection};

#[feature_gate("AwesomeFeature", on_reject = 42)]
fn not_callable() -> u32 {
    1
}

#[feature_gate("AwesomeFeature", on_reject = |a, b| 0)]
fn two_parameters() -> u32 {
    1
}

#[feature_gate("AwesomeFeature", on_reject = async || 0)]
async fn awaited() -> u32 {
    1
}

#[feature_gate("AwesomeFeature", on_reject = || "off")]
fn wrong_type() -> u32 {
    1
}

fn takes_nothing() -> u32 {
    0
}

#[feature_gate("AwesomeFeature", on_reject = takes_nothing)]
fn wrong_signature() -> u32 {
    1
}

fn handler(_: &Rejection) -> u32 {
    0
}

#[feature_gate("AwesomeFeature", on_reject = handler)]
fn fine() -> u32 {
    1
}

fn main() {}
