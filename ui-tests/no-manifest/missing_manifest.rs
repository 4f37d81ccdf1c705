use flowgate::feature_gate;

#[feature_gate("AwesomeFeature")]
fn gated() -> Option<()> {
    Some(())
}

fn main() {
    let _ = gated();
}
