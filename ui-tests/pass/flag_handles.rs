#![deny(warnings, clippy::pedantic, clippy::nursery)]
//! Handles of every declared flag, their names in upper camel case.
use flowgate::{testing::InMemorySource, Labels};

flowgate::flags!();

fn main() {
    let client = InMemorySource::new().enable("delete_survey_flag").into_client();
    assert!(client.is_enabled(flags::DeleteSurveyFlag, &Labels::new()));
    assert!(!client.is_enabled(flags::AwesomeFeature, &Labels::new()));
    assert_eq!(flags::DeleteSurveyFlag::NAME, "delete_survey_flag");
}
