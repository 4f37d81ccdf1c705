//! The gated service: a flow per request, started before the inner service is called.
//!
//! A request decided at once (most) calls the inner service at once; one whose flow
//! must wait (for the source, or in the concurrency queue) awaits its start first. The
//! response future is boxed: a named future type for these paths would be a
//! hand-written state machine for one allocation a request, beside the several a web
//! framework makes for each.

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
use crate::flow::{Flow, FlowStatus};

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
        if !self.config.gates(request.uri().path()) {
            let called = self.inner.call(request);
            return Box::pin(async move {
                let response = called.await?;
                let (parts, body) = response.into_parts();
                Ok(Response::from_parts(parts, GatedBody::ungated(body)))
            });
        }
        let config = Arc::clone(&self.config);
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
        // Most requests are decided at once, here, through the layer's call site (as a
        // gated function's flows start): the inner service made ready is called now,
        // with no clone of it. Only a flow that must wait (for the source, or in the
        // concurrency queue) takes a clone along, as tower's contract asks.
        let started = config.client().try_start_flow_at(config.site, &labels);
        match started {
            Ok(flow) if flow.rejection().is_some() => {
                let response = rejected(&config, flow);
                Box::pin(std::future::ready(Ok(response)))
            }
            Ok(flow) => {
                let called = self.inner.call(request);
                Box::pin(respond(config, flow, labels, called))
            }
            Err(evaluation) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move {
                    let flow = config
                        .client()
                        .start_flow_at(config.site, &labels, config.timeout, evaluation)
                        .await;
                    if flow.rejection().is_some() {
                        return Ok(rejected(&config, flow));
                    }
                    let called = inner.call(request);
                    respond(config, flow, labels, called).await
                })
            }
        }
    }
}

/// A rejected flow's response, the flow ended.
fn rejected<B>(config: &Config, flow: Flow) -> Response<GatedBody<B>> {
    let rejection = flow.rejection().cloned();
    flow.end();
    match rejection {
        Some(rejection) => config.reject(&rejection),
        None => unreachable!("called for rejected flows only"),
    }
}

/// The inner service's response, with the flow in its body: the request's labels are
/// ambient while the inner service works (every gate and `is_enabled` in the handler
/// decides on them too; its own labels win). Dropped before it ends (the client went
/// away), the flow ends cancelled.
async fn respond<B, E>(
    config: Arc<Config>,
    mut flow: Flow,
    labels: crate::labels::Labels<'static>,
    called: impl Future<Output = Result<Response<B>, E>>,
) -> Result<Response<GatedBody<B>>, E>
where
    B: Body,
{
    let called = if labels.is_empty() {
        called.await
    } else {
        crate::labels::scope(labels, called).await
    };
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
}
