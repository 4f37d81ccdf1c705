//! The part of Aperture's flow-control protocol (`aperture.flowcontrol.check.v1`) that
//! flowgate speaks, written from the protocol's published field numbers and types:
//! `FlowControlService.Check` and `FlowControlService.FlowEnd`.
//!
//! Hand-written `prost` messages rather than code generated from the `.proto`: the
//! build needs no `protoc`, and only the fields flowgate reads or sends are declared
//! (fields a message carries beyond them are skipped when decoding, as protobuf
//! requires). Public so that a test can play the agent with the same messages (see
//! the `tests` crate's stand-in agent).

use std::collections::HashMap;

/// The gRPC path of `Check`.
pub const CHECK_PATH: &str = "/aperture.flowcontrol.check.v1.FlowControlService/Check";
/// The gRPC path of `FlowEnd`.
pub const FLOW_END_PATH: &str = "/aperture.flowcontrol.check.v1.FlowControlService/FlowEnd";

/// A flow asking to run at a control point.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    /// The control point: the flag's name.
    #[prost(string, tag = "1")]
    pub control_point: String,
    /// The flow's labels.
    #[prost(map = "string, string", tag = "2")]
    pub labels: HashMap<String, String>,
    /// Reject the flow unless a sampler or load ramp accepts it.
    #[prost(bool, tag = "3")]
    pub ramp_mode: bool,
    /// The caller sends `FlowEnd` when the flow ends (flowgate always does).
    #[prost(bool, tag = "5")]
    pub expect_end: bool,
}

/// The agent's decision for one flow.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResponse {
    /// The control point the decision is for.
    #[prost(string, tag = "5")]
    pub control_point: String,
    /// Accepted (0) or rejected (1); see [`DecisionType`].
    #[prost(enumeration = "DecisionType", tag = "8")]
    pub decision_type: i32,
    /// Why the flow was rejected; see [`RejectReason`].
    #[prost(enumeration = "RejectReason", tag = "9")]
    pub reject_reason: i32,
    /// What each limiter decided, with the ids of the tokens it lent.
    #[prost(message, repeated, tag = "12")]
    pub limiter_decisions: Vec<LimiterDecision>,
    /// When a retry may succeed, for a rejected flow.
    #[prost(message, optional, tag = "13")]
    pub wait_time: Option<prost_types::Duration>,
    /// The HTTP status a rejected flow's response should have (0: none given).
    #[prost(int32, tag = "14")]
    pub denied_response_status_code: i32,
    /// The agent expects `FlowEnd`.
    #[prost(bool, tag = "16")]
    pub expect_end: bool,
}

/// `CheckResponse.decision_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DecisionType {
    /// The flow may run.
    Accepted = 0,
    /// The flow must not run.
    Rejected = 1,
}

/// `CheckResponse.reject_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RejectReason {
    /// No reason given.
    None = 0,
    /// A rate limiter had no token.
    RateLimited = 1,
    /// A concurrency limiter or scheduler had no token.
    NoTokens = 2,
    /// A sampler did not pick the flow.
    NotSampled = 3,
    /// Ramp mode, and no sampler or load ramp accepted the flow.
    NoMatchingRamp = 4,
}

/// One limiter's decision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LimiterDecision {
    /// The policy the limiter belongs to.
    #[prost(string, tag = "1")]
    pub policy_name: String,
    /// The policy's hash.
    #[prost(string, tag = "2")]
    pub policy_hash: String,
    /// The limiter's component id.
    #[prost(string, tag = "3")]
    pub component_id: String,
    /// The limiter rejected the flow.
    #[prost(bool, tag = "4")]
    pub dropped: bool,
    /// What kind of limiter, and what it lent.
    #[prost(oneof = "LimiterDetails", tags = "20, 22, 24, 25")]
    pub details: Option<LimiterDetails>,
}

