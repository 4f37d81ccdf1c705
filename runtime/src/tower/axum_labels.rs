//! Labels only axum knows: a routed request's path parameters, and the peer's address
//! from `ConnectInfo`.
//!
//! axum's `RawPathParams` extractor is `async` but never waits (it reads what the
//! router put in the request's extensions), so it is polled once, with a no-op waker,
//! rather than making label extraction async for every request.

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::extract::{ConnectInfo, RawPathParams};
use axum_core::extract::FromRequestParts as _;
use http::request::Parts;

use super::Config;
use crate::labels::Labels;

/// Adds the peer's address, if the layer asks for it.
pub(super) fn add_remote_address(
    config: &Config,
    extensions: &http::Extensions,
    labels: &mut Labels<'static>,
) {
    if config.remote_address {
        if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            labels.insert("remoteAddress", peer.ip().to_string());
        }
    }
}

/// Adds the path parameters the layer asks for.
pub(super) fn add_paths(config: &Config, parts: &mut Parts, labels: &mut Labels<'static>) {
    if config.paths.is_empty() {
        return;
    }
    let mut context = Context::from_waker(Waker::noop());
    let extraction = pin!(RawPathParams::from_request_parts(parts, &()));
    let Poll::Ready(Ok(params)) = extraction.poll(&mut context) else {
        return;
    };
    for (label, param) in &config.paths {
        if let Some((_, value)) = params.iter().find(|(name, _)| name == param) {
            labels.insert(*label, value.to_owned());
        }
    }
}
