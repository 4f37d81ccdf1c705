//! An Aperture agent as a decision source: the agent decides each flow, with the same
//! semantics as Aperture's own SDKs (feature `aperture`).
//!
//! Every flow of a gate on this source is a `Check` request to the agent (the flag's
//! name is the control point, the flow's labels, explicit and ambient, are the flow
//! labels), bounded by the gate's timeout, which the agent also takes as the longest
//! wait in its schedulers' queues. A flow the agent lent tokens to (a concurrency
//! limiter or scheduler gave it a request id) gives them back with one `FlowEnd` when
//! it ends, however it ends: `Ok`, `Err`, a panic, a dropped future, and even when it
//! was rejected after a limiter lent them, or when the gate gave up waiting for the
//! answer. Flows without tokens send no `FlowEnd`.
//!
//! | Aperture | flowgate |
//! |---|---|
//! | `DECISION_TYPE_ACCEPTED` | the flow runs (then the client's own limits, if any) |
//! | `REJECT_REASON_RATE_LIMITED` | [`RejectReason::RateLimited`] (429) |
//! | `REJECT_REASON_NO_TOKENS` | [`RejectReason::ConcurrencyLimited`] (503) |
//! | `REJECT_REASON_NOT_SAMPLED`, `NO_MATCHING_RAMP`, none | [`RejectReason::FlagDisabled`] (404) |
//! | `wait_time` | [`Rejection::retry_after`] (at most a day) |
//! | `denied_response_status_code` | [`Rejection::status_code`]: the tower layer's and axum's status |
//! | unreachable, timeout, API key refused, unknown decision | the gate's fallback, reason [`RejectReason::SourceError`] |
//! | declared `fallback = "reject"` / anything else | `ramp_mode = true` / `false` (Aperture's fail-open is `fallback = "accept"`; the undeclared default does not ask for ramp mode, which rejects whatever no load ramp admits) |
//! | flow status | span field `aperture.flow.status` = `OK` / `Error` |
//!
//! What the agent is: its address, API key (sent as `x-api-key`, never logged, never
//! in `Debug` or errors), TLS for `https://`, keep-alive: [`ApertureConfig`], or
//! `APERTURE_AGENT_ADDRESS` and `APERTURE_API_KEY` for [`flowgate::global()`].
//!
//! Flags are not evaluated outside a flow: `is_enabled` and `variant` on this source
//! take the flag's fallback (a `Check` is a flow; asking the agent from a plain
//! question would count flows that never run).
//!
//! Differences from Aperture's Python SDK, on purpose: its `decorate` never ends the
//! flow (tokens stay lent until they expire); here every flow ends exactly once. Its
//! Go SDK reads a nil response in ramp mode when the agent is unreachable; here an
//! unreachable agent is the fallback's case, always. And the tower layer writes a
//! rejection's headers with its status, never after.
//!
//! ```no_run
//! use flowgate::aperture::ApertureConfig;
//! use flowgate::Client;
//!
//! let client = Client::builder()
//!     .aperture(ApertureConfig::new("http://127.0.0.1:8089"))
//!     .build()?;
//! # Ok::<(), flowgate::ConfigError>(())
//! ```
//!
//! [`flowgate::global()`]: crate::global
//! [`RejectReason::RateLimited`]: crate::RejectReason::RateLimited
//! [`RejectReason::ConcurrencyLimited`]: crate::RejectReason::ConcurrencyLimited
//! [`RejectReason::FlagDisabled`]: crate::RejectReason::FlagDisabled
//! [`RejectReason::SourceError`]: crate::RejectReason::SourceError
//! [`Rejection::retry_after`]: crate::Rejection::retry_after
//! [`Rejection::status_code`]: crate::Rejection::status_code

mod agent;
mod config;
pub mod proto;
mod stats;
mod verdict;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flowgate_config::ConfigError;

pub use config::ApertureConfig;
pub use stats::ApertureStats;

use agent::{Agent, Failure};
use proto::{CheckRequest, FlowEndRequest, InflightRequestRef};
use stats::Counters;
use verdict::Verdict;

use crate::background::Background;
use crate::labels::Labels;
use crate::limits::Permit;
use crate::source::{Answer, Check, DecisionSource, Evaluation, FlowDecider, Serving, Undecided};

/// The most `FlowEnd` requests in flight at once; an end beyond it is dropped and
/// counted (the agent frees its tokens when they expire). Bounds the memory a slow or
/// dead agent can make the process hold.
pub const MAX_PENDING_ENDS: usize = 100_000;

/// An Aperture agent as a decision source (see the module documentation).
///
/// Owns a small runtime (two threads, `flowgate-aperture`) that drives the agent's
/// connection, so that gates decide on any executor, or none (blocking gates).
pub struct Aperture {
    shared: Arc<Shared>,
    _runtime: Background,
}

/// What the source and the flows it lent tokens to share.
struct Shared {
    agent: Agent,
    handle: tokio::runtime::Handle,
    address: String,
    end_timeout: Duration,
    counters: Arc<Counters>,
}

