//! What an agent's `CheckResponse` means for a flow: accepted or rejected, why, when to
//! retry, which status to answer with, and which tokens the flow must give back.
//!
//! A pure function of the reply, so that every reply, including ones a real agent never
//! sends (unknown decision types and reasons, negative or huge wait times, statuses
//! that are not errors, thousands of limiter decisions), has a defined meaning.

use std::time::Duration;

use super::proto::{self, CheckResponse, InflightRequestRef, LimiterDetails};
use crate::reject::RejectReason;

/// The longest `retry_after` taken from a reply; longer waits are cut to it.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The most token references kept from one reply; a real agent lends one per
/// concurrency limiter or scheduler the flow went through.
pub(crate) const MAX_LENT: usize = 64;

/// A reply's meaning.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// The flow may run.
    Accepted { lent: Vec<InflightRequestRef> },
    /// The flow must not run.
    Rejected {
        reason: RejectReason,
        retry_after: Option<Duration>,
        status: Option<u16>,
        lent: Vec<InflightRequestRef>,
    },
    /// A decision type this protocol version does not know: no decision.
    Unknown(i32),
}

/// The meaning of `response`.
pub(crate) fn verdict(response: &CheckResponse) -> Verdict {
    let lent = lent_tokens(response);
    match proto::DecisionType::try_from(response.decision_type) {
        Ok(proto::DecisionType::Accepted) => Verdict::Accepted { lent },
        Ok(proto::DecisionType::Rejected) => Verdict::Rejected {
            reason: reason(response.reject_reason),
            retry_after: response.wait_time.and_then(wait),
            status: u16::try_from(response.denied_response_status_code)
                .ok()
                .filter(|status| (400..=599).contains(status)),
            lent,
        },
        Err(_) => Verdict::Unknown(response.decision_type),
    }
}

/// Aperture's reject reason as flowgate's: a limiter's is a limit's; a sampler's or a
/// ramp's (the feature is not rolled out to this flow) is the flag being off; no reason,
/// or one this protocol version does not know, is the flag being off too (the agent
/// said no, and did not say it was a limit).
fn reason(reason: i32) -> RejectReason {
    match proto::RejectReason::try_from(reason) {
        Ok(proto::RejectReason::RateLimited) => RejectReason::RateLimited,
        Ok(proto::RejectReason::NoTokens) => RejectReason::ConcurrencyLimited,
        Ok(
            proto::RejectReason::NotSampled
            | proto::RejectReason::NoMatchingRamp
            | proto::RejectReason::None,
        )
        | Err(_) => RejectReason::FlagDisabled,
    }
}

