//! The background work of an Unleash source, on a thread of its own: fetching the
//! features every refresh interval (with `If-None-Match`), backing off when the server
//! is busy (as long as its `Retry-After` asks, at least, with jitter), stopping for good
//! when it refuses the client, and reporting usage (`report.rs`).
//!
//! Every wait races the stop signal, so a stop is seen at once; the last metrics are
//! then sent within [`FLUSH_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use flowgate_config::ConfigError;
use reqwest::header::HeaderValue;
use reqwest::StatusCode;

use super::control::Control;
use super::outage::{self, Outage, Say};
use super::state::FeatureState;
use super::{backup, http, location, UnleashConfig};
use crate::rules::RuleStore;
use crate::source::Serving;

/// The longest back-off: ten refresh intervals, as the Unleash SDKs do.
const MAX_BACKOFF: u32 = 10;

/// The longest a stopping client spends sending its last metrics.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP client for `config`: made before anything else at start, so that a
/// configuration it refuses touches nothing.
pub(super) fn http_client(config: &UnleashConfig) -> Result<reqwest::Client, ConfigError> {
    http::client(config).map_err(|message| ConfigError::new(&config.url, message))
}

pub(super) fn spawn(
    config: UnleashConfig,
    http: reqwest::Client,
    store: Arc<RuleStore>,
    control: Arc<Control>,
) -> Result<std::thread::JoinHandle<()>, ConfigError> {
    let origin = config.url.clone();
    // The thread logs where its creator would: a scoped subscriber included.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    std::thread::Builder::new()
        .name("flowgate-unleash".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(target: "flowgate", %error, "cannot start the Unleash client's runtime");
                        return;
                    }
                };
                let poller = Poller {
                    config,
                    store,
                    control,
                    http,
                    etag: None,
                    outage: Outage::default(),
                    report_outage: Outage::default(),
                    backup_current: false,
                    backup_failing: false,
                };
                runtime.block_on(poller.run());
            });
        })
        .map_err(|e| ConfigError::new(&origin, format!("cannot start the Unleash client: {e}")))
}

pub(super) struct Poller {
    pub(super) config: UnleashConfig,
    pub(super) store: Arc<RuleStore>,
    pub(super) control: Arc<Control>,
    pub(super) http: reqwest::Client,
    etag: Option<HeaderValue>,
    /// When the polls fail: logged as an outage starts, every few minutes, and ends.
    outage: Outage,
    /// The same for the metrics reports.
    pub(super) report_outage: Outage,
    /// Whether the backup holds the state served (so a `304` may mark it confirmed).
    backup_current: bool,
    /// Whether the last backup write failed (said once, until one works again).
    backup_failing: bool,
}

enum Fetched {
    Updated,
    Unchanged,
    /// Try again later than usual; at least this long if the server said.
    BackOff(Option<Duration>),
    /// Keep the state, try again as usual.
    Failed,
    /// The configuration is wrong: polling stops.
    Stop,
}

/// `wait` and up to a fifth more, so that clients that backed off together do not all
/// come back at once.
fn jittered(wait: Duration) -> Duration {
    wait + wait.mul_f64(fastrand::f64() * 0.2)
}

impl Poller {
    async fn run(mut self) {
        let control = Arc::clone(&self.control);
        if control.unless_stopped(self.register()).await.is_none() {
            return;
        }
        let mut backoff = 0;
        let mut metrics_due = tokio::time::Instant::now() + self.config.metrics_interval;
        let mut polling = true;
        let mut next_fetch = tokio::time::Instant::now();
        let mut bucket_start = jiff::Timestamp::now();
        while !control.stopping() {
            if polling && tokio::time::Instant::now() >= next_fetch {
                let Some(fetched) = control.unless_stopped(self.fetch()).await else {
                    break;
                };
                let mut wait = self.config.refresh_interval;
                match fetched {
                    Fetched::Updated | Fetched::Unchanged => {
                        backoff = 0;
                        self.answered();
                    }
                    Fetched::BackOff(asked) => {
                        backoff = (backoff + 1).min(MAX_BACKOFF);
                        wait = jittered(wait * (backoff + 1)).max(asked.unwrap_or_default());
                    }
                    Fetched::Failed => {}
                    Fetched::Stop => polling = false,
                }
                control.fetch_done(backoff);
                next_fetch = tokio::time::Instant::now() + wait;
            }
            if tokio::time::Instant::now() >= metrics_due {
                let Some(next) = control
                    .unless_stopped(self.send_metrics(bucket_start))
                    .await
                else {
                    break;
                };
                bucket_start = next;
                metrics_due = tokio::time::Instant::now() + self.config.metrics_interval;
            }
            let wake_at = if polling {
                next_fetch.min(metrics_due)
            } else {
                metrics_due
            };
            if control
                .unless_stopped(tokio::time::sleep_until(wake_at))
                .await
                .is_none()
            {
                break;
            }
        }
        // Flush what was counted since the last report, within a bound.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, self.send_metrics(bucket_start)).await;
    }

