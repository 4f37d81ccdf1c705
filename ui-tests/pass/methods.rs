//! Methods: `self`, `&self`, `&mut self`, async, in inherent and trait impls.

use flowgate::{feature_gate, Client, Rejection};

pub struct Service {
    flags: Client,
    count: u32,
}

#[derive(Debug)]
pub struct Error;

impl From<Rejection> for Error {
    fn from(_: Rejection) -> Self {
        Error
    }
}

impl Service {
    #[feature_gate("AwesomeFeature", client = &self.flags)]
    pub fn by_ref(&self) -> Option<u32> {
        Some(self.count)
    }

    #[feature_gate("AwesomeFeature", client = &self.flags, on_reject = |_| 0)]
    pub fn by_mut(&mut self) -> u32 {
        self.count += 1;
        self.count
    }

    #[feature_gate("AwesomeFeature", client = self.flags.clone(), on_reject = |_| None)]
    pub fn by_value(self) -> Option<Self> {
        Some(self)
    }

    #[feature_gate("AwesomeFeature", client = &self.flags)]
    pub async fn by_ref_async(&self) -> Result<u32, Error> {
        Ok(self.count)
    }

    #[feature_gate("AwesomeFeature", client = &self.flags)]
    pub async fn by_mut_async(&mut self, by: u32) -> Result<u32, Error> {
        self.count += by;
        Ok(self.count)
    }

    /// Associated functions with no receiver work too.
    #[feature_gate("AwesomeFeature")]
    pub fn associated() -> Option<&'static str> {
        Some("associated")
    }
}

pub trait Greeter {
    fn greet(&self, name: &str) -> Option<String>;
    fn greet_async(&self) -> impl std::future::Future<Output = Option<String>> + Send;

    /// A default body can be gated.
    #[feature_gate("AwesomeFeature")]
    fn default_greeting(&self) -> Option<&'static str> {
        Some("hello")
    }
}

impl Greeter for Service {
    #[feature_gate("AwesomeFeature", client = &self.flags, labels(name = name))]
    fn greet(&self, name: &str) -> Option<String> {
        Some(format!("hello {name}"))
    }

    #[feature_gate("AwesomeFeature", client = &self.flags)]
    async fn greet_async(&self) -> Option<String> {
        Some("hello".to_owned())
    }
}

fn main() {
    let mut service = Service {
        flags: Client::new(flowgate::source::EmptySource),
        count: 0,
    };
    let _ = service.by_ref();
    let _ = service.by_mut();
    let _ = service.by_ref_async();
    let _ = service.by_mut_async(1);
    let _ = service.greet("you");
    let _ = service.greet_async();
    let _ = service.default_greeting();
    let _ = Service::associated();
    let _ = service.by_value();
}
