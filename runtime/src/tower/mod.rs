//! A tower [`Layer`](tower_layer::Layer) that gates whole services by flag: axum routes
//! and routers, tonic services, any `Service<http::Request<_>>`.
//!
//! It runs before the inner service, and so before axum's extractors: with the flag
//! off, `/orders/abc` and `/orders/5` answer the same 404, and a hidden route cannot be
//! told from one that does not exist. Split by concern: the layer and its options
//! here, the service and its flow per request in `service.rs`, the response body that
//! holds the flow while it streams in `body.rs`.

#[cfg(feature = "axum")]
mod axum_labels;
mod body;
#[cfg(feature = "tonic")]
mod grpc;
mod service;
mod sites;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt as _;

pub use body::{BoxError, GatedBody};
pub use service::{Flowgate, ResponseFuture};

use crate::client::{AsFlag, Client};
use crate::labels::Labels;
use crate::reject::Rejection;

type LabelsFn = dyn Fn(&Parts) -> Labels<'static> + Send + Sync;
type RejectBody = UnsyncBoxBody<Bytes, BoxError>;
type RejectFn = dyn Fn(&Rejection) -> Response<RejectBody> + Send + Sync;

/// Gates every request to the services it wraps by one flag, with the flag's rate and
/// concurrency limits, before they run.
///
/// A flow starts per request, with labels taken from the request, which are then
/// ambient in the inner service (see [`labels::scope`](crate::labels::scope)): a gate
/// or `is_enabled` deep in the handler decides on them too. When the flow is rejected
/// the inner service is not called and the request gets the rejection's response: a
/// plain empty 404 when the flag is off (the router's own 404 looks the same), 429 with
/// `Retry-After` when rate-limited, 503 (with `Retry-After` when known) when the
/// concurrency limit and its queue are full or the source is not ready. The flow ends
/// when the response's body ends (`Ok`; `Error` for a 5xx or an error), or cancelled
/// when the request is dropped (the client went away), so a streamed response holds
/// its concurrency slot until its last byte.
///
/// ```
/// use axum::{routing::get, Router};
/// use flowgate::{testing::InMemorySource, tower::FlowgateLayer};
///
/// let client = InMemorySource::new().enable("Orders").into_client();
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "an order" }))
///     // Only the routes above; a 404 before the path is parsed when `Orders` is off.
///     .route_layer(
///         FlowgateLayer::new("Orders")
///             .client(client)
///             .label_from_header("userId", "x-user-id"),
///     );
/// ```
///
/// It also goes on a `MethodRouter` (`get(handler).layer(...)`), a whole router
/// (`Router::layer`, which also gates its fallback), or a nested router; on tonic, on a
/// service (`tower::ServiceBuilder::new().layer(...).service(svc)`). Without
/// [`client`](Self::client) it decides with [`global()`](crate::global) at each request.
#[derive(Clone)]
pub struct FlowgateLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    flag: &'static str,
    /// Where the layer's flows start, as a gated function's do.
    site: &'static crate::client::CallSite,
    client: Option<Client>,
    timeout: Duration,
    headers: Vec<(&'static str, http::HeaderName)>,
    queries: Vec<(&'static str, String)>,
    /// Path parameters (axum's, once routed): label and parameter names.
    #[cfg(feature = "axum")]
    paths: Vec<(&'static str, String)>,
    /// Whether the peer's address is the `remoteAddress` label (axum's `ConnectInfo`).
    #[cfg(feature = "axum")]
    remote_address: bool,
    labels: Option<Arc<LabelsFn>>,
    reject: Option<Arc<RejectFn>>,
    /// Rejections answered as gRPC statuses (`grpc()`).
    grpc: bool,
    /// Only requests to these paths are gated (`only_paths`); empty: all.
    only: Vec<Box<str>>,
}

impl FlowgateLayer {
    /// A layer gating by `flag` (a name, or a typed handle of [`flags!`](crate::flags)),
    /// deciding with `global()`, waiting up to 200 ms for a decision (as the attribute
    /// does).
    ///
    /// A typed handle brings the fallback `flowgate.toml` declares for its flag, as the
    /// attribute does; a name takes the client's for the flag.
    pub fn new(flag: impl AsFlag) -> Self {
        let (flag, site) = if let Some(site) = flag.__call_site() {
            (site.flag, site)
        } else {
            let flag = sites::name(flag.flag_name());
            (flag, sites::site(flag, None))
        };
        Self {
            config: Arc::new(Config {
                flag,
                site,
                client: None,
                timeout: Duration::from_millis(200),
                headers: Vec::new(),
                queries: Vec::new(),
                #[cfg(feature = "axum")]
                paths: Vec::new(),
                #[cfg(feature = "axum")]
                remote_address: false,
                labels: None,
                reject: None,
                grpc: false,
                only: Vec::new(),
            }),
        }
    }

    fn change(mut self, change: impl FnOnce(&mut Config)) -> Self {
        // A layer being built is not shared yet; a clone of one is copied once here.
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// The client that decides (default: [`global()`](crate::global) at each request).
    #[must_use]
    pub fn client(self, client: Client) -> Self {
        self.change(|c| c.client = Some(client))
    }

    /// What a request gets when no decision can be made in time (no source, not ready,
    /// unknown flag): by default the client's fallback for the flag (its rules file's
    /// `fallback`, else reject), as a call by name gets.
    #[must_use]
    pub fn fallback(self, fallback: crate::reject::Fallback) -> Self {
        let site = sites::site(self.config.flag, Some(fallback));
        self.change(|c| c.site = site)
    }

    /// Gates only the requests to these paths (exact matches), and passes the others
    /// through as they are: for gRPC, the methods of a service to gate
    /// (`/grpc.health.v1.Health/Check`); for HTTP, prefer `route_layer` on the routes.
    #[must_use]
    pub fn only_paths<P: Into<Box<str>>>(self, paths: impl IntoIterator<Item = P>) -> Self {
        let paths: Vec<Box<str>> = paths.into_iter().map(Into::into).collect();
        self.change(|c| c.only = paths)
    }

    /// The longest a request waits for a decision: for the source's first state, and
    /// in the flag's concurrency queue (default 200 ms).
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.change(|c| c.timeout = timeout)
    }

    /// The label `label` from the request's `header`, when the request has it (a
    /// header that is not text is left out).
    ///
    /// # Panics
    /// When `header` is not a valid header name: a mistake in the code, seen at start.
    #[must_use]
    pub fn label_from_header(self, label: &str, header: &str) -> Self {
        let name = http::HeaderName::from_bytes(header.as_bytes())
            .unwrap_or_else(|_| panic!("`{header}` is not a valid header name"));
        let label = sites::name(label);
        self.change(|c| c.headers.push((label, name)))
    }

    /// The label `label` from the query parameter `param` (percent-decoded; the first
    /// one when it is repeated), when the request has it.
    #[must_use]
    pub fn label_from_query(self, label: &str, param: &str) -> Self {
        let pair = (sites::name(label), param.to_owned());
        self.change(|c| c.queries.push(pair))
    }

    /// The label `label` from the path parameter `param` of the route (`{id}` of
    /// `/orders/{id}`), decoded, with the `axum` feature. Path parameters exist once
    /// axum has routed the request, so inside a router: `route_layer`, `Router::layer`
    /// (axum puts it around each route) or a `MethodRouter`'s `layer`; not a layer
    /// around the router from outside (`ServiceBuilder` over the whole app), which
    /// runs before routing.
    #[cfg(feature = "axum")]
    #[must_use]
    pub fn label_from_path(self, label: &str, param: &str) -> Self {
        let pair = (sites::name(label), param.to_owned());
        self.change(|c| c.paths.push(pair))
    }

    /// The peer's IP address as the `remoteAddress` label (what Unleash's
    /// `remoteAddress` strategy matches), with the `axum` feature, from axum's
    /// `ConnectInfo<SocketAddr>`: serve with `into_make_service_with_connect_info`.
    #[cfg(feature = "axum")]
    #[must_use]
    pub fn remote_address(self) -> Self {
        self.change(|c| c.remote_address = true)
    }

    /// Labels computed from the request's parts (method, URI, headers, extensions such
    /// as a user set by auth middleware, or axum's `ConnectInfo` for `remoteAddress`);
    /// they win over the headers' and query's labels of the same name.
    ///
    /// ```
    /// use flowgate::{tower::FlowgateLayer, Labels};
    ///
    /// /// What an auth middleware put on the request.
    /// #[derive(Clone)]
    /// struct User { id: u64 }
    ///
    /// let layer = FlowgateLayer::new("Orders").labels(|parts| {
    ///     let mut labels = Labels::new();
    ///     if let Some(user) = parts.extensions.get::<User>() {
    ///         labels.insert("userId", user.id);
    ///     }
    ///     labels
    /// });
    /// ```
    #[must_use]
    pub fn labels(
        self,
        labels: impl Fn(&Parts) -> Labels<'static> + Send + Sync + 'static,
    ) -> Self {
        self.change(|c| c.labels = Some(Arc::new(labels)))
    }

    /// The response a rejected request gets, in place of the default (see the type's
    /// documentation): any `http::Response` whose body gives `Bytes`, so an axum
    /// `IntoResponse` value's `.into_response()` too.
    #[must_use]
    pub fn on_reject<B>(
        self,
        respond: impl Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
    ) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let respond = move |rejection: &Rejection| {
            respond(rejection).map(|body| body.map_err(Into::into).boxed_unsync())
        };
        self.change(|c| c.reject = Some(Arc::new(respond)))
    }
}

#[cfg(feature = "tonic")]
impl FlowgateLayer {
    /// For a tonic server (or any gRPC service): a rejection answers as a gRPC status
    /// (`NOT_FOUND`; `RESOURCE_EXHAUSTED` or `UNAVAILABLE` with `google.rpc.RetryInfo`
    /// when a retry time is known; see `From<Rejection> for tonic::Status`), and a
    /// call that ends with a `grpc-status` other than `OK` ends its flow as an error.
    ///
    /// ```
    /// use flowgate::{testing::InMemorySource, tower::FlowgateLayer};
    ///
    /// let client = InMemorySource::new().enable("Health").into_client();
    /// let layer = FlowgateLayer::new("Health").client(client).grpc();
    /// // tonic::transport::Server::builder().layer(layer).add_service(...)
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn grpc(self) -> Self {
        self.change(|c| c.grpc = true)
    }
}

impl Config {
    /// Whether a request to `path` is gated (see `only_paths`).
    fn gates(&self, path: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| &**p == path)
    }

    /// The client that decides: the layer's, else `global()`.
    fn client(&self) -> &Client {
        self.client.as_ref().unwrap_or_else(|| crate::global())
    }

    /// The request's labels, as the layer's options take them: the peer's address,
    /// path parameters, headers, query parameters, then the closure (a later one
    /// replacing an earlier one of the same name). The request is split into its parts
    /// only for the last two: the others read it where it is.
    #[inline]
    fn labels<B>(&self, request: Request<B>) -> (Request<B>, Labels<'static>) {
        if self.needs_parts() {
            return self.labels_of_parts(request);
        }
        let mut labels = Labels::new();
        #[cfg(feature = "axum")]
        axum_labels::add_remote_address(self, request.extensions(), &mut labels);
        self.add_from_request(request.headers(), request.uri(), &mut labels);
        (request, labels)
    }

    #[cold]
    fn labels_of_parts<B>(&self, request: Request<B>) -> (Request<B>, Labels<'static>) {
        let mut labels = Labels::new();
        #[cfg_attr(not(feature = "axum"), allow(unused_mut))]
        let (mut parts, body) = request.into_parts();
        #[cfg(feature = "axum")]
        axum_labels::add_remote_address(self, &parts.extensions, &mut labels);
        #[cfg(feature = "axum")]
        axum_labels::add_paths(self, &mut parts, &mut labels);
        self.add_from_request(&parts.headers, &parts.uri, &mut labels);
        if let Some(computed) = &self.labels {
            for (key, value) in &computed(&parts) {
                labels.insert(key.to_owned(), value.to_owned());
            }
        }
        (Request::from_parts(parts, body), labels)
    }

    /// Whether a label is taken from the request's `Parts` (a path parameter, the
    /// closure).
    fn needs_parts(&self) -> bool {
        #[cfg(feature = "axum")]
        if !self.paths.is_empty() {
            return true;
        }
        self.labels.is_some()
    }

    /// The labels of headers and query parameters.
    fn add_from_request(
        &self,
        headers: &http::HeaderMap,
        uri: &http::Uri,
        labels: &mut Labels<'static>,
    ) {
        for (label, header) in &self.headers {
            if let Some(value) = headers.get(header).and_then(|v| v.to_str().ok()) {
                labels.insert(*label, value.to_owned());
            }
        }
        if let (false, Some(query)) = (self.queries.is_empty(), uri.query()) {
            for (label, param) in &self.queries {
                let value = form_urlencoded::parse(query.as_bytes())
                    .find_map(|(name, value)| (name == param.as_str()).then_some(value));
                if let Some(value) = value {
                    labels.insert(*label, value.into_owned());
                }
            }
        }
    }

    fn reject<B>(&self, rejection: &Rejection) -> Response<GatedBody<B>> {
        let response = match &self.reject {
            Some(respond) => respond(rejection),
            #[cfg(feature = "tonic")]
            None if self.grpc => tonic::Status::from(rejection.clone())
                .into_http::<http_body_util::Empty<Bytes>>()
                .map(|body| body.map_err(|never| match never {}).boxed_unsync()),
            None => default_response(rejection),
        };
        response.map(GatedBody::rejected)
    }
}

/// A rejection's default response (see [`FlowgateLayer`]).
fn default_response(rejection: &Rejection) -> Response<RejectBody> {
    let (status, headers, body) = crate::respond::parts(rejection);
    let body = http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    response
}

impl<S> tower_layer::Layer<S> for FlowgateLayer {
    type Service = Flowgate<S>;

    fn layer(&self, inner: S) -> Flowgate<S> {
        Flowgate::new(inner, Arc::clone(&self.config))
    }
}

impl std::fmt::Debug for FlowgateLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowgateLayer")
            .field("flag", &self.config.flag)
            .field("timeout", &self.config.timeout)
            .field("client", &self.config.client.is_some())
            .finish_non_exhaustive()
    }
}
