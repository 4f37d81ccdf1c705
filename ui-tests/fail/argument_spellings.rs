//! Spellings people bring from other libraries or type from memory: each is one error
//! at their token that says what to write.
use flowgate::feature_gate;

#[feature_gate("AwesomeFeature", timout = "1s")]
fn misspelt() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", context(user = 1))]
fn other_library_word() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", zzz = 1)]
fn nothing_close() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", fallback = "accept")]
fn quoted_fallback() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels = (user = 1))]
fn labels_with_equals() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = 1.5)]
fn float_timeout() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = "1.5s")]
fn fractional_timeout() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = "200 ms")]
fn spaced_timeout() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", timeout = "5sec")]
fn long_unit() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", client = flags, timout = "1s")]
fn unused_argument_is_not_a_second_error(flags: &flowgate::Client) -> Option<()> {
    Some(())
}

fn main() {}

#[feature_gate("AwesomeFeature", labels("userId" => 1))]
fn labels_arrow() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(userId: 1))]
fn labels_colon() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(user-id = 1))]
fn labels_dash() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels(userId = %1))]
fn labels_tracing_sigil() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", labels("" = 1))]
fn labels_empty_name() -> Option<()> {
    Some(())
}

#[feature_gate("AwesomeFeature", on_reject = (404, "off"))]
fn on_reject_value() -> (u16, &'static str) {
    (200, "on")
}

#[feature_gate("AwesomeFeature", on_reject = std::u16::MAX)]
fn on_reject_constant() -> u16 {
    1
}

static NOT_A_CLIENT: u32 = 3;

#[feature_gate("AwesomeFeature", client = NOT_A_CLIENT)]
fn wrong_client() -> Option<()> {
    Some(())
}

const TIMEOUT_MS: u64 = 300;

#[feature_gate("AwesomeFeature", timeout = TIMEOUT_MS)]
fn timeout_of_wrong_type() -> Option<()> {
    Some(())
}
