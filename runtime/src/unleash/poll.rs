//! The background work of an Unleash source: fetching features, registering, and
//! sending usage metrics, on a thread of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;

use flowgate_config::ConfigError;

use super::state::FeatureState;
use super::{backup, UnleashConfig, UnleashStats, SDK_NAME, SPEC_VERSION};
use crate::rules::RuleStore;

/// Shared between the source's handle and its thread.
#[derive(Debug, Default)]
pub(super) struct Control {
    stop: AtomicBool,
    wake: tokio::sync::Notify,
    stats: Mutex<UnleashStats>,
    fetched: std::sync::Condvar,
}

impl Control {
    pub(super) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(super) fn stats(&self) -> UnleashStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut UnleashStats)) {
        change(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn fetch_done(&self, backoff: u32) {
        self.update(|s| {
            s.fetches += 1;
            s.backoff = backoff;
        });
        self.fetched.notify_all();
    }

    pub(super) fn wait_for_fetch(
        &self,
        fetches: u64,
        timeout: std::time::Duration,
    ) -> UnleashStats {
        let stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let (stats, _) = self
            .fetched
            .wait_timeout_while(stats, timeout, |s| s.fetches <= fetches)
            .unwrap_or_else(PoisonError::into_inner);
        stats.clone()
    }
}

/// The longest back-off: ten refresh intervals, as the Unleash SDKs do.
const MAX_BACKOFF: u32 = 10;

pub(super) fn spawn(
    config: UnleashConfig,
    store: Arc<RuleStore>,
    control: Arc<Control>,
) -> Result<std::thread::JoinHandle<()>, ConfigError> {
    let origin = config.url.clone();
    let http = http_client(&config).map_err(|message| ConfigError::new(&origin, message))?;
    // The thread logs where its creator would: a scoped subscriber included.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    std::thread::Builder::new()
        .name("flowgate-unleash".into())
        .spawn(move || tracing::dispatcher::with_default(&dispatch, || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(target: "flowgate", %error, "cannot start the Unleash client's runtime");
                    return;
                }
            };
            runtime.block_on(Poller { config, store, control, http, etag: None }.run());
        }))
        .map_err(|e| ConfigError::new(&origin, format!("cannot start the Unleash client: {e}")))
}

