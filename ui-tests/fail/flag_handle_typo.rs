//! A typed handle of a flag the manifest does not declare does not exist: the typo is
//! a compile error, where `client.is_enabled("AwsomeFeature", ..)` would answer false.
use flowgate::{testing::InMemorySource, Labels};

flowgate::flags!();

fn main() {
    let client = InMemorySource::new().into_client();
    let _ = client.is_enabled(flags::AwsomeFeature, &Labels::new());
    let _ = client.is_enabled(flags::DeleteSurveyFlag, &Labels::new());
}
