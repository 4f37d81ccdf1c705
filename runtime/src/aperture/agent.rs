//! The gRPC client of the agent: one HTTP/2 channel (tonic), the two calls flowgate
//! makes, and what their failures mean.
//!
//! The client is written over `tonic::client::Grpc` rather than generated: two unary
//! calls need no code generator, and no `protoc` at build time.

use std::time::Duration;

use flowgate_config::ConfigError;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::config::ApertureConfig;
use super::proto::{self, CheckRequest, CheckResponse, FlowEndRequest, FlowEndResponse};

/// The most calls in flight on the agent's connection at once; more wait their turn
/// (within their own timeout). Thousands of streams at once on one HTTP/2 connection
/// make servers end it (measured: the stand-in's h2 server answers 10 000 concurrent
/// calls with `GOAWAY ENHANCE_YOUR_CALM`, and every call in flight fails).
pub(crate) const MAX_CALLS: usize = 256;

/// Why a call got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The agent could not be reached (refused, reset, DNS, TLS).
    Unreachable,
    /// No answer within the gate's timeout.
    Timeout,
    /// The agent refused the API key.
    Unauthenticated,
    /// Any other error status, or a reply that could not be read.
    Error,
}

impl Failure {
    /// A stable name, for logs and stats.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Failure::Unreachable => "unreachable",
            Failure::Timeout => "timeout",
            Failure::Unauthenticated => "unauthenticated",
            Failure::Error => "error",
        }
    }

    fn of(status: &tonic::Status) -> Self {
        match status.code() {
            tonic::Code::Unavailable => Failure::Unreachable,
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Failure::Timeout,
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                Failure::Unauthenticated
            }
            _ => Failure::Error,
        }
    }
}

/// A client of one agent. Cheap to clone (the channel is shared).
#[derive(Clone)]
pub(crate) struct Agent {
    grpc: tonic::client::Grpc<Channel>,
    api_key: Option<AsciiMetadataValue>,
}

impl Agent {
    /// A client of the agent `config` names; connects lazily, so it must be made in
    /// the runtime that will drive it.
    pub(crate) fn new(config: &ApertureConfig) -> Result<Self, ConfigError> {
        let origin = format!("Aperture agent address `{}`", config.address);
        let address = if config.address.contains("://") {
            config.address.clone()
        } else {
            format!("http://{}", config.address)
        };
        let host = address
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_owned))
            .unwrap_or_default();
        if host.is_empty() {
            return Err(ConfigError::new(
                &origin,
                "no host (e.g. `http://127.0.0.1:8089`)",
            ));
        }
        let mut endpoint = Endpoint::from_shared(address.clone())
            .map_err(|e| ConfigError::new(&origin, format!("not a URI: {e}")))?
            .connect_timeout(config.connect_timeout)
            .http2_keep_alive_interval(config.keepalive)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true)
            .concurrency_limit(MAX_CALLS);
        if address.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| ConfigError::new(&origin, format!("TLS: {e}")))?;
        } else if !address.starts_with("http://") {
            return Err(ConfigError::new(
                &origin,
                "the scheme must be `http://` or `https://` (or none, for plain gRPC)",
            ));
        }
        let api_key = match &config.api_key {
            None => None,
            // API keys are printable ASCII; anything else is a pasting mistake.
            Some(key) if !key.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(ConfigError::new(
                    "Aperture API key",
                    "it has characters other than printable ASCII (the key is not shown)",
                ));
            }
            Some(key) => Some(MetadataValue::try_from(key.as_str()).map_err(|_| {
                ConfigError::new(
                    "Aperture API key",
                    "it has characters a gRPC header cannot carry (the key is not shown)",
                )
            })?),
        };
        Ok(Self {
            grpc: tonic::client::Grpc::new(endpoint.connect_lazy()),
            api_key,
        })
    }

    /// `Check`, bounded by `timeout` on both sides: the agent reads it from
    /// `grpc-timeout` as its longest wait in a scheduler's queue.
    pub(crate) async fn check(
        &self,
        request: CheckRequest,
        timeout: Duration,
    ) -> Result<CheckResponse, Failure> {
        let call = self.unary(request, proto::CHECK_PATH, timeout);
        match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// `FlowEnd`, tried again after a failure (a connection lost, the agent
    /// restarting) until `within` is over: tokens not given back stay lent until they
    /// expire, so an end is worth a few attempts. A refused API key is not retried.
    pub(crate) async fn flow_end(
        &self,
        request: FlowEndRequest,
        within: Duration,
    ) -> Result<FlowEndResponse, Failure> {
        let deadline = tokio::time::Instant::now() + within;
        let mut pause = Duration::from_millis(25);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let call = self.unary(request.clone(), proto::FLOW_END_PATH, left);
            let failure = match tokio::time::timeout(left, call).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::Timeout,
            };
            if failure == Failure::Unauthenticated
                || tokio::time::Instant::now() + pause >= deadline
            {
                return Err(failure);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    async fn unary<Q, A>(
        &self,
        message: Q,
        path: &'static str,
        timeout: Duration,
    ) -> Result<A, Failure>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|_| Failure::Unreachable)?;
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        if let Some(key) = &self.api_key {
            request.metadata_mut().insert("x-api-key", key.clone());
        }
        let path = http::uri::PathAndQuery::from_static(path);
        let codec = tonic_prost::ProstCodec::<Q, A>::default();
        grpc.unary(request, path, codec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| Failure::of(&status))
    }
}
