// `#[flowgate::test]`: a typo in a flag, a value that is not on/off, an unknown
// argument: one error each, at the user's tokens.

#[flowgate::test(flags(AwsomeFeature = on))]
fn typo() {}

#[flowgate::test(flags(AwesomeFeature = yes))]
fn bad_value() {}

#[flowgate::test(flag(AwesomeFeature = on))]
fn bad_key() {}

fn main() {}
