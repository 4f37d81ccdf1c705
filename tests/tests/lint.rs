//! Gated functions of every shape compile cleanly under the strictest lints: the
//! expansion must add no warning, rustc's or clippy's (CI runs clippy on this file with
//! `-D warnings`).

#![deny(warnings, clippy::pedantic)]

use std::fmt::Display;

use flowgate::testing::InMemorySource;
use flowgate::{feature_gate, Client, Rejection};

#[derive(Debug, PartialEq, Eq)]
pub struct AppError;

impl From<Rejection> for AppError {
    fn from(_: Rejection) -> Self {
        AppError
    }
}

/// Unit return, no arguments besides the client.
#[feature_gate("Checkout", client = flags)]
pub fn unit(flags: &Client) {}

/// A `Result` with `?` and an early return.
///
/// # Errors
/// When the flag is off or the input is not a number.
#[feature_gate("Checkout", client = flags, timeout = "1s", labels(input = input))]
pub fn parse(flags: &Client, input: &str) -> Result<u32, AppError> {
    let value: u32 = input.parse().map_err(|_| AppError)?;
    if value == 0 {
        return Ok(1);
    }
    Ok(value)
}

/// Async, with a rejection handler taking the rejection.
#[feature_gate("Checkout", client = flags, on_reject = |rejection| rejection.reason().as_str())]
pub async fn reason(flags: &Client) -> &'static str {
    "accepted"
}

fn reject_with_zero(_: &Rejection) -> u8 {
    0
}

/// A path handler, a `fallback`, and an `impl Trait` return.
#[must_use]
#[feature_gate("OpenByDefault", client = flags, fallback = reject, on_reject = reject_with_zero)]
pub fn small(flags: &Client) -> u8 {
    1
}

#[feature_gate("Checkout", client = flags, on_reject = || String::from("off"))]
pub fn shown(flags: &Client, value: impl Display) -> impl Display {
    value.to_string()
}

/// Borrowed return.
#[feature_gate("Checkout", client = flags)]
pub fn first<'a>(flags: &Client, values: &'a mut [u8]) -> Option<&'a mut u8> {
    values.first_mut()
}

#[derive(Debug)]
pub struct Service {
    flags: Client,
    hits: u32,
}

impl Service {
    #[feature_gate("Checkout", client = &self.flags)]
    pub fn hit(&mut self) -> Option<u32> {
        self.hits += 1;
        Some(self.hits)
    }

    #[feature_gate("Checkout", client = &self.flags)]
    pub async fn hits(&self) -> Option<u32> {
        Some(self.hits)
    }
}

#[tokio::test]
async fn strict_lints_hold_and_the_gates_work() {
    let client = InMemorySource::new().enable("Checkout").into_client();
    unit(&client);
    assert_eq!(parse(&client, "0"), Ok(1));
    assert_eq!(parse(&client, "x"), Err(AppError));
    assert_eq!(reason(&client).await, "accepted");
    assert_eq!(small(&client), 0, "OpenByDefault is unknown to the source");
    assert_eq!(shown(&client, 5).to_string(), "5");
    let mut values = [1, 2];
    assert_eq!(first(&client, &mut values).copied(), Some(1));
    let mut service = Service {
        flags: client.clone(),
        hits: 0,
    };
    assert_eq!(service.hit(), Some(1));
    assert_eq!(service.hits().await, Some(1));
    let counts = client.metrics().flag("Checkout");
    assert_eq!((counts.ok, counts.error, counts.in_flight), (7, 1, 0));
}
