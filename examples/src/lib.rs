//! Runnable examples of flowgate. The programs are `examples/*.rs`; the surveys app
//! lives here so that the tests can drive it over HTTP.

pub mod surveys;
