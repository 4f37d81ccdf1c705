//! The global client: the one gates ask when their attribute names no `client`, set
//! once by the program or built from the environment on first use.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::Client;
use crate::engine::Engine;

static GLOBAL: OnceLock<Client> = OnceLock::new();

/// Installs the client that gates use when their attribute names no `client`.
///
/// # Errors
/// Fails, giving the client back, when a global client is already in place: set
/// earlier, or built from the environment by an earlier [`global`] call.
pub fn set_global(client: Client) -> Result<(), SetGlobalError> {
    GLOBAL
        .set(client)
        .map_err(|client| SetGlobalError { client })
}

/// The global client: the one passed to [`set_global`], or, when nothing was set, one
/// built on first use by [`Client::from_env`].
pub fn global() -> &'static Client {
    GLOBAL.get_or_init(Client::from_env)
}

/// [`set_global`] was called when a global client was already in place.
pub struct SetGlobalError {
    client: Client,
}

impl SetGlobalError {
    /// The client that was not installed.
    pub fn into_client(self) -> Client {
        self.client
    }
}

impl fmt::Debug for SetGlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetGlobalError").finish_non_exhaustive()
    }
}

impl fmt::Display for SetGlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the global flowgate client is already set (by `set_global`, or built from the \
             environment by an earlier `global()` call: set it before the first gated call)",
        )
    }
}

impl std::error::Error for SetGlobalError {}

/// The rules file the environment names: `FLOWGATE_CONFIG`, else `./flowgate.toml`
/// when there is one.
fn rules_file() -> Option<PathBuf> {
    std::env::var_os("FLOWGATE_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("flowgate.toml")).filter(|p| p.is_file()))
}

impl Client {
    /// The client [`global`] builds when nothing was set, from the environment:
    ///
    /// 1. `UNLEASH_URL` (with `UNLEASH_API_TOKEN` and `UNLEASH_APP_NAME`), with the
    ///    `unleash` feature: an Unleash client, backed up by default (see
    ///    `UnleashConfig::backup_path`), whose fallbacks and limits come from the rules
    ///    file below when there is one;
    /// 2. else `APERTURE_AGENT_ADDRESS` (with `APERTURE_API_KEY`), with the `aperture`
    ///    feature: an Aperture agent decides each flow (see `flowgate::aperture`), and
    ///    the rules file below, when there is one, adds its fallbacks and limits;
    /// 3. else `FLOWGATE_CONFIG`, a path to a rules file, watched for changes;
    /// 4. else `./flowgate.toml` when there is one, watched for changes;
    /// 5. else no source: every flag takes its fallback, and one warning says so.
    ///
    /// A rules file with a mistake is logged as an error, and its flags take their
    /// fallback until the file is fixed (it is still watched).
    pub fn from_env() -> Self {
        if let Some(client) = from_unleash_env() {
            return client;
        }
        if let Some(client) = from_aperture_env() {
            return client;
        }
        let Some(path) = rules_file() else {
            tracing::warn!(
                target: "flowgate",
                "no client was set with `flowgate::set_global`, no FLOWGATE_CONFIG \
                 and no ./flowgate.toml: every flag takes its fallback (reject unless \
                 declared `fallback = \"accept\"`)"
            );
            return Self::with_source(super::dispatch::Source::new(crate::source::EmptySource));
        };
        let (engine, error) = Engine::load_file_or_empty(&path);
        match error {
            None => {
                tracing::info!(target: "flowgate", file = %path.display(), "rules loaded");
            }
            Some(error) => tracing::error!(
                target: "flowgate",
                %error,
                "the rules file has a mistake; every flag takes its fallback until it is fixed"
            ),
        }
        Self::new(engine)
    }
}

/// The Unleash client the environment asks for, if it asks for one.
#[cfg(feature = "unleash")]
fn from_unleash_env() -> Option<Client> {
    let config = crate::unleash::UnleashConfig::from_env()?;
    let url = config.url.clone();
    let mut builder = Client::builder().unleash(config);
    // Limits stay in the rules file when the flags move to Unleash.
    if let Some(rules) = rules_file() {
        builder = builder.limits_file(rules);
    }
    match builder.build() {
        Ok(client) => {
            tracing::info!(target: "flowgate", %url, "deciding with Unleash");
            Some(client)
        }
        Err(error) => {
            tracing::error!(
                target: "flowgate",
                %error,
                "cannot start the Unleash client; trying the rules file"
            );
            None
        }
    }
}

/// Without the `unleash` feature, `UNLEASH_URL` is said to be ignored, once.
#[cfg(not(feature = "unleash"))]
fn from_unleash_env() -> Option<Client> {
    if std::env::var_os("UNLEASH_URL").is_some_and(|url| !url.is_empty()) {
        tracing::warn!(
            target: "flowgate",
            "UNLEASH_URL is set, but flowgate was built without its `unleash` feature: \
             the rules file decides"
        );
    }
    None
}

/// The Aperture source the environment asks for (`APERTURE_AGENT_ADDRESS`), if it asks
/// for one and `UNLEASH_URL` does not (Unleash comes first: it was here first).
#[cfg(feature = "aperture")]
fn from_aperture_env() -> Option<Client> {
    let config = crate::aperture::ApertureConfig::from_env()?;
    let address = config.address().to_owned();
    let mut builder = Client::builder().aperture(config);
    // Local limits stay in the rules file, applied after the agent's decision.
    if let Some(rules) = rules_file() {
        builder = builder.limits_file(rules);
    }
    match builder.build() {
        Ok(client) => {
            tracing::info!(target: "flowgate", agent = %address, "deciding with an Aperture agent");
            Some(client)
        }
        Err(error) => {
            tracing::error!(
                target: "flowgate",
                %error,
                "cannot use the Aperture agent; trying the rules file"
            );
            None
        }
    }
}

/// Without the `aperture` feature, `APERTURE_AGENT_ADDRESS` is said to be ignored, once.
#[cfg(not(feature = "aperture"))]
fn from_aperture_env() -> Option<Client> {
    if std::env::var_os("APERTURE_AGENT_ADDRESS").is_some_and(|a| !a.is_empty()) {
        tracing::warn!(
            target: "flowgate",
            "APERTURE_AGENT_ADDRESS is set, but flowgate was built without its `aperture` \
             feature: the rules file decides"
        );
    }
    None
}
