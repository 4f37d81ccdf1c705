//! The `[store]` table and the `scope` and `lease` keys of limits: where limits shared
//! by every instance of a service keep their state, checked like the rest of the file
//! (placed errors naming the key), and never quoting a store URL's password.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::document::{OnStoreError, Scope, Store};
use crate::error::ConfigError;
use crate::schema::RawStore;

/// The shortest and longest `lease` of a global concurrency limit: renewed every third
/// of it, a lease under a second would be renewed too often to be worth the slots.
pub(crate) const MIN_LEASE: Duration = Duration::from_secs(1);
pub(crate) const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);

/// The most nodes `cluster` may list.
const MAX_NODES: usize = 1_000;

/// The most instances `instances` may say.
const MAX_INSTANCES: i64 = 100_000;

/// The `[store]` table.
pub(crate) fn check_store(
    text: &str,
    origin: &str,
    raw: Spanned<RawStore>,
) -> Result<Store, ConfigError> {
    let line = text[..raw.span().start.min(text.len())]
        .matches('\n')
        .count()
        + 1;
    let error = |span: &Range<usize>, key: &str, message: String| {
        ConfigError::in_text(text, origin, span, message).at_key(key)
    };
    let raw = raw.into_inner();
    let redis = match raw.redis {
        None => None,
        Some(url) => {
            check_url(url.get_ref()).map_err(|message| error(&url.span(), "redis", message))?;
            Some(url.into_inner())
        }
    };
    let mut cluster = Vec::new();
    if let Some(nodes) = raw.cluster {
        if redis.is_some() {
            return Err(error(
                &nodes.span(),
                "cluster",
                "`redis` names one server, `cluster` the nodes of a cluster: keep one".into(),
            ));
        }
        let span = nodes.span();
        let nodes = nodes.into_inner();
        if nodes.is_empty() || nodes.len() > MAX_NODES {
            return Err(error(
                &span,
                "cluster",
                format!("`cluster` lists from 1 to {MAX_NODES} node URLs"),
            ));
        }
        for node in nodes {
            check_url(node.get_ref()).map_err(|message| error(&node.span(), "cluster", message))?;
            cluster.push(node.into_inner());
        }
    }
    let on_store_error = match &raw.on_store_error {
        None => OnStoreError::default(),
        Some(value) => match value.get_ref().as_str() {
            "local" => OnStoreError::Local,
            "reject" => OnStoreError::Reject,
            "accept" => OnStoreError::Accept,
            other => {
                return Err(error(
                    &value.span(),
                    "on_store_error",
                    format!("expected \"local\", \"reject\" or \"accept\", got {other:?}"),
                ))
            }
        },
    };
    let instances = match &raw.instances {
        None => None,
        Some(value) => {
            let n = *value.get_ref();
            if !(1..=MAX_INSTANCES).contains(&n) {
                return Err(error(
                    &value.span(),
                    "instances",
                    format!("`instances` is a whole number from 1 to {MAX_INSTANCES}, got {n}"),
                ));
            }
            u32::try_from(n).ok()
        }
    };
    Ok(Store {
        redis,
        cluster,
        on_store_error,
        instances,
        line,
    })
}

/// Whether `url` names a Redis server flowgate can reach (`redis://host:port/db`); the
/// message says what is wrong and never quotes the URL's password.
///
/// # Errors
/// The message, for a URL that is empty, has no or another scheme, or no host.
pub fn check_url(url: &str) -> Result<(), String> {
    let shown = crate::document::redacted_url(url);
    if url.trim().is_empty() {
        return Err("the store's URL is empty: `redis = \"redis://127.0.0.1:6379/0\"`".into());
    }
    if url.chars().any(char::is_control) || url.contains(' ') {
        return Err(format!(
            "the store's URL {shown:?} has spaces or control characters"
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "the store's URL {shown:?} has no scheme: expected `redis://host:port/db`"
        ));
    };
    match scheme {
        "redis" => {}
        "rediss" => {
            return Err(format!(
                "the store's URL {shown:?} asks for TLS (`rediss://`), which flowgate does not \
                 speak yet: use `redis://` on a trusted network, or a TLS proxy"
            ))
        }
        other => {
            return Err(format!(
                "the store's URL {shown:?} has the scheme `{other}`: expected `redis://`"
            ))
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return Err(format!("the store's URL {shown:?} names no host"));
    }
    Ok(())
}

/// `scope = "local" | "global"`.
pub(crate) fn scope(value: Option<&Spanned<String>>) -> Result<Scope, (Range<usize>, String)> {
    match value {
        None => Ok(Scope::Local),
        Some(value) => match value.get_ref().as_str() {
            "local" => Ok(Scope::Local),
            "global" => Ok(Scope::Global),
            other => Err((
                value.span(),
                format!(
                    "expected \"local\" (each process counts its own flows) or \"global\" \
                     (every instance shares the limit through `[store]`), got {other:?}"
                ),
            )),
        },
    }
}

/// `lease = "30s"`: a duration from [`MIN_LEASE`] to [`MAX_LEASE`].
pub(crate) fn lease(value: &Spanned<String>) -> Result<Duration, (Range<usize>, String)> {
    let lease = crate::duration::parse(value.get_ref())
        .map_err(|error| (value.span(), error.to_string()))?;
    if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
        return Err((
            value.span(),
            format!(
                "a `lease` is from 1s to 24h (renewed every third of it while a flow runs), got {:?}",
                value.get_ref()
            ),
        ));
    }
    Ok(lease)
}

