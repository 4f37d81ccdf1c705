//! Where an Unleash source keeps its backup when the code does not say: a file per
//! server, app and environment, in the user's state directory.
//!
//! The Unleash SDKs for Python, Node, Java and Go all keep a backup by default, so that
//! a process restarted while the server is down serves the flags it last knew instead
//! of every flag's fallback. flowgate does the same:
//!
//! - the directory: `$FLOWGATE_STATE_DIR` if set, else the OS state directory
//!   (`$XDG_STATE_HOME`, or `~/.local/state` on Linux), else its cache directory
//!   (`~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), else the temporary
//!   directory; with `flowgate/` appended to the last three;
//! - the file: `unleash-{app}-{environment}-{hash}.json`. The environment is the API
//!   token's (`project:environment.secret`), which decides which flags the server
//!   sends, else the configured one. The hash covers the server's URL and the token's
//!   project and environment (never its secret), so two servers, apps, projects or
//!   environments never share a file, however alike their names.
//!
//! Names are cut to safe characters (`[A-Za-z0-9_.-]`, 48 at most each), so no app name
//! can reach outside the directory, and the hash is FNV-1a written here: its value must
//! never change between versions, or an upgrade would lose every backup.

use std::path::PathBuf;

use super::config::{BackupSetting, UnleashConfig};

/// The environment variable that names the directory for default backups.
pub(crate) const STATE_DIR_VAR: &str = "FLOWGATE_STATE_DIR";

/// The environment variable that turns the default backup off (`off`) or puts it at a
/// path of its own choosing.
pub(crate) const BACKUP_VAR: &str = "FLOWGATE_UNLEASH_BACKUP";

/// The longest a name part of the file name gets.
const MAX_PART: usize = 48;

/// The backup file `config` asks for, the default resolved from the environment;
/// `None` when there is no backup.
pub(crate) fn backup_file(config: &UnleashConfig) -> Option<PathBuf> {
    match &config.backup {
        BackupSetting::Default => default_backup(config, |name| std::env::var(name).ok()),
        BackupSetting::At(path) => Some(path.clone()),
        BackupSetting::Off => None,
    }
}

/// Where the default backup of `config` goes, given how to read an environment
/// variable; `None` when the environment turns it off.
pub(crate) fn default_backup(
    config: &UnleashConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    match var(BACKUP_VAR).as_deref().map(str::trim) {
        Some(off) if off.eq_ignore_ascii_case("off") || off.eq_ignore_ascii_case("none") => {
            return None
        }
        Some(path) if !path.is_empty() => return Some(PathBuf::from(path)),
        _ => {}
    }
    let directory = var(STATE_DIR_VAR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            dirs::state_dir()
                .or_else(dirs::cache_dir)
                .map(|d| d.join("flowgate"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("flowgate"));
    Some(directory.join(file_name(config)))
}

/// `unleash-{app}-{environment}-{hash}.json`; see the module documentation.
pub(crate) fn file_name(config: &UnleashConfig) -> String {
    let scope = token_scope(&config.api_token);
    let environment = scope
        .and_then(|s| s.split_once(':'))
        .map(|(_, environment)| environment)
        .filter(|e| !e.is_empty() && *e != "*")
        .or(config.environment.as_deref())
        .unwrap_or("default");
    let mut hash = Fnv::default();
    hash.write(config.url.as_bytes());
    hash.write(&[0]);
    hash.write(scope.unwrap_or("").as_bytes());
    format!(
        "unleash-{}-{}-{:016x}.json",
        safe(&config.app_name),
        safe(environment),
        hash.0
    )
}

/// The `project:environment` part of an Unleash API token (`project:environment.secret`),
/// which is not secret; `None` for a token of another shape.
fn token_scope(token: &str) -> Option<&str> {
    let (scope, _secret) = token.split_once('.')?;
    scope.contains(':').then_some(scope)
}

/// `name` cut to `[A-Za-z0-9_.-]` (anything else becomes `_`), at most [`MAX_PART`]
/// characters, never empty, never starting with a dot.
fn safe(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .take(MAX_PART)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        safe.insert(0, '_');
    }
    safe
}

/// 64-bit FNV-1a: tiny, and fixed forever (see the module documentation).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, app: &str, token: &str) -> UnleashConfig {
        UnleashConfig::new(url, app, token)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_hash_never_changes_between_versions() {
        let mut hash = Fnv::default();
        hash.write(b"a");
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(hash.0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            file_name(&config(
                "http://127.0.0.1:4242/api",
                "surveys",
                "default:development.abc"
            )),
            "unleash-surveys-development-1f0d9d0359a816ef.json"
        );
    }

    #[test]
    fn apps_environments_servers_and_projects_never_share_a_file() {
        let base = file_name(&config("http://u/api", "app", "p:dev.s"));
        for other in [
            config("http://u/api", "app2", "p:dev.s"),
            config("http://u/api", "app", "p:prod.s"),
            config("http://v/api", "app", "p:dev.s"),
            config("http://u/api", "app", "q:dev.s"),
            config("http://u/api", "app", "*:dev.s"),
        ] {
            assert_ne!(file_name(&other), base, "{other:?}");
        }
        // The secret is not part of the name: a rotated token keeps its backup.
        assert_eq!(file_name(&config("http://u/api", "app", "p:dev.t")), base);
        assert!(!base.contains(".s"));
    }

    #[test]
    fn the_environment_is_the_tokens_else_the_configured_one() {
        let name = file_name(&config("http://u/api", "a", "*:production.x"));
        assert!(name.starts_with("unleash-a-production-"), "{name}");
        let name = file_name(&config("http://u/api", "a", "opaque").environment("staging"));
        assert!(name.starts_with("unleash-a-staging-"), "{name}");
        let name = file_name(&config("http://u/api", "a", "opaque"));
        assert!(name.starts_with("unleash-a-default-"), "{name}");
    }

    #[test]
    fn the_environment_variables_turn_it_off_or_move_it() {
        let c = config("http://u/api", "a", "p:dev.s");
        assert_eq!(
            default_backup(&c, |v| (v == BACKUP_VAR).then(|| "off".into())),
            None
        );
        assert_eq!(
            default_backup(&c, |v| (v == BACKUP_VAR).then(|| "/x/b.json".into())),
            Some(PathBuf::from("/x/b.json"))
        );
        assert_eq!(
            default_backup(&c, |v| (v == STATE_DIR_VAR).then(|| "/s".into())),
            Some(PathBuf::from("/s").join(file_name(&c)))
        );
        let default = default_backup(&c, no_env).unwrap();
        assert!(default.ends_with(PathBuf::from("flowgate").join(file_name(&c))));
    }

    /// App names an attacker or a careless editor would write: every one gives a plain
    /// file name, inside the directory, of bounded length.
    #[test]
    fn any_app_name_stays_inside_the_directory() {
        let mut rng = fastrand::Rng::with_seed(22);
        let pieces = [
            "..", "/", "\\", ".", "a", "é", "\0", " ", "*", ":", "~", "\n", "%2e", "C:",
        ];
        for _ in 0..5_000 {
            let app: String = (0..rng.usize(0..40))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let c = config("http://u/api", &app, "p:dev.s");
            let path = default_backup(&c, |v| (v == STATE_DIR_VAR).then(|| "/s".into())).unwrap();
            assert_eq!(path.parent(), Some(std::path::Path::new("/s")), "{app:?}");
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(!name.starts_with('.'), "{app:?} -> {name}");
            assert!(name.len() <= 150, "{app:?} -> {name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)),
                "{app:?} -> {name}"
            );
        }
    }
}
