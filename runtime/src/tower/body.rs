//! The body of a gated response: it holds the request's flow until the body ends, so a
//! streamed response keeps its concurrency slot while it streams, and a client that
//! goes away mid-stream ends the flow cancelled.
//!
//! A flow ends `Ok` at the body's last frame (checked after every frame: hyper stops
//! polling a body that says it has ended), `Error` on a body error or when the status
//! was 5xx, cancelled when the body is dropped before its end.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use crate::flow::{Flow, FlowStatus};

/// The error of a gated body: the inner body's, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project_lite::pin_project! {
    /// The body of a response from a gated service: the inner service's body with the
    /// request's flow, or a rejection's body.
    pub struct GatedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projection]
    enum Kind<B> {
        Served {
            #[pin]
            inner: B,
            flow: Option<Flow>,
        },
        Rejected {
            #[pin]
            body: UnsyncBoxBody<Bytes, BoxError>,
        },
    }
}

impl<B: Body> GatedBody<B> {
    /// `inner`, ending `flow` when it ends; a body that has already ended ends it now.
    pub(crate) fn served(inner: B, flow: Flow) -> Self {
        let flow = if inner.is_end_stream() {
            flow.end();
            None
        } else {
            Some(flow)
        };
        Self {
            kind: Kind::Served { inner, flow },
        }
    }
}

impl<B> GatedBody<B> {
    /// The body of a request the layer does not gate: no flow.
    pub(crate) fn ungated(inner: B) -> Self {
        Self {
            kind: Kind::Served { inner, flow: None },
        }
    }

    /// A rejection's body.
    pub(crate) fn rejected(body: UnsyncBoxBody<Bytes, BoxError>) -> Self {
        Self {
            kind: Kind::Rejected { body },
        }
    }
}

impl<B> std::fmt::Debug for GatedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Served { flow, .. } => f
                .debug_struct("Served")
                .field("flow", flow)
                .finish_non_exhaustive(),
            Kind::Rejected { .. } => f.write_str("Rejected"),
        }
    }
}

impl<B> Body for GatedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            Projection::Rejected { body } => body.poll_frame(cx),
            Projection::Served { mut inner, flow } => {
                let polled = inner.as_mut().poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => end(flow, None),
                    Poll::Ready(Some(Err(_))) => end(flow, Some(FlowStatus::Error)),
                    Poll::Ready(Some(Ok(frame)))
                        if frame.trailers_ref().is_some_and(grpc_failed) =>
                    {
                        end(flow, Some(FlowStatus::Error));
                    }
                    Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => end(flow, None),
                    Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
                }
                polled.map(|frame| frame.map(|f| f.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Served { inner, .. } => inner.is_end_stream(),
            Kind::Rejected { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Served { inner, .. } => inner.size_hint(),
            Kind::Rejected { body } => body.size_hint(),
        }
    }
}

/// Whether gRPC metadata (a trailers-only response's headers, or trailers) says the call
/// failed: a `grpc-status` other than `0`. Other protocols have no such field.
pub(super) fn grpc_failed(trailers: &http::HeaderMap) -> bool {
    trailers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() != b"0")
}

/// Ends the flow, once, with `status` if given (else the status it has).
fn end(flow: &mut Option<Flow>, status: Option<FlowStatus>) {
    if let Some(mut flow) = flow.take() {
        if let Some(status) = status {
            flow.set_status(status);
        }
        flow.end();
    }
}
