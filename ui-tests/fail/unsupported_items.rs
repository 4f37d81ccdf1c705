use flowgate::feature_gate;

#[feature_gate("AwesomeFeature")]
const fn constant() -> Option<()> {
    Some(())
}

trait Service {
    #[feature_gate("AwesomeFeature")]
    fn required(&self) -> Option<()>;
}

#[feature_gate("AwesomeFeature")]
struct NotAFunction;

fn main() {}