#[cfg(test)]
mod tests {
    use crate::{parse, OnStoreError, Scope};

    #[test]
    fn global_limits_and_a_store_read_back() {
        let document = parse(
            r#"
[flags.Checkout]
rate_limit  = { limit = 1000, per = "1s", burst = 100, by = "tenant", scope = "global" }
concurrency = { max = 64, queue = 256, scope = "global", lease = "10s" }

[store]
redis = "redis://127.0.0.1:6379/0"
on_store_error = "reject"
instances = 4
"#,
            "flowgate.toml",
        )
        .unwrap();
        let limits = &document.flag("Checkout").unwrap().limits;
        assert_eq!(limits.rate.as_ref().unwrap().scope, Scope::Global);
        let concurrency = limits.concurrency.as_ref().unwrap();
        assert_eq!(concurrency.scope, Scope::Global);
        assert_eq!(concurrency.lease, std::time::Duration::from_secs(10));
        let store = document.store.unwrap();
        assert_eq!(store.redis.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert_eq!(store.on_store_error, OnStoreError::Reject);
        assert_eq!(store.instances, Some(4));
        assert_eq!(store.line, 6);
    }

    #[test]
    fn limits_are_local_unless_said() {
        let document = parse(
            "[flags.A]\nrate_limit = { limit = 1, per = \"1s\" }\nconcurrency = { max = 1 }\n",
            "flowgate.toml",
        )
        .unwrap();
        let limits = &document.flag("A").unwrap().limits;
        assert_eq!(limits.rate.as_ref().unwrap().scope, Scope::Local);
        assert_eq!(limits.concurrency.as_ref().unwrap().scope, Scope::Local);
        assert!(document.store.is_none());
    }

    /// What a careless editor writes: each mistake is one error at its key, saying
    /// the fix, and never quoting a password.
    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        for (text, wanted) in [
            ("[flags.A]\nconcurrency = { max = 1, scope = \"fleet\" }\n", "2:34: flag `A`, key `scope`: expected \"local\""),
            ("[flags.A]\nrate_limit = { limit = 1, per = \"1s\", scope = \"Global\" }\n", "key `scope`: expected \"local\""),
            ("[flags.A]\nconcurrency = { max = 1, lease = \"30s\" }\n", "key `lease`: a `lease` is how long a dead instance's slots"),
            ("[flags.A]\nconcurrency = { max = 1, scope = \"global\", lease = \"100ms\" }\n", "key `lease`: a `lease` is from 1s to 24h"),
            ("[flags.A]\nconcurrency = { max = 1, scope = \"global\", lease = \"soon\" }\n", "key `lease`"),
            ("[flags.A]\nconcurrency = { max = 1, scope = \"global\", by = \"tenant\" }\n", "key `scope`: a global concurrency limit per label value"),
            ("[flags.A]\n[store]\nredis = \"localhost:6379\"\n", "3:9: key `redis`: the store's URL \"localhost:6379\" has no scheme"),
            ("[flags.A]\n[store]\nredis = \"http://cache:6379\"\n", "has the scheme `http`"),
            ("[flags.A]\n[store]\nredis = \"rediss://:pw@cache:6379\"\n", "asks for TLS"),
            ("[flags.A]\n[store]\nredis = \"\"\n", "the store's URL is empty"),
            ("[flags.A]\n[store]\nredis = \"redis://:hunter2@/0\"\n", "names no host"),
            ("[flags.A]\n[store]\non_store_error = \"ignore\"\n", "key `on_store_error`: expected \"local\", \"reject\" or \"accept\", got \"ignore\""),
            ("[flags.A]\n[store]\ninstances = 0\n", "key `instances`: `instances` is a whole number from 1"),
            ("[flags.A]\n[store]\nurl = \"redis://x\"\n", "unknown"),
            ("[flags.A]\n[store]\ncluster = []\n", "key `cluster`: `cluster` lists from 1"),
            ("[flags.A]\n[store]\ncluster = [\"redis://a:1\", \"cache:2\"]\n", "3:27: key `cluster`: the store's URL \"cache:2\" has no scheme"),
            ("[flags.A]\n[store]\nredis = \"redis://a:1\"\ncluster = [\"redis://b:2\"]\n", "keep one"),
        ] {
            let error = parse(text, "flowgate.toml").unwrap_err().to_string();
            assert!(error.contains(wanted), "{text:?}\n got: {error}\nwant: {wanted}");
            assert!(!error.contains("hunter2") && !error.contains(":pw@"), "{error}");
            assert!(!error.contains("  "), "stray spaces: {error}");
        }
    }

    /// Generated URLs with passwords: no error message and no `Debug` shows one.
    #[test]
    fn passwords_never_show() {
        for scheme in ["redis", "rediss", "http", "redis+unix"] {
            for host in ["", "cache", "10.0.0.1:6379", "[::1]:6379"] {
                for tail in ["", "/0", "/x y", "?timeout=1"] {
                    let url = format!("{scheme}://user:S3CR3T@{host}{tail}");
                    let text = format!("[flags.A]\n[store]\nredis = {url:?}\n");
                    match parse(&text, "flowgate.toml") {
                        Ok(document) => {
                            let shown = format!("{:?}", document.store.unwrap());
                            assert!(!shown.contains("S3CR3T"), "{shown}");
                        }
                        Err(error) => {
                            let shown = format!("{error} {error:?}");
                            assert!(!shown.contains("S3CR3T"), "{shown}");
                        }
                    }
                }
            }
        }
    }
}
