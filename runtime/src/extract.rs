//! An axum extractor for handlers that branch on a flag instead of being gated by it:
//! `Flag<flags::Beta>` in a handler's arguments holds the flag's answer and variant for
//! this request.
//!
//! It decides with the client a `FlowgateLayer` (feature `tower`) set on
//! the route (or an `axum::Extension<flowgate::Client>`), else `global()`, on the
//! request's ambient labels: those the layer took from the request, or of any
//! [`labels::scope`](crate::labels::scope). It starts no flow and never waits, as
//! [`Client::variant`] does not.

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::client::{AsFlag, Client};
use crate::labels::Labels;
use crate::variant::Variant;

/// A flag's answer for this request, as a handler argument: `F` is a typed flag handle
/// of [`flags!`](crate::flags), so the flag is checked against `flowgate.toml` at
/// compile time.
///
/// ```
/// use axum::{routing::get, Router};
/// use flowgate::extract::Flag;
///
/// flowgate::flags!();
///
/// async fn home(beta: Flag<flags::AwesomeFeature>) -> &'static str {
///     if beta.is_enabled() { "the new home" } else { "the home" }
/// }
///
/// let app: Router = Router::new().route("/", get(home));
/// ```
pub struct Flag<F> {
    variant: Variant,
    flag: PhantomData<fn() -> F>,
}

impl<F> Flag<F> {
    /// Whether the flag is on for this request.
    pub fn is_enabled(&self) -> bool {
        self.variant.feature_enabled()
    }

    /// The flag's variant for this request (a `disabled` one when it has none).
    pub fn variant(&self) -> &Variant {
        &self.variant
    }

    /// The variant, owned.
    pub fn into_variant(self) -> Variant {
        self.variant
    }
}

impl<F: AsFlag + Default> fmt::Debug for Flag<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flag")
            .field("flag", &F::default().flag_name())
            .field("variant", &self.variant)
            .finish()
    }
}

#[cfg(feature = "tower")]
tokio::task_local! {
    /// The client of the innermost `FlowgateLayer` that has one, in the request's task.
    static LAYER_CLIENT: Option<Client>;
}

/// A future run with a layer's client for the extractors inside it: what
/// [`with_client`] returns, a type the layer's response future can name.
#[cfg(feature = "tower")]
pub(crate) type WithClient<F> = tokio::task::futures::TaskLocalFuture<Option<Client>, F>;

/// Runs `future` with `client` for the extractors in it.
///
/// A task-local rather than a request extension: an extension costs an allocation and
/// a map insertion per request, measured at about 300 instructions of the layer's
/// 2 500 (`cargo bench -p flowgate-benches --bench instructions`, `layer/*`); this is a
/// swap of one word at each poll.
#[cfg(feature = "tower")]
pub(crate) fn with_client<F: std::future::Future>(client: Client, future: F) -> WithClient<F> {
    LAYER_CLIENT.scope(Some(client), future)
}

/// The client of the layer around the calling task, if any.
fn layer_client() -> Option<Client> {
    #[cfg(feature = "tower")]
    return LAYER_CLIENT.try_with(Clone::clone).ok().flatten();
    #[cfg(not(feature = "tower"))]
    None
}

impl<S, F> FromRequestParts<S> for Flag<F>
where
    S: Send + Sync,
    F: AsFlag + Default + Send,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let layer = layer_client();
        let client = layer
            .as_ref()
            .or_else(|| parts.extensions.get::<Client>())
            .unwrap_or_else(|| crate::global());
        Ok(Self {
            variant: client.variant(F::default(), &Labels::new()),
            flag: PhantomData,
        })
    }
}
