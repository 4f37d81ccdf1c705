//! A stand-in Aperture agent: `FlowControlService` (`Check` and `FlowEnd`) over real
//! gRPC (tonic, HTTP/2 on 127.0.0.1), with the messages of `flowgate::aperture::proto`.
//!
//! A stand-in because the real agent cannot run here: it needs a newer Go toolchain
//! than this machine can get, plus etcd and Prometheus. It answers each control point
//! from a script (accept, reject for a reason with a wait time and a status, hold
//! concurrency tokens up to a limit, answer late, answer what a real agent never
//! sends), checks an API key when given one, and records every request and the tokens
//! each flow holds, so tests can see what reached the agent and what came back.

// A fixture: a poisoned lock means a test already panicked.
#![allow(clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowgate::aperture::proto::{
    self, CheckRequest, CheckResponse, ConcurrencyInfo, FlowEndRequest, FlowEndResponse,
    LimiterDecision, LimiterDetails, TokenReturnStatus, TokensInfo,
};
use tonic::codegen::{http, BoxFuture, Context, Poll, Service};

/// How the agent answers a control point.
#[derive(Clone, Debug)]
pub enum Script {
    /// Accepted, with no tokens (a rate limiter or no policy).
    Accept,
    /// A concurrency limiter of `max` tokens: accepted with a request id while fewer
    /// than `max` are lent, else rejected (`NO_TOKENS`).
    Concurrency {
        /// How many flows may hold tokens at once.
        max: usize,
    },
    /// Rejected.
    Reject {
        /// `reject_reason`.
        reason: proto::RejectReason,
        /// `wait_time`.
        wait: Option<Duration>,
        /// `denied_response_status_code` (0: none).
        status: i32,
    },
    /// Lends tokens (a concurrency limiter admitted), then rejects (a rate limiter
    /// after it did not): the flow must still give them back.
    LendThenReject,
    /// Accepts only flows not in ramp mode (as an agent with no matching load ramp).
    RampOnly,
    /// Answers as `then`, after `delay`.
    Slow {
        /// How long before answering.
        delay: Duration,
        /// The answer.
        then: Box<Script>,
    },
    /// A decision type no protocol version has.
    UnknownDecision(i32),
}

/// One `Check` the agent received.
#[derive(Clone, Debug)]
pub struct SeenCheck {
    /// `control_point`.
    pub control_point: String,
    /// `labels`.
    pub labels: HashMap<String, String>,
    /// `ramp_mode`.
    pub ramp_mode: bool,
    /// `expect_end`.
    pub expect_end: bool,
    /// The `grpc-timeout` header, as sent.
    pub grpc_timeout: Option<String>,
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    api_key: Option<String>,
    checks: Mutex<Vec<SeenCheck>>,
    ends: Mutex<Vec<FlowEndRequest>>,
    /// Tokens lent and not given back: request id → control point.
    lent: Mutex<HashMap<String, String>>,
    /// The most tokens lent at once, per control point.
    peak: Mutex<HashMap<String, usize>>,
    /// Request ids given back that were never lent or were given back already.
    unknown_returns: Mutex<Vec<String>>,
    next_id: AtomicU64,
    unauthenticated: AtomicU64,
    /// Told after every request.
    changed: tokio::sync::Notify,
}