/// A wait time as a `Duration`: none when negative or zero, at most [`MAX_WAIT`].
fn wait(wait: prost_types::Duration) -> Option<Duration> {
    let seconds = u64::try_from(wait.seconds).ok()?;
    let nanos = u32::try_from(wait.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    let wait = Duration::new(seconds, nanos);
    (!wait.is_zero()).then(|| wait.min(MAX_WAIT))
}

/// The tokens a flow must give back: one reference per concurrency limiter or
/// scheduler that gave a request id, at most [`MAX_LENT`].
fn lent_tokens(response: &CheckResponse) -> Vec<InflightRequestRef> {
    response
        .limiter_decisions
        .iter()
        .filter_map(|decision| {
            let (label, request_id, tokens) = match decision.details.as_ref()? {
                LimiterDetails::ConcurrencyLimiterInfo(info) => {
                    (&info.label, &info.request_id, info.tokens_info)
                }
                LimiterDetails::ConcurrencySchedulerInfo(info) => {
                    (&info.label, &info.request_id, info.tokens_info)
                }
                LimiterDetails::RateLimiterInfo(_) | LimiterDetails::SamplerInfo(_) => return None,
            };
            (!request_id.is_empty()).then(|| InflightRequestRef {
                policy_name: decision.policy_name.clone(),
                policy_hash: decision.policy_hash.clone(),
                component_id: decision.component_id.clone(),
                label: label.clone(),
                request_id: request_id.clone(),
                tokens: tokens.map_or(0.0, |tokens| tokens.consumed),
            })
        })
        .take(MAX_LENT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aperture::proto::{ConcurrencyInfo, LimiterDecision, TokensInfo};

    fn rejected(reason: i32) -> CheckResponse {
        CheckResponse {
            decision_type: 1,
            reject_reason: reason,
            ..CheckResponse::default()
        }
    }

    #[test]
    fn every_reason_has_a_meaning() {
        let expected = [
            RejectReason::FlagDisabled,
            RejectReason::RateLimited,
            RejectReason::ConcurrencyLimited,
            RejectReason::FlagDisabled,
            RejectReason::FlagDisabled,
        ];
        for (code, expected) in expected.into_iter().enumerate() {
            let code = i32::try_from(code).unwrap();
            match verdict(&rejected(code)) {
                Verdict::Rejected { reason, .. } => assert_eq!(reason, expected, "{code}"),
                other => panic!("{code}: {other:?}"),
            }
        }
        for code in [-1, 5, 99, i32::MIN, i32::MAX] {
            assert!(matches!(
                verdict(&rejected(code)),
                Verdict::Rejected {
                    reason: RejectReason::FlagDisabled,
                    ..
                }
            ));
        }
    }

    #[test]
    fn unknown_decision_types_decide_nothing() {
        for decision_type in [-1, 2, 3, 1000, i32::MAX, i32::MIN] {
            let response = CheckResponse {
                decision_type,
                ..CheckResponse::default()
            };
            assert_eq!(verdict(&response), Verdict::Unknown(decision_type));
        }
    }

    #[test]
    fn wait_times_are_clamped_and_statuses_are_errors_only() {
        let cases = [
            ((0, 0), None),
            ((-5, 0), None),
            ((0, -1), None),
            ((1, 2_000_000_000), None),
            ((2, 500), Some(Duration::new(2, 500))),
            ((i64::MAX, 999_999_999), Some(MAX_WAIT)),
        ];
        for ((seconds, nanos), expected) in cases {
            let mut response = rejected(1);
            response.wait_time = Some(prost_types::Duration { seconds, nanos });
            let Verdict::Rejected { retry_after, .. } = verdict(&response) else {
                panic!()
            };
            assert_eq!(retry_after, expected, "{seconds}s {nanos}ns");
        }
        for status in -1000..1000 {
            let mut response = rejected(1);
            response.denied_response_status_code = status;
            let Verdict::Rejected { status: kept, .. } = verdict(&response) else {
                panic!()
            };
            let expected = (400..=599)
                .contains(&status)
                .then(|| u16::try_from(status).unwrap());
            assert_eq!(kept, expected, "{status}");
        }
    }

    #[test]
    fn tokens_are_kept_only_with_a_request_id_and_at_most_max_lent() {
        let decision = |id: &str| LimiterDecision {
            policy_name: "p".into(),
            component_id: "c".into(),
            details: Some(LimiterDetails::ConcurrencyLimiterInfo(ConcurrencyInfo {
                label: "l".into(),
                tokens_info: Some(TokensInfo {
                    consumed: 2.0,
                    ..TokensInfo::default()
                }),
                request_id: id.into(),
            })),
            ..LimiterDecision::default()
        };
        let response = CheckResponse {
            limiter_decisions: vec![decision(""), decision("r1")],
            ..CheckResponse::default()
        };
        let Verdict::Accepted { lent } = verdict(&response) else {
            panic!()
        };
        assert_eq!(lent.len(), 1);
        assert_eq!((lent[0].request_id.as_str(), lent[0].tokens), ("r1", 2.0));
        let many = CheckResponse {
            limiter_decisions: (0..10_000).map(|i| decision(&i.to_string())).collect(),
            ..CheckResponse::default()
        };
        let Verdict::Accepted { lent } = verdict(&many) else {
            panic!()
        };
        assert_eq!(lent.len(), MAX_LENT);
    }
}
