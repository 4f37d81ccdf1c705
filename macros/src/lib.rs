//! The `#[feature_gate]` attribute. Use it through the `flowgate` crate, which
//! re-exports it as `flowgate::feature_gate` and provides everything it expands to.

#![forbid(unsafe_code)]

mod args;
mod expand;
mod flags;
mod manifest;
mod test;
mod validate;

use proc_macro::TokenStream;

/// Puts a function behind a feature flag: each call starts a flow, the body runs only
/// when the flow is accepted, and the flow always ends with a status.
///
/// ```
/// use flowgate::{feature_gate, testing::InMemorySource, Rejection};
///
/// #[derive(Debug)]
/// struct AppError(Rejection);
///
/// impl From<Rejection> for AppError {
///     fn from(rejection: Rejection) -> Self {
///         AppError(rejection)
///     }
/// }
///
/// struct User {
///     id: u64,
/// }
///
/// #[feature_gate("AwesomeFeature", timeout = "200ms", labels(userId = user.id))]
/// async fn awesome(user: &User) -> Result<String, AppError> {
///     Ok(format!("awesome things for user {}", user.id))
/// }
///
/// #[feature_gate("AwesomeFeature", on_reject = || "Flow was rejected")]
/// fn plain() -> &'static str {
///     "Flow was accepted"
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let flags = InMemorySource::new().enable("AwesomeFeature");
/// flowgate::set_global(flags.clone().into_client()).unwrap();
///
/// assert!(awesome(&User { id: 7 }).await.is_ok());
/// assert_eq!(plain(), "Flow was accepted");
///
/// flags.set("AwesomeFeature", false);
/// assert!(awesome(&User { id: 7 }).await.is_err());
/// assert_eq!(plain(), "Flow was rejected");
/// # }
/// ```
///
/// # Arguments
///
/// `#[feature_gate("Flag", key = value, ...)]`; the flag name comes first, then any of:
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `timeout = "200ms"` | longest wait for a decision; units `h`, `m`, `s`, `ms`, combined largest first (`"1m30s"`); checked at compile time. `"0s"` decides without waiting. Any `Duration` expression also works. | `"200ms"` |
/// | `labels(key = expr, "other-key" = expr)` | the call's labels, evaluated before the body; they may use the arguments. Each value is borrowed for the call: text (`&str`, `String`, ...) is not copied, numbers and `bool`s are written without `core::fmt`, and any other `Display` type is formatted (see `flowgate::labels::LabelValue`) | none |
/// | `on_reject = ...` | what a rejected call returns: a closure `\|\| value`, a closure `\|rejection\| value` (given `&flowgate::Rejection`), or a path to a function taking `&flowgate::Rejection`. It produces the function's return type and is not awaited. | see below |
/// | `fallback = accept \| reject` | what to do when no decision can be made in time | the manifest's `fallback`, else `reject` |
/// | `client = expr` | the `&flowgate::Client` to ask, e.g. `&self.flags` | `flowgate::global()` |
/// | `crate = path` | where the `flowgate` crate is, when it is renamed or re-exported | `::flowgate` |
///
/// Without `on_reject`, a rejected call returns through `flowgate::FromRejection`:
/// `Err(E::from(rejection))` for `Result<T, E>` where `E: From<flowgate::Rejection>`,
/// `None` for `Option<T>`, and `()` for `()`. Any other return type is a compile error
/// asking for `on_reject`.
///
/// # Flow status
///
/// An accepted flow ends `Ok`, unless the body returns an `Err` (of any `Result`) or
/// panics: then it ends `Error` (and the panic goes on unwinding). When the future of an
/// `async fn` is dropped before the body finishes, the flow ends *cancelled*. Early
/// `return`s and `?` end the flow like the final expression does.
///
/// # The manifest: `flowgate.toml`
///
/// Every flag named in an attribute must be declared in the crate's manifest, found in
/// the crate's directory (`CARGO_MANIFEST_DIR`) or the nearest parent directory that
/// has one (set `FLOWGATE_MANIFEST` to a path to use another file). A typo is a
/// compile error at the flag name that suggests the closest declared flag, and editing
/// the manifest rebuilds the crate.
///
/// ```toml
/// [flags.AwesomeFeature]
/// description = "The awesome feature"   # for people
/// fallback = "reject"                   # or "accept": when no decision can be made in time
/// ```
///
/// The file is checked here as the runtime checks it when it loads it (the same code, in
/// the `flowgate-config` crate): an unknown key, a rollout of 140, a bad regex, an
/// unknown operator or a duration such as `"1 sec"` is a compile error that names the
/// file, line, column, flag and key.
///
/// # Where it works
///
/// `async fn` and plain `fn`; free functions and methods (`self`, `&self`,
/// `&mut self`), in inherent and trait impls; generics, `where` clauses, `impl Trait`
/// returns, returns borrowed from arguments, `unsafe fn`; together with other attributes
/// such as `#[tracing::instrument]`, `#[tokio::test]` or axum handlers. Doc comments,
/// attributes and visibility are kept. A `const fn` cannot be gated.
///
/// `async fn`s wait for a decision without blocking the thread. Plain `fn`s block the
/// thread for at most `timeout`, and only while the decision source is not ready.
///
/// # What it expands to
///
/// Roughly, for an `async fn` (a plain `fn` calls `start_flow_blocking` and runs the
/// body in a closure instead of an `async` block):
///
/// ```text
/// async fn awesome(user: &User) -> Result<String, AppError> {
///     static SITE: CallSite = CallSite::new("AwesomeFeature", Fallback::Reject);
///     let value = &(user.id);                                   // borrowed, not copied
///     let entries = [LabelEntry::new(&USER_ID_KEY, value.into_label_value())];
///     let labels = Labels::borrowing(&entries);                 // a view: nothing built
///     let flow = start_flow(flowgate::global(), &SITE, &labels, Duration::from_millis(200)).await;
///     if let Some(rejection) = flow.rejection() {
///         let rejected = FromRejection::from_rejection(rejection);   // or on_reject
///         flow.end();
///         return rejected;
///     }
///     let output = async move { /* the original body */ }.instrument(flow.span()).await;
///     flow.set_status(if output.is_err() { FlowStatus::Error } else { FlowStatus::Ok });
///     flow.end();
///     output
/// }
/// ```
#[proc_macro_attribute]
pub fn feature_gate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::feature_gate(args.into(), item.into()).into()
}