    pub(super) fn url(&self, path: &str) -> String {
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
                self.failed("cannot reach Unleash", &error.without_url());
                return Fetched::Failed;
            }
        };
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED => {
                self.control.update(|s| {
                    s.not_modified += 1;
                    s.succeeded();
                });
                self.confirm_backup();
                Fetched::Unchanged
            }
            StatusCode::OK => {
                let etag = response.headers().get("etag").cloned();
                let state = match http::text(response).await {
                    Ok(body) => FeatureState::parse(&body, "Unleash /client/features")
                        .map(|state| (state, body))
                        .map_err(|error| error.to_string()),
                    Err(error) => Err(error),
                };
                match state {
                    Ok((state, body)) => {
                        // On disk before it is served: whatever a caller has been
                        // told, a restart during an outage serves it (or newer) too.
                        self.save_backup(&body);
                        let flags = state.len();
                        self.store.install(state.compile());
                        self.etag = etag;
                        self.control.update(|s| {
                            s.updates += 1;
                            s.succeeded();
                        });
                        self.serve_live(flags);
                        Fetched::Updated
                    }
                    Err(error) => {
                        self.failed("Unleash's reply is not a feature state", &error);
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
                    s.last_error = Some(format!(
                        "Unleash refused the client with status {}; polling stopped",
                        status.as_u16()
                    ));
                });
                Fetched::Stop
            }
            status if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                let asked = http::retry_after(response.headers());
                self.failed(
                    "Unleash is busy (backing off)",
                    &format_args!("status {}, retry after {asked:?}", status.as_u16()),
                );
                Fetched::BackOff(asked)
            }
            status => {
                self.failed(
                    "unexpected reply from Unleash",
                    &format_args!("status {}", status.as_u16()),
                );
                Fetched::Failed
            }
        }
    }

    /// A failed poll: counted, and logged as [`Outage`] says (once as an outage
    /// starts, then every few minutes with its length and count).
    fn failed(&mut self, what: &str, detail: &dyn std::fmt::Display) {
        self.control.update(|s| {
            s.failures += 1;
            s.last_error = Some(format!("{what}: {detail}"));
        });
        match self.outage.failed(std::time::Instant::now()) {
            Some(Say::Started) => tracing::warn!(
                target: "flowgate",
                url = %self.config.url,
                "{what}: {detail}; decisions continue on the last state (said again every {} minutes while it lasts)",
                outage::REPEAT.as_secs() / 60
            ),
            Some(Say::Continues { lasted, failures }) => tracing::warn!(
                target: "flowgate",
                url = %self.config.url,
                failures,
                "{what}: {detail}; for {}s now, {failures} polls failed; decisions continue on the last state",
                lasted.as_secs()
            ),
            None => tracing::debug!(target: "flowgate", "{what}: {detail}"),
        }
    }

    /// A poll that Unleash answered: the end of an outage, if one was going on.
    fn answered(&mut self) {
        if let Some((lasted, failures)) = self.outage.succeeded(std::time::Instant::now()) {
            tracing::info!(
                target: "flowgate",
                url = %self.config.url,
                "Unleash answers again, after {}s and {failures} failed polls",
                lasted.as_secs()
            );
        }
    }

    /// Says, once, that the state fetched replaces what was served before it.
    fn serve_live(&self, flags: usize) {
        match self.control.serve_live() {
            Serving::Live => {}
            Serving::Fallback => tracing::info!(
                target: "flowgate",
                url = %self.config.url,
                flags,
                "first Unleash state fetched"
            ),
            before => tracing::info!(
                target: "flowgate",
                url = %self.config.url,
                flags,
                "Unleash answered: its state replaces the {}",
                before.kind()
            ),
        }
    }

    fn save_backup(&mut self, body: &str) {
        let Some(path) = location::backup_file(&self.config) else {
            return;
        };
        match backup::write_atomically(&path, body) {
            Ok(()) => {
                self.backup_current = true;
                if std::mem::take(&mut self.backup_failing) {
                    tracing::info!(target: "flowgate", file = %path.display(), "the Unleash backup is written again");
                }
            }
            Err(error) => {
                self.backup_current = false;
                if !std::mem::replace(&mut self.backup_failing, true) {
                    tracing::warn!(
                        target: "flowgate",
                        file = %path.display(),
                        %error,
                        "cannot write the Unleash backup (said once, until a write works); \
                         the new state is served all the same"
                    );
                }
            }
        }
    }

    /// A `304`: the backup, if it holds the state served, is confirmed now.
    fn confirm_backup(&self) {
        if !self.backup_current {
            return;
        }
        if let Some(path) = location::backup_file(&self.config) {
            if let Err(error) = backup::mark_confirmed(&path) {
                tracing::debug!(target: "flowgate", file = %path.display(), %error, "cannot mark the Unleash backup confirmed");
            }
        }
    }
}
