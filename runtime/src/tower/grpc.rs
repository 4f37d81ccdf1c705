//! gRPC answers to rejections, for tonic: a rejection is a `tonic::Status`, and a gRPC
//! service behind the layer answers it as gRPC does (HTTP 200, `grpc-status` in the
//! headers of a trailers-only response), never as a bare HTTP 404 a gRPC client would
//! misread.
//!
//! A gated service keeps its name (`NamedService`), so a layer can gate one service of
//! a server, and `FlowgateLayer::only_paths` narrows it to some of its methods.
//!
//! Codes by reason: `NOT_FOUND` for a flag that is off or undecided (as for an unknown
//! method, the flag not named), `RESOURCE_EXHAUSTED` for a rate limit and `UNAVAILABLE`
//! for a full concurrency limit, its queue's timeout or a source not ready, both with
//! `google.rpc.RetryInfo` when a retry time is known.

use tonic::server::NamedService;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::Flowgate;
use crate::reject::{RejectReason, Rejection};

/// A gated gRPC service keeps its service's name, so that it is added to a tonic server
/// as the service itself: `Server::builder().add_service(layer.layer(service))` gates
/// that one service.
impl<S: NamedService> NamedService for Flowgate<S> {
    const NAME: &'static str = S::NAME;
}

impl From<Rejection> for Status {
    fn from(rejection: Rejection) -> Self {
        let code = match rejection.reason() {
            RejectReason::RateLimited => Code::ResourceExhausted,
            RejectReason::ConcurrencyLimited
            | RejectReason::QueueTimeout
            | RejectReason::NotReady => Code::Unavailable,
            _ => Code::NotFound,
        };
        let message = match code {
            Code::NotFound => "not found",
            Code::ResourceExhausted => "rate limited",
            _ => "unavailable, try again later",
        };
        match rejection.retry_after() {
            Some(delay) if code != Code::NotFound => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            _ => Status::new(code, message),
        }
    }
}