/// `LimiterDecision.details`: the kinds of limiter flowgate reads.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum LimiterDetails {
    /// A rate limiter.
    #[prost(message, tag = "20")]
    RateLimiterInfo(RateLimiterInfo),
    /// A sampler.
    #[prost(message, tag = "22")]
    SamplerInfo(SamplerInfo),
    /// A concurrency limiter: its tokens go back with `FlowEnd`.
    #[prost(message, tag = "24")]
    ConcurrencyLimiterInfo(ConcurrencyInfo),
    /// A concurrency scheduler: its tokens go back with `FlowEnd`.
    #[prost(message, tag = "25")]
    ConcurrencySchedulerInfo(ConcurrencySchedulerInfo),
}

/// Tokens counted by a limiter.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct TokensInfo {
    /// Tokens left.
    #[prost(double, tag = "1")]
    pub remaining: f64,
    /// Tokens in use.
    #[prost(double, tag = "2")]
    pub current: f64,
    /// Tokens this flow took.
    #[prost(double, tag = "3")]
    pub consumed: f64,
}

/// A rate limiter's decision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RateLimiterInfo {
    /// The label the limit is keyed by.
    #[prost(string, tag = "1")]
    pub label: String,
    /// Its tokens.
    #[prost(message, optional, tag = "2")]
    pub tokens_info: Option<TokensInfo>,
}

/// A sampler's decision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SamplerInfo {
    /// The label the sampler is keyed by.
    #[prost(string, tag = "1")]
    pub label: String,
}

/// A concurrency limiter's decision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConcurrencyInfo {
    /// The label the limit is keyed by.
    #[prost(string, tag = "1")]
    pub label: String,
    /// Its tokens.
    #[prost(message, optional, tag = "2")]
    pub tokens_info: Option<TokensInfo>,
    /// The id of the tokens lent to this flow; empty when none were.
    #[prost(string, tag = "3")]
    pub request_id: String,
}

/// A concurrency scheduler's decision.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConcurrencySchedulerInfo {
    /// The label the scheduler is keyed by.
    #[prost(string, tag = "1")]
    pub label: String,
    /// The workload the flow was put in.
    #[prost(string, tag = "2")]
    pub workload_index: String,
    /// Its tokens.
    #[prost(message, optional, tag = "3")]
    pub tokens_info: Option<TokensInfo>,
    /// The workload's priority.
    #[prost(double, tag = "4")]
    pub priority: f64,
    /// The id of the tokens lent to this flow; empty when none were.
    #[prost(string, tag = "5")]
    pub request_id: String,
}

/// Tokens a flow holds, to give back.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InflightRequestRef {
    /// The limiter's policy.
    #[prost(string, tag = "1")]
    pub policy_name: String,
    /// The policy's hash.
    #[prost(string, tag = "2")]
    pub policy_hash: String,
    /// The limiter's component id.
    #[prost(string, tag = "3")]
    pub component_id: String,
    /// The label the limit is keyed by.
    #[prost(string, tag = "4")]
    pub label: String,
    /// The id the limiter gave the tokens.
    #[prost(string, tag = "5")]
    pub request_id: String,
    /// How many tokens.
    #[prost(double, tag = "6")]
    pub tokens: f64,
}

/// The end of a flow that holds tokens.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FlowEndRequest {
    /// The control point.
    #[prost(string, tag = "1")]
    pub control_point: String,
    /// The tokens to give back.
    #[prost(message, repeated, tag = "2")]
    pub inflight_requests: Vec<InflightRequestRef>,
}

/// The agent's receipt for `FlowEnd`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FlowEndResponse {
    /// One status per token given back.
    #[prost(message, repeated, tag = "1")]
    pub token_return_statuses: Vec<TokenReturnStatus>,
}

/// Whether tokens went back.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenReturnStatus {
    /// The tokens.
    #[prost(message, optional, tag = "1")]
    pub inflight_request_ref: Option<InflightRequestRef>,
    /// They went back.
    #[prost(bool, tag = "2")]
    pub returned: bool,
    /// Why not.
    #[prost(string, tag = "3")]
    pub error: String,
}
