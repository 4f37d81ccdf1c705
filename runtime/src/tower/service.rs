//! The gated service: a flow per request, started before the inner service is called.
//!
//! The response future is boxed: it awaits the flow's start (which may wait for the
//! source or a concurrency slot, up to the timeout) and then the inner service, and a
//! named future type for both would be a hand-written state machine for one allocation
//! a request, beside the several a web framework makes for each.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::{BoxError, GatedBody};
use super::Config;
use crate::flow::FlowStatus;

/// A service gated by a flag: see [`FlowgateLayer`](super::FlowgateLayer).
#[derive(Clone)]
pub struct Flowgate<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Flowgate<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Flowgate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flowgate")
            .field("flag", &self.config.flag)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The response future of a [`Flowgate`] service.
pub type ResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<GatedBody<B>>, E>> + Send + 'static>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for Flowgate<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<GatedBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // The service that was made ready is the one called (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let labels = config.labels(&mut parts);
            #[cfg_attr(not(feature = "axum"), allow(unused_mut))]
            let mut request = Request::from_parts(parts, body);
            // For the handler's `Flag<F>` extractors: the layer's client.
            #[cfg(feature = "axum")]
            if let Some(client) = &config.client {
                request
                    .extensions_mut()
                    .insert(crate::extract::RequestClient(client.clone()));
            }
            let client = config.client.as_ref().unwrap_or_else(|| crate::global());
            // Through the layer's call site, as a gated function starts its flows.
            let mut flow = match client.try_start_flow_at(config.site, &labels) {
                Ok(flow) => flow,
                Err(evaluation) => {
                    client
                        .start_flow_at(config.site, &labels, config.timeout, evaluation)
                        .await
                }
            };
            if let Some(rejection) = flow.rejection().cloned() {
                flow.end();
                return Ok(config.reject(&rejection));
            }
            // The request's labels are ambient in the inner service: every gate and
            // `is_enabled` in the handler decides on them too (its own labels win).
            let called = inner.call(request);
            let called = if labels.is_empty() {
                called.await
            } else {
                crate::labels::scope(labels, called).await
            };
            // Dropped before here (the client went away): the flow ends cancelled.
            match called {
                Ok(response) => {
                    if response.status().is_server_error() || config.failed(response.headers()) {
                        flow.set_status(FlowStatus::Error);
                    }
                    let (parts, body) = response.into_parts();
                    Ok(Response::from_parts(parts, GatedBody::served(body, flow)))
                }
                Err(error) => {
                    flow.set_status(FlowStatus::Error);
                    flow.end();
                    Err(error)
                }
            }
        })
    }
}
