//! The Redis server (or cluster) global limits keep their state in: one connection
//! (see `connection.rs`) on a runtime of flowgate's own, so that limits work the same
//! under any executor and under blocking gates.
//!
//! Every request is bounded by [`OP_TIMEOUT`]; a request that fails or times out marks
//! the store down ([`Health`]), and while it is down no flow waits on it: the limits
//! apply `on_store_error` until the heartbeat (every [`HEARTBEAT`]) reaches the store
//! again. The heartbeat also counts the instances that use it, for `on_store_error =
//! "local"` when `instances` is not configured.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flowgate_config::{redacted_url, ConfigError, OnStoreError};

use super::connection::Connection;
use super::health::Health;
use super::keys;
use crate::background::Background;

/// The longest a request to the store may take before it counts as failed.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_millis(250);

/// How often each instance says it is alive (and checks a store that is down).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// The environment variable read when `[store]` names no URL.
pub(crate) const URL_VARIABLE: &str = "FLOWGATE_REDIS_URL";

/// A connection to the store, shared by every global limit of a client.
pub(crate) struct Store {
    connection: Connection,
    runtime: Background,
    /// This process, as the store knows it: host, process id and a random part.
    instance: String,
    /// As configured (`instances`), else as last counted; at least 1.
    instances: AtomicU32,
    configured_instances: Option<u32>,
    pub(crate) on_error: OnStoreError,
    pub(crate) health: Health,
    /// The URL without its password, for messages.
    shown: String,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.shown)
            .field("instance", &self.instance)
            .field("on_store_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store for `config` (its URL, else [`URL_VARIABLE`]); connects lazily, so a
    /// store that is down at start is a store that is down, not an error.
    ///
    /// `origin` names the rules file in errors; `flag` is the first with a global limit.
    ///
    /// # Errors
    /// No URL anywhere, a URL the redis crate cannot read, or no runtime for it.
    /// When both `[store] redis` and the variable are set, the file's URL is used.
    pub(crate) fn open(
        config: &flowgate_config::Store,
        origin: &str,
        flag: &flowgate_config::Flag,
    ) -> Result<Arc<Self>, ConfigError> {
        // Placed at the `[store]` table, else at the flag that needs one.
        let place = |error: ConfigError| match config.line {
            0 => error.at(flag.line, 1).in_flag(flag.name.as_str()),
            line => error.at(line, 1),
        };
        let cluster = !config.cluster.is_empty();
        let url = match (&config.redis, cluster) {
            (_, true) => config.cluster.join(","),
            (Some(url), false) => url.clone(),
            (None, false) => std::env::var(URL_VARIABLE).map_err(|_| {
                place(
                    ConfigError::new(
                        origin,
                        format!(
                            "a global limit is kept in Redis: add `[store] redis = \
                             \"redis://host:6379/0\"`, or set the {URL_VARIABLE} variable"
                        ),
                    )
                    .at_key("scope"),
                )
            })?,
        };
        let shown = if cluster {
            let nodes: Vec<String> = config.cluster.iter().map(|url| redacted_url(url)).collect();
            format!("cluster {}", nodes.join(", "))
        } else {
            redacted_url(&url)
        };
        if config.redis.is_none() && !cluster {
            flowgate_config::check_store_url(&url)
                .map_err(|message| ConfigError::new(URL_VARIABLE, message))?;
        }
        let runtime = Background::start("flowgate-store", "store")?;
        let connection = {
            let _in_runtime = runtime.handle().enter();
            if cluster {
                Connection::cluster(&config.cluster, OP_TIMEOUT)
            } else {
                Connection::single(&url, OP_TIMEOUT)
            }
        }
        .map_err(|error| {
            place(
                ConfigError::new(
                    origin,
                    format!(
                        "the store's URL {shown:?} cannot be used ({:?}): the port is a number \
                         from 1 to 65535 and the database a number (`redis://host:6379/0`)",
                        error.kind()
                    ),
                )
                .at_key(if cluster { "cluster" } else { "redis" }),
            )
        })?;
        let store = Arc::new(Self {
            connection,
            runtime,
            instance: instance_name(),
            instances: AtomicU32::new(config.instances.unwrap_or(1).max(1)),
            configured_instances: config.instances,
            on_error: config.on_store_error,
            health: Health::new(shown.clone()),
            shown,
            url,
        });
        store.spawn(heartbeat(Arc::downgrade(&store)));
        Ok(store)
    }

    /// Whether this store is the one `config` describes (same URL and settings).
    pub(crate) fn is_for(&self, config: &flowgate_config::Store) -> bool {
        let url = if config.cluster.is_empty() {
            config
                .redis
                .clone()
                .or_else(|| std::env::var(URL_VARIABLE).ok())
        } else {
            Some(config.cluster.join(","))
        };
        url.as_deref() == Some(self.url.as_str())
            && config.on_store_error == self.on_error
            && config.instances == self.configured_instances
    }

    /// This process's name in the store.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// How many instances share the limits (at least 1).
    pub(crate) fn instances(&self) -> u32 {
        self.instances.load(Ordering::Relaxed).max(1)
    }

    /// Runs `task` on the store's runtime.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.runtime.handle().spawn(task);
    }

    /// Runs `script` with `keys`, then `text` and `args` as arguments, within
    /// [`OP_TIMEOUT`]; marks the store down on failure and up on success. `None`:
    /// failed (already counted and logged).
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        text: Option<&str>,
        args: &[i64],
    ) -> Option<T> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        if let Some(text) = text {
            invocation.arg(text);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let call = self.connection.invoke::<T>(&invocation);
        match tokio::time::timeout(OP_TIMEOUT, call).await {
            Ok(Ok(value)) => {
                self.health.succeeded();
                Some(value)
            }
            Ok(Err(error)) => {
                self.health.failed(&describe(&error));
                None
            }
            Err(_elapsed) => {
                self.health.failed("no reply within 250 ms");
                None
            }
        }
    }

    /// Runs `future` on the store's runtime and waits for it, for work that must be
    /// done before the caller goes on (giving leases back when a client is dropped).
    /// Not to be called from the store's own runtime.
    pub(crate) fn run_blocking<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (sender, receiver) = std::sync::mpsc::channel();
        self.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv_timeout(OP_TIMEOUT * 2).ok()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        tracing::debug!(target: "flowgate", store = %self.shown, "store closed");
    }
}

