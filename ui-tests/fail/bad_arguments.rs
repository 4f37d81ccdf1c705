use flowgate::feature_gate;

#[feature_gate("AwesomeFeature", timeout = "1s", timeout = "2s")]
fn duplicate() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", tiemout = "1s")]
fn unknown() -> Option<()> {
    Some(())
}

#[feature_gate(AwesomeFeature)]
fn unquoted() -> Option<()> {
    Some(())
}

#[feature_gate]
fn no_flag() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", fallback = maybe)]
fn bad_fallback() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(user = 1, user = 2))]
fn duplicate_label() -> Option<()> {
    Some(())
}

fn main() {}

#[feature_gate("AwesomeFeature", labels(userId = 1, user_id = 2))]
fn same_unleash_field() -> Option<()> {
    Some(())
}
