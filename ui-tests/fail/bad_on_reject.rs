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

fn takes_a_number(_: u32) -> u32 {
    0
}

#[feature_gate("AwesomeFeature", on_reject = takes_a_number)]
fn wrong_signature() -> u32 {
    1
}

fn returns_text(_: &Rejection) -> &'static str {
    "off"
}

#[feature_gate("AwesomeFeature", on_reject = returns_text)]
fn wrong_return() -> u32 {
    1
}

#[feature_gate("AwesomeFeature", on_reject = |rejection: &String| 0)]
fn wrong_parameter_type() -> u32 {
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
