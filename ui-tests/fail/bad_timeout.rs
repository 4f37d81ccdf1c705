use flowgate::feature_gate;

#[feature_gate("AwesomeFeature", timeout = "2 sec")]
fn spaced() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = "30s1m")]
fn out_of_order() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = "200")]
fn no_unit() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = 200)]
fn not_a_duration() -> Option<()> {
    Some(())
}

fn main() {}
