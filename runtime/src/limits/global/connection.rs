//! The connection to the store: one Redis server, through redis's `ConnectionManager`
//! (one multiplexed connection that reconnects by itself), or a Redis Cluster, through
//! redis's cluster client (connected on first use, and again after a failure; it routes
//! each script to the node of its keys' slot, which is why the keys of one limit share
//! a hash tag: see `keys.rs`).
//!
//! Neither connects when made: a store that is down at start is a store that is down,
//! handled by `on_store_error`, not an error that stops the service.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{RedisResult, ScriptInvocation};

/// See the module documentation.
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(Box<Cluster>),
}

/// A cluster's client, and its connection once made.
pub(crate) struct Cluster {
    client: ClusterClient,
    connected: tokio::sync::Mutex<Option<ClusterConnection>>,
}

impl Connection {
    /// A connection to the server at `url`, made lazily. Must be called inside the
    /// store's runtime (the manager is tied to it).
    pub(crate) fn single(url: &str, timeout: Duration) -> RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        ConnectionManager::new_lazy_with_config(client, settings).map(Self::Single)
    }

    /// A connection to the cluster whose nodes include `urls`, made on first use.
    pub(crate) fn cluster(urls: &[String], timeout: Duration) -> RedisResult<Self> {
        let client = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()?;
        Ok(Self::Cluster(Box::new(Cluster {
            client,
            connected: tokio::sync::Mutex::new(None),
        })))
    }

    /// Runs `invocation`.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Self::Single(manager) => invocation.invoke_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => {
                let Cluster { client, connected } = &**cluster;
                let mut connection = {
                    let mut connected = connected.lock().await;
                    if let Some(connection) = &*connected {
                        connection.clone()
                    } else {
                        let connection = client.get_async_connection().await?;
                        *connected = Some(connection.clone());
                        connection
                    }
                };
                let result = invocation.invoke_async(&mut connection).await;
                if let Err(error) = &result {
                    if error.is_io_error() || error.is_connection_dropped() {
                        // Connect again next time: the cluster may have moved.
                        *connected.lock().await = None;
                    }
                }
                result
            }
        }
    }
}