/// The headers of every request. The token goes in a header marked sensitive, so that
/// it never appears in `Debug` output or logs of the HTTP stack.
fn http_client(config: &UnleashConfig) -> Result<reqwest::Client, String> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str, sensitive: bool| -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        let mut value = HeaderValue::from_str(value)
            // The value may be the token: say which header, never what was in it.
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        value.set_sensitive(sensitive);
        headers.insert(name, value);
        Ok(())
    };
    add("authorization", &config.api_token, true)?;
    add("unleash-appname", &config.app_name, false)?;
    add("unleash-instanceid", &config.instance_id, false)?;
    add("unleash-connection-id", &config.connection_id, false)?;
    add("unleash-sdk", SDK_NAME, false)?;
    add("unleash-client-spec", SPEC_VERSION, false)?;
    for (name, value) in &config.custom_headers {
        add(name, value, false)?;
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(format!("{SDK_NAME} ({})", config.app_name))
        .timeout(config.request_timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

struct Poller {
    config: UnleashConfig,
    store: Arc<RuleStore>,
    control: Arc<Control>,
    http: reqwest::Client,
    etag: Option<HeaderValue>,
}

enum Fetched {
    Updated,
    Unchanged,
    /// Try again, later than usual.
    BackOff,
    /// Keep the state, try again as usual.
    Failed,
    /// The configuration is wrong: polling stops.
    Stop,
}

impl Poller {
    async fn run(mut self) {
        let connection_id = self.config.connection_id.clone();
        self.register(&connection_id).await;
        let mut backoff = 0;
        let mut metrics_due = tokio::time::Instant::now() + self.config.metrics_interval;
        let mut polling = true;
        let mut next_fetch = tokio::time::Instant::now();
        let mut bucket_start = jiff::Timestamp::now();
        loop {
            if self.control.stopping() {
                break;
            }
            let now = tokio::time::Instant::now();
            if polling && now >= next_fetch {
                match self.fetch().await {
                    Fetched::Updated | Fetched::Unchanged => backoff = 0,
                    Fetched::BackOff => backoff = (backoff + 1).min(MAX_BACKOFF),
                    Fetched::Failed => {}
                    Fetched::Stop => polling = false,
                }
                self.control.fetch_done(backoff);
                next_fetch =
                    tokio::time::Instant::now() + self.config.refresh_interval * (backoff + 1);
            }
            if tokio::time::Instant::now() >= metrics_due {
                bucket_start = self.send_metrics(&connection_id, bucket_start).await;
                metrics_due = tokio::time::Instant::now() + self.config.metrics_interval;
            }
            let wake_at = if polling {
                next_fetch.min(metrics_due)
            } else {
                metrics_due
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake_at) => {}
                () = self.control.wake.notified() => {}
            }
        }
        // Flush what was counted since the last report.
        self.send_metrics(&connection_id, bucket_start).await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url)
    }

    async fn fetch(&mut self) -> Fetched {
        let mut request = self.http.get(self.url("/client/features"));
        if let Some(etag) = &self.etag {
            request = request.header("if-none-match", etag.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(
                    target: "flowgate",
                    error = %error.without_url(),
                    url = %self.config.url,
                    "cannot reach Unleash; decisions continue on the last state"
                );
                self.control.update(|s| s.failures += 1);
                return Fetched::Failed;
            }
        };
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED => {
                self.control.update(|s| s.not_modified += 1);
                Fetched::Unchanged
            }
            StatusCode::OK => {
                let etag = response.headers().get("etag").cloned();
                let body = match response.text().await {
                    Ok(body) => body,
                    Err(error) => {
                        tracing::warn!(target: "flowgate", error = %error.without_url(), "the Unleash reply was cut short; the last state stays");
                        self.control.update(|s| s.failures += 1);
                        return Fetched::Failed;
                    }
                };
                match FeatureState::parse(&body, "Unleash /client/features") {
                    Ok(state) => {
                        // On disk before it is served: whatever a caller has been
                        // told, a restart during an outage serves it (or newer) too.
                        self.save_backup(&body);
                        self.store.install(state.compile());
                        self.etag = etag;
                        self.control.update(|s| s.updates += 1);
                        Fetched::Updated
                    }
                    Err(error) => {
                        tracing::warn!(target: "flowgate", %error, "Unleash sent features that do not read; the last state stays");
                        self.control.update(|s| s.failures += 1);
                        Fetched::Failed
                    }
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                tracing::error!(
                    target: "flowgate",
                    status = status.as_u16(),
                    url = %self.config.url,
                    "Unleash refused the client (check the URL and the API token); \
                     polling stops, decisions continue on the last state"
                );
                self.control.update(|s| {
                    s.failures += 1;
                    s.stopped = true;
                });
                Fetched::Stop
            }
            status if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                tracing::warn!(target: "flowgate", status = status.as_u16(), "Unleash is busy; backing off");
                self.control.update(|s| s.failures += 1);
                Fetched::BackOff
            }
            status => {
                tracing::warn!(target: "flowgate", status = status.as_u16(), "unexpected reply from Unleash; the last state stays");
                self.control.update(|s| s.failures += 1);
                Fetched::Failed
            }
        }
    }

    fn save_backup(&self, body: &str) {
        if let Some(path) = &self.config.backup_path {
            if let Err(error) = backup::write_atomically(path, body) {
                tracing::warn!(target: "flowgate", file = %path.display(), %error, "cannot write the Unleash backup");
            }
        }
    }

    async fn register(&self, connection_id: &str) {
        let body = serde_json::json!({
            "appName": self.config.app_name,
            "instanceId": self.config.instance_id,
            "connectionId": connection_id,
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
    async fn send_metrics(&self, connection_id: &str, start: jiff::Timestamp) -> jiff::Timestamp {
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
            "connectionId": connection_id,
            "sdkVersion": SDK_NAME,
            "platformName": "rust",
            "specVersion": SPEC_VERSION,
            "bucket": { "start": start.to_string(), "stop": stop.to_string(), "toggles": toggles },
        });
        match self.post("/client/metrics", &body).await {
            Ok(()) => self.control.update(|s| s.metrics_sent += 1),
            Err(error) => {
                tracing::warn!(target: "flowgate", %error, "cannot send metrics to Unleash");
            }
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