/// A store error in words, without the URL (which may carry a password).
fn describe(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connection_refusal() {
        "connection refused".to_owned()
    } else if error.is_io_error() || error.is_connection_dropped() {
        "connection lost".to_owned()
    } else {
        format!("{:?}", error.kind())
    }
}

/// KEYS[1]: the instances seen lately (sorted set, scored by when). ARGV: this
/// instance, now (ms), the oldest time still alive, the key's time to live (ms).
/// A script rather than a transaction: one key, so it runs on a cluster too.
static HEARTBEAT_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
",
    )
});

/// Says every [`HEARTBEAT`] that this instance is alive, counts the instances alive,
/// and so notices a store that came back. Ends when the store is dropped.
async fn heartbeat(store: std::sync::Weak<Store>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        let now = unix_ms();
        let args = [now, now - 5 * millis(HEARTBEAT), 10 * millis(HEARTBEAT)];
        let counted: Option<u32> = store
            .run(
                &HEARTBEAT_SCRIPT,
                &[keys::INSTANCES],
                Some(store.instance()),
                &args,
            )
            .await;
        if let (Some(alive), None) = (counted, store.configured_instances) {
            store.instances.store(alive.max(1), Ordering::Relaxed);
        }
    }
}

/// Milliseconds since the Unix epoch, for scores only other instances' heartbeats
/// compare with (loosely: five heartbeats of slack).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `host-pid-random`: unique among the instances, readable in `redis-cli`.
fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    let host: String = host
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}
