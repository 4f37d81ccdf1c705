//! One mistake in the manifest is one error: at the gates of the flag it is in (here
//! `Checkout`), or at the first gate when no gate names that flag. The other gates
//! compile as written, with no second copy of the error.
use flowgate::feature_gate;

#[feature_gate("AwesomeFeature")]
fn gated() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature")]
fn gated_again() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(user = 1))]
async fn gated_async() -> Option<()> {
    Some(())
}

#[feature_gate("Checkout")]
fn the_flag_with_the_mistake() -> Option<()> {
    Some(())
}

fn main() {
    let _ = gated();
    let _ = gated_again();
    let _ = gated_async();
    let _ = the_flag_with_the_mistake();
}