impl Aperture {
    /// A source deciding with the agent `config` names. Makes no connection yet: the
    /// first flow does, within its timeout.
    ///
    /// # Errors
    /// A [`ConfigError`] when the address is not a URI with an `http` or `https`
    /// scheme, or the API key cannot be a gRPC header.
    pub fn connect(config: ApertureConfig) -> Result<Self, ConfigError> {
        // Owned before anything can fail: a runtime dropped on an error path must
        // shut down without waiting (`connect` may run inside another runtime).
        let runtime = Background::start("flowgate-aperture", "Aperture source")?;
        let agent = {
            let _entered = runtime.handle().enter();
            Agent::new(&config)?
        };
        let shared = Arc::new(Shared {
            agent,
            handle: runtime.handle().clone(),
            address: config.address,
            end_timeout: config.end_timeout,
            counters: Arc::default(),
        });
        Ok(Self {
            shared,
            _runtime: runtime,
        })
    }

    /// A handle on the source's counters, to keep after the source moved into a
    /// client.
    pub fn handle(&self) -> ApertureHandle {
        ApertureHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for Aperture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aperture")
            .field("address", &self.shared.address)
            .finish_non_exhaustive()
    }
}

impl DecisionSource for Aperture {
    fn evaluate(&self, _flag: &str, _labels: &Labels<'_>) -> Evaluation {
        Evaluation::Undecided(Undecided::PerFlow)
    }

    fn name(&self) -> &'static str {
        "aperture"
    }

    fn serving(&self) -> Serving {
        if self.shared.counters.failing() {
            Serving::Fallback
        } else {
            Serving::Live
        }
    }

    fn per_flow(&self) -> Option<&dyn FlowDecider> {
        Some(self)
    }

    fn inspect(&self) -> Option<crate::inspect::SourceDetails> {
        Some(self.shared.counters.details())
    }
}

impl FlowDecider for Aperture {
    fn check(&self, flag: &str, labels: &Labels<'_>, timeout: Duration, ramp: bool) -> Check {
        let request = CheckRequest {
            control_point: flag.to_owned(),
            labels: labels
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            ramp_mode: ramp,
            expect_end: true,
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(&self.shared);
        // On a runtime shut down (the source dropped), the task is dropped with its
        // sender, and the flow reads that as no answer.
        drop(self.shared.handle.spawn(async move {
            let answer = shared.ask(request, timeout).await;
            // A flow that stopped waiting (a dropped future, a timeout) gets no answer:
            // the answer drops here, and the tokens in it go back.
            drop(sender.send(answer));
        }));
        Check::new(receiver)
    }
}

impl Shared {
    async fn ask(self: Arc<Self>, request: CheckRequest, timeout: Duration) -> Answer {
        let control_point = request.control_point.clone();
        let reply = self.agent.check(request, timeout).await;
        let response = match reply {
            Ok(response) => response,
            Err(failure) => {
                self.counters.failed(failure, &self.address);
                return Answer::Failed(Undecided::Error);
            }
        };
        match verdict::verdict(&response) {
            Verdict::Accepted { lent } => {
                self.counters.answered(true, &self.address);
                Answer::Accepted(self.lend(control_point, lent))
            }
            Verdict::Rejected {
                reason,
                retry_after,
                status,
                lent,
            } => {
                self.counters.answered(false, &self.address);
                Answer::Rejected {
                    reason,
                    retry_after,
                    status,
                    permit: self.lend(control_point, lent),
                }
            }
            Verdict::Unknown(decision_type) => {
                tracing::warn!(
                    target: "flowgate",
                    agent = %self.address,
                    decision_type,
                    "the Aperture agent answered a decision type this version does not \
                     know: the flow takes its fallback"
                );
                self.counters.failed(Failure::Error, &self.address);
                Answer::Failed(Undecided::Error)
            }
        }
    }

    /// The tokens of `lent`, held by the flow, given back when it ends.
    fn lend(
        self: &Arc<Self>,
        control_point: String,
        lent: Vec<InflightRequestRef>,
    ) -> Option<Permit> {
        (!lent.is_empty()).then(|| {
            Permit::held(Lent {
                shared: Arc::clone(self),
                request: Some(FlowEndRequest {
                    control_point,
                    inflight_requests: lent,
                }),
            })
        })
    }

    /// Sends `request` in the background.
    fn end(self: &Arc<Self>, request: FlowEndRequest) {
        let Some(pending) = self.counters.end_started() else {
            return;
        };
        let shared = Arc::clone(self);
        drop(self.handle.spawn(async move {
            let answer = shared.agent.flow_end(request, shared.end_timeout).await;
            pending.done(answer.is_ok());
        }));
    }
}

/// Tokens a flow holds: one `FlowEnd` gives them back when it is dropped.
struct Lent {
    shared: Arc<Shared>,
    request: Option<FlowEndRequest>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(request) = self.request.take() {
            self.shared.end(request);
        }
    }
}

/// A handle on an [`Aperture`] source's counters.
#[derive(Clone)]
pub struct ApertureHandle {
    shared: Arc<Shared>,
}

impl ApertureHandle {
    /// The counters so far.
    pub fn stats(&self) -> ApertureStats {
        self.shared.counters.snapshot()
    }

    /// Waits until every `FlowEnd` sent so far got its answer (or gave up), up to
    /// `timeout`; the counters then. For tests and shutdown: tokens are back with the
    /// agent once this returns with `ends_pending == 0`.
    pub async fn settled(&self, timeout: Duration) -> ApertureStats {
        let _ = tokio::time::timeout(timeout, self.shared.counters.settled()).await;
        self.stats()
    }
}

impl fmt::Debug for ApertureHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApertureHandle")
            .field("address", &self.shared.address)
            .field("stats", &self.stats())
            .finish()
    }
}
