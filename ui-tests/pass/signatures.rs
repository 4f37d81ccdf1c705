//! Generics, `where` clauses, `impl Trait`, borrowed returns, `unsafe fn`, patterns in
//! arguments, and `?` inside the body.

use std::fmt::Display;

use flowgate::{feature_gate, Rejection};

#[feature_gate("AwesomeFeature")]
pub fn generic<T: Clone, U>(value: &T, other: U) -> Option<(T, U)>
where
    U: Display,
{
    Some((value.clone(), other))
}

#[feature_gate("AwesomeFeature", on_reject = || String::from("off"))]
pub fn returns_impl_trait(name: &str) -> impl Display {
    format!("on for {name}")
}

#[feature_gate("AwesomeFeature")]
pub fn returns_option_of_impl_trait() -> Option<impl Display> {
    Some(7)
}

#[feature_gate("AwesomeFeature")]
pub async fn async_impl_trait_arg(shown: impl Display + Send) -> Option<String> {
    Some(shown.to_string())
}

#[feature_gate("AwesomeFeature", on_reject = move || &mut values[0])]
pub fn borrowed_mut(values: &mut Vec<u8>) -> &mut u8 {
    values.push(1);
    values.last_mut().unwrap()
}

#[feature_gate("AwesomeFeature")]
pub fn borrowed_option<'a>(values: &'a mut [u8], index: usize) -> Option<&'a mut u8> {
    values.get_mut(index)
}

#[feature_gate("AwesomeFeature", on_reject = |_| "")]
pub fn borrowed_str(text: &str) -> &str {
    text.trim()
}

/// # Safety
/// `pointer` must be valid for reads.
#[feature_gate("AwesomeFeature")]
pub unsafe fn unsafe_read(pointer: *const u8) -> Option<u8> {
    Some(*pointer)
}

#[feature_gate("AwesomeFeature")]
pub fn patterns((a, b): (u32, u32), [c, ..]: [u32; 2]) -> Option<u32> {
    Some(a + b + c)
}

#[derive(Debug)]
pub enum Error {
    Parse(std::num::ParseIntError),
    Gate(Rejection),
}

impl From<Rejection> for Error {
    fn from(rejected: Rejection) -> Self {
        Error::Gate(rejected)
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(error: std::num::ParseIntError) -> Self {
        Error::Parse(error)
    }
}

#[feature_gate("AwesomeFeature")]
pub fn question_mark(text: &str) -> Result<u32, Error> {
    let number: u32 = text.parse()?;
    if number == 0 {
        return Ok(1);
    }
    Ok(number * 2)
}

#[feature_gate("AwesomeFeature")]
pub async fn question_mark_async(text: &str) -> Result<u32, Error> {
    let number: u32 = text.parse()?;
    Ok(number)
}

/// A `Result` behind an alias is still seen as a `Result` for the flow's status.
pub type AppResult<T> = Result<T, Error>;

#[feature_gate("AwesomeFeature", timeout = std::time::Duration::from_millis(5))]
pub fn aliased_result() -> AppResult<()> {
    Ok(())
}

#[feature_gate("AwesomeFeature", timeout = "1m30s", fallback = accept)]
pub fn unit_return() {}

#[feature_gate(
    "delete_survey_flag",
    labels(userId = user_id, "x-region" = region.to_uppercase(), r#type = "admin"),
)]
pub fn labelled(user_id: u64, region: &str) -> Option<u64> {
    Some(user_id)
}

fn main() {
    let _ = generic(&1, "x");
    let _ = returns_impl_trait("me").to_string();
    let _ = returns_option_of_impl_trait();
    let _ = async_impl_trait_arg(1);
    let mut values = vec![0];
    *borrowed_mut(&mut values) += 1;
    let _ = borrowed_option(&mut values, 0);
    let _ = borrowed_str(" x ");
    let _ = unsafe { unsafe_read(&0) };
    let _ = patterns((1, 2), [3, 4]);
    let _ = question_mark("1");
    let _ = question_mark_async("1");
    let _ = aliased_result();
    unit_return();
    let _ = labelled(1, "eu");
}
