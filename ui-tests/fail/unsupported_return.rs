use flowgate::feature_gate;

#[feature_gate("AwesomeFeature")]
fn plain_value() -> String {
    String::new()
}

#[derive(Debug)]
struct NotFromRejected;

#[feature_gate("AwesomeFeature")]
async fn error_without_conversion() -> Result<(), NotFromRejected> {
    Ok(())
}

fn main() {}
