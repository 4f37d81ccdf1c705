//! What an Unleash client tells its server: that it exists (`/client/register`) and
//! how often each flag was evaluated (`/client/metrics`).

use super::poll::Poller;
use super::{SDK_NAME, SPEC_VERSION};

impl Poller {
    pub(super) async fn register(&self) {
        let body = serde_json::json!({
            "appName": self.config.app_name,
            "instanceId": self.config.instance_id,
            "connectionId": self.config.connection_id,
            "sdkVersion": SDK_NAME,
            "strategies": [
                "default", "userWithId", "gradualRolloutUserId", "gradualRolloutSessionId",
                "gradualRolloutRandom", "flexibleRollout", "remoteAddress", "applicationHostname"
            ],
            "started": jiff::Timestamp::now().to_string(),
            "interval": u64::try_from(self.config.refresh_interval.as_millis()).unwrap_or(u64::MAX),
            "platformName": "rust",
            "specVersion": SPEC_VERSION,
        });
        match self.post("/client/register", &body).await {
            Ok(()) => self.control.update(|s| s.registered = true),
            Err(error) => {
                tracing::warn!(target: "flowgate", %error, "cannot register with Unleash");
            }
        }
    }

    /// Sends the usage counted since `start`; returns when the next bucket starts.
    pub(super) async fn send_metrics(&mut self, start: jiff::Timestamp) -> jiff::Timestamp {
        let stop = jiff::Timestamp::now();
        let usage = self.store.take_usage();
        if usage.is_empty() {
            return stop;
        }
        let toggles: serde_json::Map<String, serde_json::Value> = usage
            .into_iter()
            .map(|(name, yes, no, variants)| {
                let variants: serde_json::Map<String, serde_json::Value> =
                    variants.into_iter().map(|(n, c)| (n, c.into())).collect();
                (
                    name,
                    serde_json::json!({ "yes": yes, "no": no, "variants": variants }),
                )
            })
            .collect();
        let body = serde_json::json!({
            "appName": self.config.app_name,
            "instanceId": self.config.instance_id,
            "connectionId": self.config.connection_id,
            "sdkVersion": SDK_NAME,
            "platformName": "rust",
            "specVersion": SPEC_VERSION,
            "bucket": { "start": start.to_string(), "stop": stop.to_string(), "toggles": toggles },
        });
        match self.post("/client/metrics", &body).await {
            Ok(()) => {
                self.control.update(|s| s.metrics_sent += 1);
                let _ = self.report_outage.succeeded(std::time::Instant::now());
            }
            // Once as the reports start failing, then every few minutes (see
            // `outage.rs`); the polls' own outage says when Unleash answers again.
            Err(error) => match self.report_outage.failed(std::time::Instant::now()) {
                Some(_) => {
                    tracing::warn!(target: "flowgate", %error, "cannot send metrics to Unleash");
                }
                None => {
                    tracing::debug!(target: "flowgate", %error, "cannot send metrics to Unleash");
                }
            },
        }
        stop
    }

    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{path} answered {}", response.status()))
        }
    }
}
