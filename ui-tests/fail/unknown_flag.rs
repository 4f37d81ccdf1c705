use flowgate::feature_gate;

#[feature_gate("AwsomeFeature")]
fn typo() -> Option<()> {
    Some(())
}

#[feature_gate("Checkout")]
fn undeclared() -> Option<()> {
    Some(())
}

fn main() {
    // The functions are still there despite the errors.
    let _ = typo();
    let _ = undeclared();
}