/// A running stand-in agent; stops when dropped.
pub struct StandInAgent {
    /// `http://127.0.0.1:port`.
    pub address: String,
    state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for StandInAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandInAgent")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl StandInAgent {
    /// An agent on a free port of 127.0.0.1, accepting every control point without a
    /// script; with `api_key`, only requests carrying it as `x-api-key`.
    pub async fn start(api_key: Option<&str>) -> Self {
        let state = Arc::new(State {
            api_key: api_key.map(str::to_owned),
            ..State::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let address = format!("http://{}", listener.local_addr().expect("its address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = FlowControl(Arc::clone(&state));
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    // As a real agent (Go's net package sets it): without it, a
                    // reply waits for the ACK of the previous one (measured: 19 ms a
                    // flow when each flow also sends a FlowEnd).
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
        });
        Self {
            address,
            state,
            _stop: stop,
        }
    }

    /// Answers `control_point` as `script` says from now on.
    pub fn script(&self, control_point: &str, script: Script) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(control_point.to_owned(), script);
    }

    /// Every `Check` so far.
    pub fn checks(&self) -> Vec<SeenCheck> {
        self.state.checks.lock().unwrap().clone()
    }

    /// Every `FlowEnd` so far.
    pub fn ends(&self) -> Vec<FlowEndRequest> {
        self.state.ends.lock().unwrap().clone()
    }

    /// Waits until the agent received `checks` checks and `ends` ends (or more).
    pub async fn seen(&self, checks: usize, ends: usize) {
        loop {
            let changed = self.state.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.checks().len() >= checks && self.ends().len() >= ends {
                return;
            }
            changed.await;
        }
    }

    /// Tokens lent and not given back.
    pub fn in_flight(&self) -> usize {
        self.state.lent.lock().unwrap().len()
    }

    /// The most tokens `control_point` had lent at once.
    pub fn peak(&self, control_point: &str) -> usize {
        self.state
            .peak
            .lock()
            .unwrap()
            .get(control_point)
            .copied()
            .unwrap_or(0)
    }

    /// Request ids given back that were not lent, or given back twice.
    pub fn unknown_returns(&self) -> Vec<String> {
        self.state.unknown_returns.lock().unwrap().clone()
    }

    /// Requests refused for their API key.
    pub fn unauthenticated(&self) -> u64 {
        self.state.unauthenticated.load(Ordering::Relaxed)
    }
}

impl State {
    fn authorize<T>(&self, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let Some(key) = &self.api_key else {
            return Ok(());
        };
        let given = request
            .metadata()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok());
        if given == Some(key.as_str()) {
            Ok(())
        } else {
            self.unauthenticated.fetch_add(1, Ordering::Relaxed);
            Err(tonic::Status::unauthenticated("invalid API key"))
        }
    }

    fn lend(&self, control_point: &str, max: usize) -> Option<String> {
        let mut lent = self.lent.lock().unwrap();
        let held = lent.values().filter(|cp| *cp == control_point).count();
        if held >= max {
            return None;
        }
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        lent.insert(id.clone(), control_point.to_owned());
        let mut peak = self.peak.lock().unwrap();
        let peak = peak.entry(control_point.to_owned()).or_default();
        *peak = (*peak).max(held + 1);
        Some(id)
    }

    fn answer(&self, request: &CheckRequest, script: &Script) -> CheckResponse {
        let mut response = CheckResponse {
            control_point: request.control_point.clone(),
            expect_end: request.expect_end,
            ..CheckResponse::default()
        };
        let tokens = |id: String| LimiterDecision {
            policy_name: "stand-in".into(),
            policy_hash: "hash".into(),
            component_id: "1".into(),
            dropped: false,
            details: Some(LimiterDetails::ConcurrencyLimiterInfo(ConcurrencyInfo {
                label: String::new(),
                tokens_info: Some(TokensInfo {
                    consumed: 1.0,
                    ..TokensInfo::default()
                }),
                request_id: id,
            })),
        };
        let reject = |response: &mut CheckResponse, reason: proto::RejectReason| {
            response.decision_type = proto::DecisionType::Rejected as i32;
            response.reject_reason = reason as i32;
        };
        match script {
            Script::Accept | Script::Slow { .. } => {}
            Script::Concurrency { max } => match self.lend(&request.control_point, *max) {
                Some(id) => response.limiter_decisions.push(tokens(id)),
                None => reject(&mut response, proto::RejectReason::NoTokens),
            },
            Script::Reject {
                reason,
                wait,
                status,
            } => {
                reject(&mut response, *reason);
                response.wait_time = wait.map(|wait| prost_types::Duration {
                    seconds: i64::try_from(wait.as_secs()).unwrap(),
                    nanos: i32::try_from(wait.subsec_nanos()).unwrap(),
                });
                response.denied_response_status_code = *status;
            }
            Script::LendThenReject => {
                if let Some(id) = self.lend(&request.control_point, usize::MAX) {
                    response.limiter_decisions.push(tokens(id));
                }
                reject(&mut response, proto::RejectReason::RateLimited);
            }
            Script::RampOnly => {
                if request.ramp_mode {
                    reject(&mut response, proto::RejectReason::NoMatchingRamp);
                }
            }
            Script::UnknownDecision(decision) => response.decision_type = *decision,
        }
        response
    }

