//! Where the agent is and how to reach it: address, API key, TLS, keep-alive.

use std::fmt;
use std::time::Duration;

/// How to reach an Aperture agent (see [`Aperture`](super::Aperture)).
///
/// The address's scheme decides TLS: `https://` uses TLS with the web PKI's roots,
/// `http://` or no scheme (`localhost:8089`) speaks plain gRPC, as a local agent does.
///
/// ```
/// use std::time::Duration;
/// use flowgate::aperture::ApertureConfig;
///
/// let config = ApertureConfig::new("https://my-org.app.fluxninja.com:443")
///     .api_key("secret-key")
///     .keepalive(Duration::from_secs(20));
/// // The key never shows:
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ApertureConfig {
    pub(crate) address: String,
    pub(crate) api_key: Option<String>,
    pub(crate) keepalive: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) end_timeout: Duration,
}

impl ApertureConfig {
    /// An agent at `address` (`http://127.0.0.1:8089`, `https://…`, `agent:8089`).
    pub fn new(address: impl Into<String>) -> Self {
        let address = address.into();
        let mut address = address.trim();
        // A trailing slash goes, but not the scheme's (`http://` names no host).
        while address.ends_with('/') && !address.ends_with("://") {
            address = &address[..address.len() - 1];
        }
        Self {
            address: address.to_owned(),
            api_key: None,
            keepalive: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            end_timeout: Duration::from_secs(5),
        }
    }

    /// From `APERTURE_AGENT_ADDRESS` and `APERTURE_API_KEY` (optional), the names
    /// Aperture's own SDKs read; `None` without an address.
    pub fn from_env() -> Option<Self> {
        let address = std::env::var("APERTURE_AGENT_ADDRESS")
            .ok()
            .filter(|address| !address.trim().is_empty())?;
        let mut config = Self::new(address);
        if let Some(key) = std::env::var("APERTURE_API_KEY")
            .ok()
            .filter(|key| !key.is_empty())
        {
            config = config.api_key(key);
        }
        Some(config)
    }

    /// The API key sent as `x-api-key` with every request (Aperture Cloud's agents
    /// ask for one). Never logged, never in `Debug` or errors. Spaces and line breaks
    /// around it go (a key read from a file often ends with one).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.api_key = Some(key.trim().to_owned());
        self
    }

    /// How often an idle connection is pinged, so that a dead agent is noticed before
    /// a flow waits on it (default 10 s).
    #[must_use]
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = interval;
        self
    }

    /// How long a connection attempt may take (default 2 s). A gate never waits past
    /// its own timeout, whatever this is.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a `FlowEnd` (tokens given back) may take before it is given up
    /// (default 5 s; the agent then frees the tokens when they expire).
    #[must_use]
    pub fn end_timeout(mut self, timeout: Duration) -> Self {
        self.end_timeout = timeout;
        self
    }

    /// The address, for logs.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl fmt::Debug for ApertureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApertureConfig")
            .field("address", &self.address)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("keepalive", &self.keepalive)
            .field("connect_timeout", &self.connect_timeout)
            .field("end_timeout", &self.end_timeout)
            .finish()
    }
}
