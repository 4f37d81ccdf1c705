//! The gated service: a flow per request, started before the inner service is called.
//!
//! A request decided at once (most) calls the inner service at once; one whose flow
//! must wait (for the source, or in the concurrency queue) awaits its start first.
//!
//! **Trick.** The response future is a named state machine ([`ResponseFuture`]), not a
//! boxed `async` block; the request's labels and client reach the handler through
//! task-locals the future sets while it polls, not through the request's extensions;
//! and the request is split into its parts only when a label needs them (a path
//! parameter, a closure over `Parts`). **Benefit.** No allocation of the layer's own
//! for a request decided at once with no labels, and 565 to 687 fewer instructions a
//! request than the boxed first version (`cargo bench -p flowgate-benches --bench
//! instructions`, the `layer/*` cases). **Cost.** This file's state machine; a flow
//! that must wait still boxes its future (rare: a source not ready, a queue).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::{BoxError, GatedBody};
use super::Config;
use crate::flow::{Flow, FlowStatus};
use crate::labels::{Labels, Scoped};

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

pin_project_lite::pin_project! {
    /// The inner service's future as the handler sees it: the request's labels ambient
    /// and, with the `axum` feature, the layer's client for `Flag<F>` extractors, each
    /// set (a task-local swapped in at every poll) only when there is one.
    #[project = ScopeProjection]
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    enum Scope<F> {
        Plain { #[pin] future: F },
        Labels { #[pin] future: Scoped<F> },
        Client { #[pin] future: WithClient<F> },
        Both { #[pin] future: Scoped<WithClient<F>> },
    }
}

#[cfg(feature = "axum")]
use crate::extract::{with_client, WithClient};
/// Without axum there is no client to carry: the variants that would are never made.
#[cfg(not(feature = "axum"))]
type WithClient<F> = F;

#[inline(always)]
#[allow(clippy::inline_always)] // Measured: 2 copies of the inner future fewer.
fn scope<F: Future>(config: &Config, labels: Labels<'static>, future: F) -> Scope<F> {
    #[cfg(feature = "axum")]
    if let Some(client) = &config.client {
        let future = with_client(client.clone(), future);
        return if labels.is_empty() {
            Scope::Client { future }
        } else {
            Scope::Both {
                future: crate::labels::scoped(labels, future),
            }
        };
    }
    #[cfg(not(feature = "axum"))]
    let _ = config;
    if labels.is_empty() {
        Scope::Plain { future }
    } else {
        Scope::Labels {
            future: crate::labels::scoped(labels, future),
        }
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    // Without axum, `WithClient<F>` is `F`: the arms are the same code.
    #[cfg_attr(not(feature = "axum"), allow(clippy::match_same_arms))]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            ScopeProjection::Plain { future } => future.poll(cx),
            ScopeProjection::Labels { future } => future.poll(cx),
            ScopeProjection::Client { future } => future.poll(cx),
            ScopeProjection::Both { future } => future.poll(cx),
        }
    }
}

/// A flow that had to wait before the inner service was called: boxed, as it is rare.
type Waiting<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<GatedBody<B>>, E>> + Send + 'static>>;

pin_project_lite::pin_project! {
    /// The response future of a [`Flowgate`] service.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F, B, E> {
        /// A request the layer does not gate (`only_paths`).
        Ungated { #[pin] future: F },
        /// The inner service called with the flow accepted.
        Called {
            #[pin]
            future: Scope<F>,
            flow: Option<Flow>,
            grpc: bool,
        },
        /// Rejected at once: the response is ready.
        Rejected { response: Option<Response<GatedBody<B>>> },
        Waiting { future: Waiting<B, E> },
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<GatedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Ungated { future } => {
                let response = ready!(future.poll(cx))?;
                let (parts, body) = response.into_parts();
                Poll::Ready(Ok(Response::from_parts(parts, GatedBody::ungated(body))))
            }
            StateProjection::Called { future, flow, grpc } => {
                let called = ready!(future.poll(cx));
                let flow = flow.take().expect("polled after completion");
                Poll::Ready(served(flow, *grpc, called))
            }
            StateProjection::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            StateProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

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
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let config = &*self.config;
        if !config.gates(request.uri().path()) {
            let future = self.inner.call(request);
            return state(State::Ungated { future });
        }
        let (request, labels) = config.labels(request);
        // Most requests are decided at once, here, through the layer's call site (as a
        // gated function's flows start): the inner service made ready is called now,
        // with no clone of it. Only a flow that must wait (for the source, or in the
        // concurrency queue) takes a clone along, as tower's contract asks.
        match config.client().try_start_flow_at(config.site, &labels) {
            Ok(flow) if flow.rejection().is_some() => state(State::Rejected {
                response: Some(rejected(config, flow)),
            }),
            Ok(flow) => {
                let future = scope(config, labels, self.inner.call(request));
                state(State::Called {
                    future,
                    flow: Some(flow),
                    grpc: config.grpc,
                })
            }
            Err(evaluation) => {
                let config = Arc::clone(&self.config);
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                state(State::Waiting {
                    future: Box::pin(async move {
                        let flow = config
                            .client()
                            .start_flow_at(config.site, &labels, config.timeout, evaluation)
                            .await;
                        if flow.rejection().is_some() {
                            return Ok(rejected(&config, flow));
                        }
                        let called = scope(&config, labels, inner.call(request)).await;
                        served(flow, config.grpc, called)
                    }),
                })
            }
        }
    }
}

fn state<F, B, E>(state: State<F, B, E>) -> ResponseFuture<F, B, E> {
    ResponseFuture { state }
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

/// The inner service's response, with the flow in its body (the body ends it; see
/// `body.rs`), or its error, the flow ended as an error. A 5xx response, or a gRPC
/// status other than OK in its headers (`grpc`), ends the flow as an error.
fn served<B: Body, E>(
    mut flow: Flow,
    grpc: bool,
    called: Result<Response<B>, E>,
) -> Result<Response<GatedBody<B>>, E> {
    match called {
        Ok(response) => {
            if response.status().is_server_error()
                || (grpc && super::body::grpc_failed(response.headers()))
            {
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
