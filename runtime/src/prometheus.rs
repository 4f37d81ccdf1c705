//! Prometheus / OpenMetrics (feature `prometheus`): a [`prometheus_client`] collector
//! of every flag's flows and the source's state, read at scrape time.
//!
//! ```
//! use prometheus_client::registry::Registry;
//!
//! let client = flowgate::Client::from_toml_str("[flags.Checkout]\nrollout = 50\n")?;
//! let mut registry = Registry::default();
//! flowgate::prometheus::register(&client, &mut registry);
//!
//! for user in 0..10 {
//!     let labels = flowgate::labels! { "userId" => user };
//!     client.start_flow_blocking("Checkout", &labels, std::time::Duration::ZERO).end();
//! }
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("flowgate_source_ready{source=\"flowgate.engine\"} 1"));
//! // The counts the client keeps, as Prometheus reads them.
//! let accepted = client.metrics().flag("Checkout").accepted;
//! assert!(accepted > 0 && accepted < 10, "a 50% rollout");
//! assert!(text.contains(&format!("flowgate_flows_accepted_total{{flag=\"Checkout\"}} {accepted}")));
//! assert!(text.contains(&format!("flowgate_flow_duration_seconds_count{{flag=\"Checkout\"}} {accepted}")));
//! # Ok::<(), flowgate::ConfigError>(())
//! ```
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `flowgate_flows_accepted_total` | counter | `flag` |
//! | `flowgate_flows_rejected_total` | counter | `flag`, `reason` ([`RejectReason`] in snake case) |
//! | `flowgate_flows_ended_total` | counter | `flag`, `status` (`ok`, `error`, `cancelled`) |
//! | `flowgate_flows_by_fallback_total` | counter | `flag` |
//! | `flowgate_flows_in_flight` | gauge | `flag` |
//! | `flowgate_flows_queued` | gauge | `flag` |
//! | `flowgate_flow_duration_seconds` | histogram | `flag` (accepted flows, decision to end) |
//! | `flowgate_queue_wait_seconds` | histogram | `flag` (time waited for a concurrency slot) |
//! | `flowgate_concurrency_limit` | gauge | `flag` (the limit's `max`) |
//! | `flowgate_source_ready` | gauge | `source` |
//! | `flowgate_source_serving` | gauge | `source`, `state` (`live`, `backup`, `bootstrap`, `fallback`; 1 for the current) |
//! | `flowgate_source_updates_total` | counter | `source`, `result` (`applied`, `failed`) |
//! | `flowgate_source_last_success_timestamp_seconds` | gauge | `source` |
//! | `flowgate_source_flags` | gauge | `source` (flags with rules) |
//!
//! **On the gate's path:** the counters are the client's own sharded counters, read at
//! scrape; registering turns on the histograms, which cost two reads of the clock per
//! accepted flow (and sharded writes, no shared one). Nothing locks a gate. Label values
//! of keyed limits are not exported (their number is bounded only by `max_keys`); read
//! them from [`Client::inspect`].
//!
//! With the `axum` feature, `router` serves a registry at `GET /`; mount it where your
//! scraper looks, and keep it off the public internet.

use std::time::UNIX_EPOCH;

use prometheus_client::collector::Collector as PromCollector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::inspect::Inspection;
use crate::reject::RejectReason;
use crate::Client;

/// Registers a [`Collector`] of `client` with `registry`, and starts timing `client`'s
/// flows for the histograms.
pub fn register(client: &Client, registry: &mut Registry) {
    registry.register_collector(Box::new(Collector::new(client)));
}

/// The collector [`register`] registers: every scrape reads the client's counts and
/// [`Client::inspect`].
#[derive(Debug, Clone)]
pub struct Collector {
    client: Client,
}

impl Collector {
    /// A collector of `client`; its flows are timed from now on.
    pub fn new(client: &Client) -> Self {
        client.time_flows();
        Self {
            client: client.clone(),
        }
    }
}

type Labels<'a> = [(&'static str, &'a str)];

/// One metric family: its descriptor, then a sample per label set.
fn family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'static str, String)>, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in samples {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let labels: &Labels<'_> = &labels;
        let mut sample = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => sample.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => sample.encode_gauge(&value)?,
        }
    }
    Ok(())
}

