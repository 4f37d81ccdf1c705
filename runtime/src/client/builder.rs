//! Building a client with options: where its flags are decided, whether its rules file
//! is watched, which file's fallbacks and limits apply, and fallbacks set in code.

use std::path::PathBuf;
use std::sync::Arc;

use flowgate_config::ConfigError;
use rustc_hash::FxHashMap;

use super::dispatch::Source;
use super::Client;
use crate::engine::Engine;
use crate::policy::Policy;
use crate::reject::Fallback;
use crate::source::{DecisionSource, EmptySource};
use crate::telemetry::Telemetry;

/// Builds a [`Client`] with options.
///
/// ```no_run
/// use flowgate::{Client, Fallback};
///
/// let client = Client::builder()
///     .file("config/flowgate.toml")
///     .watch(false)
///     .fallback("Recommendations", Fallback::Accept)
///     .build()?;
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    decided_by: Option<DecidedBy>,
    watch: Option<bool>,
    limits_file: Option<PathBuf>,
    fallbacks: FxHashMap<Box<str>, Fallback>,
    span_labels: Vec<Box<str>>,
}

#[derive(Debug)]
enum DecidedBy {
    File(PathBuf),
    Text(String),
    Source(Source),
    #[cfg(feature = "unleash")]
    Unleash(Box<crate::unleash::UnleashConfig>),
    #[cfg(feature = "aperture")]
    Aperture(Box<crate::aperture::ApertureConfig>),
}

impl ClientBuilder {
    /// Flags decided by the rules of this `flowgate.toml`, reloaded when it changes
    /// (unless `.watch(false)`, or without the `watch` feature).
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.decided_by = Some(DecidedBy::File(path.into()));
        self
    }

    /// Flags decided by the rules of this `flowgate.toml` text.
    #[must_use]
    pub fn toml(mut self, text: impl Into<String>) -> Self {
        self.decided_by = Some(DecidedBy::Text(text.into()));
        self
    }

    /// Flags decided by any source.
    #[must_use]
    pub fn source(mut self, source: impl DecisionSource) -> Self {
        self.decided_by = Some(DecidedBy::Source(Source::new(source)));
        self
    }

    /// Flags decided by an Unleash server (see [`crate::unleash::Unleash`]).
    #[cfg(feature = "unleash")]
    #[must_use]
    pub fn unleash(mut self, config: crate::unleash::UnleashConfig) -> Self {
        self.decided_by = Some(DecidedBy::Unleash(Box::new(config)));
        self
    }

    /// Flows decided by an Aperture agent, one `Check` per flow (see
    /// [`crate::aperture`]). Rate and concurrency limits of a
    /// [`limits_file`](Self::limits_file) still apply, after the agent's.
    #[cfg(feature = "aperture")]
    #[must_use]
    pub fn aperture(mut self, config: crate::aperture::ApertureConfig) -> Self {
        self.decided_by = Some(DecidedBy::Aperture(Box::new(config)));
        self
    }

    /// Whether rules files are reloaded when they change (default: yes, with the
    /// `watch` feature).
    #[must_use]
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = Some(watch);
        self
    }

    /// The `fallback`s, `rate_limit`s and `concurrency` limits of this `flowgate.toml`
    /// apply to the flags, whichever source decides them (its rule keys are not used),
    /// in place of those of the source's own file. Watched like a rules file.
    ///
    /// This is how limits stay in the file when flags move to Unleash.
    #[must_use]
    pub fn limits_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.limits_file = Some(path.into());
        self
    }

    /// The fallback of `flag` for this client, used when the source cannot decide and
    /// the call does not say (calls by name; a gate always says). Wins over the rules
    /// file's.
    #[must_use]
    pub fn fallback(mut self, flag: &str, fallback: Fallback) -> Self {
        self.fallbacks.insert(flag.into(), fallback);
        self
    }

    /// Records the values of these labels in every flow's span and every evaluation's
    /// event, as one field `flowgate.labels` (`region=eu tenant=acme`). None by default:
    /// labels can hold personal data, and a span field per label would be unbounded.
    ///
    /// ```
    /// let client = flowgate::Client::builder()
    ///     .toml("[flags.Checkout]\nenabled = true\n")
    ///     .span_labels(["region", "tenant"])
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), flowgate::ConfigError>(())
    /// ```
    #[must_use]
    pub fn span_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.span_labels = labels.into_iter().map(|l| l.as_ref().into()).collect();
        self
    }

    /// The client; with no source set, one that decides nothing (every flag takes its
    /// fallback).
    ///
    /// # Errors
    /// A [`ConfigError`] from loading the rules, the limits file, or starting the
    /// source.
    pub fn build(self) -> Result<Client, ConfigError> {
        let watch = self.watch.unwrap_or(cfg!(feature = "watch"));
        let source = match self.decided_by {
            None => Source::new(EmptySource),
            Some(DecidedBy::Source(source)) => source,
            Some(DecidedBy::Text(text)) => Source::new(Engine::from_toml_str(&text)?),
            #[cfg(feature = "watch")]
            Some(DecidedBy::File(path)) if watch => Source::new(Engine::watch_file(path)?),
            Some(DecidedBy::File(path)) => Source::new(Engine::from_file(path)?),
            #[cfg(feature = "unleash")]
            Some(DecidedBy::Unleash(config)) => {
                Source::new(crate::unleash::Unleash::start(*config)?)
            }
            #[cfg(feature = "aperture")]
            Some(DecidedBy::Aperture(config)) => {
                Source::new(crate::aperture::Aperture::connect(*config)?)
            }
        };
        let mut client = Client::with_source(source);
        if let Some(path) = &self.limits_file {
            client.use_limits_file(path, watch)?;
        }
        if let Some(inner) = Arc::get_mut(&mut client.inner) {
            // Always: the client was just made, and is not shared yet.
            inner.fallbacks = self.fallbacks;
            if !self.span_labels.is_empty() {
                let telemetry =
                    Telemetry::new(inner.source.get().name(), inner.source.rules().cloned())
                        .with_labels(self.span_labels);
                inner.telemetry = telemetry;
            }
        }
        Ok(client)
    }
}

impl Client {
    /// Takes the fallbacks and limits from the file at `path` (watched when `watch`),
    /// in place of the source's.
    pub(super) fn use_limits_file(
        &mut self,
        path: &std::path::Path,
        watch: bool,
    ) -> Result<(), ConfigError> {
        #[cfg(feature = "watch")]
        let seen = crate::watch::Seen::now(path);
        let policy = Arc::new(Policy::default());
        let origin = path.display().to_string();
        policy.apply(&flowgate_config::read_file(path)?, &origin)?;
        let Some(inner) = Arc::get_mut(&mut self.inner) else {
            // Never: the client was just made, and is not shared yet.
            return Ok(());
        };
        inner.policy = Arc::clone(&policy);
        #[cfg(feature = "watch")]
        if watch {
            let weak = Arc::downgrade(&policy);
            inner.limits_watch = Some(crate::watch::FileWatch::start(path, seen, move |path| {
                let Some(policy) = weak.upgrade() else {
                    return false;
                };
                match flowgate_config::read_file(path)
                    .and_then(|document| policy.apply(&document, &path.display().to_string()))
                {
                    Ok(()) => {}
                    Err(error) => tracing::warn!(
                        target: "flowgate",
                        %error,
                        "the limits were not reloaded; the last good limits stay in force"
                    ),
                }
                true
            })?);
        }
        #[cfg(not(feature = "watch"))]
        let _ = watch;
        Ok(())
    }
}