    fn give_back(&self, request: &FlowEndRequest) -> FlowEndResponse {
        let mut lent = self.lent.lock().unwrap();
        let statuses = request
            .inflight_requests
            .iter()
            .map(|inflight| {
                let returned = lent.remove(&inflight.request_id).is_some();
                if !returned {
                    self.unknown_returns
                        .lock()
                        .unwrap()
                        .push(inflight.request_id.clone());
                }
                TokenReturnStatus {
                    inflight_request_ref: Some(inflight.clone()),
                    returned,
                    error: String::new(),
                }
            })
            .collect();
        FlowEndResponse {
            token_return_statuses: statuses,
        }
    }
}

/// The gRPC service: routes the two methods to their handlers.
#[derive(Clone)]
struct FlowControl(Arc<State>);

impl tonic::server::NamedService for FlowControl {
    const NAME: &'static str = "aperture.flowcontrol.check.v1.FlowControlService";
}

impl Service<http::Request<tonic::body::Body>> for FlowControl {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            Ok(match request.uri().path() {
                proto::CHECK_PATH => {
                    let codec = tonic_prost::ProstCodec::<CheckResponse, CheckRequest>::default();
                    tonic::server::Grpc::new(codec)
                        .unary(Check(state), request)
                        .await
                }
                proto::FLOW_END_PATH => {
                    let codec =
                        tonic_prost::ProstCodec::<FlowEndResponse, FlowEndRequest>::default();
                    tonic::server::Grpc::new(codec)
                        .unary(FlowEnd(state), request)
                        .await
                }
                _ => tonic::Status::unimplemented("not a method of the stand-in").into_http(),
            })
        })
    }
}

struct Check(Arc<State>);

impl Service<tonic::Request<CheckRequest>> for Check {
    type Response = tonic::Response<CheckResponse>;
    type Error = tonic::Status;
    type Future = BoxFuture<Self::Response, tonic::Status>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<CheckRequest>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            state.authorize(&request)?;
            let grpc_timeout = request
                .metadata()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let request = request.into_inner();
            state.checks.lock().unwrap().push(SeenCheck {
                control_point: request.control_point.clone(),
                labels: request.labels.clone(),
                ramp_mode: request.ramp_mode,
                expect_end: request.expect_end,
                grpc_timeout,
            });
            state.changed.notify_waiters();
            let mut script = state
                .scripts
                .lock()
                .unwrap()
                .get(&request.control_point)
                .cloned()
                .unwrap_or(Script::Accept);
            while let Script::Slow { delay, then } = script {
                tokio::time::sleep(delay).await;
                script = *then;
            }
            Ok(tonic::Response::new(state.answer(&request, &script)))
        })
    }
}

struct FlowEnd(Arc<State>);

impl Service<tonic::Request<FlowEndRequest>> for FlowEnd {
    type Response = tonic::Response<FlowEndResponse>;
    type Error = tonic::Status;
    type Future = BoxFuture<Self::Response, tonic::Status>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<FlowEndRequest>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            state.authorize(&request)?;
            let request = request.into_inner();
            let response = state.give_back(&request);
            state.ends.lock().unwrap().push(request);
            state.changed.notify_waiters();
            Ok(tonic::Response::new(response))
        })
    }
}