/// Typed handles of the flags declared in the crate's `flowgate.toml`, for the manual
/// API: `flowgate::flags!();` makes a module `flags` with one unit struct per flag, so
/// that `client.is_enabled(flags::NewCheckout, &labels)` names only a declared flag (a
/// typo is a compile error, where a string would silently answer `false`). Strings still
/// work for names known only at run time.
///
/// ```
/// use flowgate::{testing::InMemorySource, Labels};
///
/// flowgate::flags!();
///
/// let client = InMemorySource::new().enable("AwesomeFeature").into_client();
/// assert!(client.is_enabled(flags::AwesomeFeature, &Labels::new()));
/// assert_eq!(flags::AwesomeFeature::NAME, "AwesomeFeature");
/// assert_eq!(flags::AwesomeFeature.to_string(), "AwesomeFeature");
/// assert!(flags::all().contains(&"AwesomeFeature"));
/// ```
///
/// Type names are the flag names in upper camel case (`delete_survey_flag` →
/// `flags::DeleteSurveyFlag`, `new.checkout` → `flags::NewCheckout`); `NAME` holds the
/// name as declared, and `all()` every declared name. `flags!(pub(crate) mod my_flags)`
/// names the module; `crate = path` points at a renamed `flowgate`. A handle remembers
/// where its flag is, as a gated function's call site does, so asking by handle skips
/// the lookup by name.
#[proc_macro]
pub fn flags(input: TokenStream) -> TokenStream {
    flags::flags(input.into()).into()
}

/// A test whose flags are overridden for it alone, whatever source the code under test
/// asks (`global()` included), while other tests run in parallel with other values.
/// Needs flowgate's `testing` feature (in `[dev-dependencies]`).
///
/// ```ignore
/// #[flowgate::test(flags(Pricing = on, "new.checkout" = off))]
/// fn prices_show() {
///     assert!(flowgate::global().is_enabled("Pricing", &flowgate::Labels::new()));
/// }
///
/// #[flowgate::test(flags(Pricing = off))]
/// #[tokio::test]
/// async fn prices_hide() { /* ... */ }
/// ```
///
/// Flags are names (an identifier or a string) set to `on` or `off` (or `true`,
/// `false`); each must be declared in the crate's `flowgate.toml` when it has one, so a
/// typo is a compile error. The attribute adds `#[test]` (and runs an async body on a
/// current-thread runtime) unless the function has a test attribute already. It is
/// `flowgate::testing::override_flags` for the test's thread: see there for what it
/// reaches.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test::test(args.into(), &item.into()).into()
}
