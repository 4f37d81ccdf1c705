//! `crate = path` for a re-exported or renamed flowgate.

mod platform {
    pub use flowgate as gates;
}

#[platform::gates::feature_gate("AwesomeFeature", crate = crate::platform::gates)]
fn gated() -> Option<()> {
    Some(())
}

#[platform::gates::feature_gate("AwesomeFeature", crate = crate::platform::gates)]
async fn gated_async() -> Option<()> {
    Some(())
}

fn main() {
    let _ = gated();
    let _ = gated_async();
}