fn per_flag<'i>(
    inspection: &'i Inspection,
    value: impl Fn(&crate::inspect::FlagState) -> Option<u64> + 'i,
) -> impl Iterator<Item = (Vec<(&'static str, String)>, u64)> + 'i {
    inspection
        .flags
        .iter()
        .filter_map(move |flag| Some((vec![("flag", flag.name.clone())], value(flag)?)))
}

impl PromCollector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let inspection = self.client.inspect();
        let seen = |flag: &crate::inspect::FlagState| {
            flag.flows.accepted + flag.flows.rejected > 0 || flag.rules.is_some()
        };
        family(
            &mut encoder,
            "flowgate_flows_accepted",
            "Flows whose body was allowed to run.",
            None,
            MetricType::Counter,
            per_flag(&inspection, |f| seen(f).then_some(f.flows.accepted)),
        )?;
        family(
            &mut encoder,
            "flowgate_flows_rejected",
            "Flows whose body was not run, by reason.",
            None,
            MetricType::Counter,
            inspection
                .flags
                .iter()
                .filter(|f| seen(f))
                .flat_map(|flag| {
                    RejectReason::ALL.into_iter().map(|reason| {
                        (
                            vec![
                                ("flag", flag.name.clone()),
                                ("reason", reason.as_str().to_owned()),
                            ],
                            flag.flows.rejected_by_reason.get(reason),
                        )
                    })
                }),
        )?;
        family(
            &mut encoder,
            "flowgate_flows_ended",
            "Accepted flows that ended, by status.",
            None,
            MetricType::Counter,
            inspection
                .flags
                .iter()
                .filter(|f| seen(f))
                .flat_map(|flag| {
                    [
                        ("ok", flag.flows.ok),
                        ("error", flag.flows.error),
                        ("cancelled", flag.flows.cancelled),
                    ]
                    .map(|(status, count)| {
                        (
                            vec![("flag", flag.name.clone()), ("status", status.to_owned())],
                            count,
                        )
                    })
                }),
        )?;
        family(
            &mut encoder,
            "flowgate_flows_by_fallback",
            "Flows decided by the flag's fallback because the source could not decide.",
            None,
            MetricType::Counter,
            per_flag(&inspection, |f| seen(f).then_some(f.flows.by_fallback)),
        )?;
        family(
            &mut encoder,
            "flowgate_flows_in_flight",
            "Accepted flows that have not ended.",
            None,
            MetricType::Gauge,
            per_flag(&inspection, |f| seen(f).then_some(f.flows.in_flight)),
        )?;
        family(
            &mut encoder,
            "flowgate_flows_queued",
            "Flows waiting for a concurrency slot.",
            None,
            MetricType::Gauge,
            per_flag(&inspection, |f| seen(f).then_some(f.flows.queued)),
        )?;
        family(
            &mut encoder,
            "flowgate_concurrency_limit",
            "Flows a flag's concurrency limit allows at once (per label value when keyed).",
            None,
            MetricType::Gauge,
            per_flag(&inspection, |f| {
                Some(f.limits.as_ref()?.concurrency.as_ref()?.max as u64)
            }),
        )?;
        self.encode_timings(&mut encoder)?;
        encode_source(&mut encoder, &inspection)
    }
}

impl Collector {
    fn encode_timings(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let timings = self.client.flow_timings();
        for (name, help, pick) in [
            (
                "flowgate_flow_duration",
                "How long accepted flows ran, from the decision to their end.",
                0,
            ),
            (
                "flowgate_queue_wait",
                "How long flows waited for a concurrency slot.",
                1,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (flag, duration, wait) in &timings {
                let counts = if pick == 0 { duration } else { wait };
                let labels: &Labels<'_> = &[("flag", flag)];
                metric
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        counts.sum_seconds,
                        counts.count,
                        &counts.buckets,
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

fn encode_source(
    encoder: &mut DescriptorEncoder<'_>,
    inspection: &Inspection,
) -> Result<(), std::fmt::Error> {
    let source = &inspection.source;
    let labels = || vec![("source", source.name.clone())];
    family(
        encoder,
        "flowgate_source_ready",
        "Whether the decision source has a state to decide from.",
        None,
        MetricType::Gauge,
        [(labels(), u64::from(source.ready))],
    )?;
    family(
        encoder,
        "flowgate_source_serving",
        "Which state the source decides from (1 for the current one).",
        None,
        MetricType::Gauge,
        ["live", "backup", "bootstrap", "fallback"].map(|state| {
            let mut labels = labels();
            labels.push(("state", state.to_owned()));
            (labels, u64::from(source.serving == state))
        }),
    )?;
    family(
        encoder,
        "flowgate_source_updates",
        "Updates of the source's state (reloads, fetches), by result.",
        None,
        MetricType::Counter,
        [
            ("applied", source.updates.applied),
            ("failed", source.updates.failed),
        ]
        .map(|(result, count)| {
            let mut labels = labels();
            labels.push(("result", result.to_owned()));
            (labels, count)
        }),
    )?;
    family(
        encoder,
        "flowgate_source_flags",
        "Flags the source has rules for.",
        None,
        MetricType::Gauge,
        [(
            labels(),
            inspection
                .flags
                .iter()
                .filter(|f| f.rules.is_some())
                .count() as u64,
        )],
    )?;
    let mut metric = encoder.encode_descriptor(
        "flowgate_source_last_success_timestamp",
        "When the source last replaced or confirmed its state (Unix time).",
        Some(&Unit::Seconds),
        MetricType::Gauge,
    )?;
    if let Some(at) = source.updates.last_success {
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let labels: &Labels<'_> = &[("source", &source.name)];
        metric.encode_family(&labels)?.encode_gauge(&seconds)?;
    }
    Ok(())
}

/// An axum router that serves `registry` at `GET /` (features `prometheus` and
/// `axum`): in the OpenMetrics text format to a scraper that asks for it (Prometheus
/// does, in its `Accept` header), else in the Prometheus text format 0.0.4 (`curl`,
/// `promtool check metrics`, older scrapers).
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = flowgate::Client::from_file("flowgate.toml")?;
/// let mut registry = prometheus_client::registry::Registry::default();
/// flowgate::prometheus::register(&client, &mut registry);
/// // Your own metrics go in the same registry.
/// let app = axum::Router::new()
///     .nest("/metrics", flowgate::prometheus::router(std::sync::Arc::new(registry)));
/// # let _ = app; Ok(()) }
/// ```
#[cfg(feature = "axum")]
pub fn router(registry: std::sync::Arc<Registry>) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    use std::sync::Arc;

    axum::Router::new().route(
        "/",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let registry = Arc::clone(&registry);
            async move {
                let openmetrics = headers
                    .get_all(axum::http::header::ACCEPT)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .any(|accept| accept.contains("application/openmetrics-text"));
                let mut text = String::new();
                let (encoded, content_type) = if openmetrics {
                    (
                        prometheus_client::encoding::text::encode(&mut text, &registry),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )
                } else {
                    (
                        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry),
                        prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    )
                };
                match encoded {
                    Ok(()) => ([(CONTENT_TYPE, content_type)], text).into_response(),
                    Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    )
}
