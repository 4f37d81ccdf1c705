//! Finding and reading the crate's `flowgate.toml` at compile time, and where the
//! `flowgate` crate is in its `Cargo.toml`.
//!
//! The file is read and checked by `flowgate_config`, the same code the runtime loads
//! it with: a rule the runtime would refuse (a rollout of 140, a bad regex, an unknown
//! operator) does not compile, with the same message.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::args::Fallback;

pub(crate) const FILE_NAME: &str = "flowgate.toml";
/// Points the attribute at a manifest outside the crate's directory tree.
pub(crate) const OVERRIDE_VAR: &str = "FLOWGATE_MANIFEST";

/// The flags a crate declares.
#[derive(Debug)]
pub(crate) struct Manifest {
    /// Absolute, for `include_bytes!`.
    pub(crate) path: PathBuf,
    /// As shown in messages: relative to the crate being compiled.
    pub(crate) display_path: String,
    pub(crate) flags: BTreeMap<String, FlagDecl>,
}

#[derive(Debug, Clone)]
pub(crate) struct FlagDecl {
    pub(crate) fallback: Option<Fallback>,
    /// For the typed handle's docs.
    pub(crate) description: Option<String>,
}

/// Why the manifest could not be read, and whether this gate should say so.
#[derive(Debug)]
pub(crate) struct LoadError {
    /// The complete message.
    pub(crate) message: String,
    /// The flag the mistake is in, when it is in one.
    pub(crate) flag: Option<String>,
    /// Whether this is the first time this compiler process meets this mistake.
    pub(crate) first: bool,
}

impl LoadError {
    fn new(message: String, flag: Option<String>) -> Self {
        let first = first_time("reported", &message);
        Self {
            message,
            flag,
            first,
        }
    }

    /// Whether a gate of `flag` reports this mistake: one mistake is one error, at the
    /// gates of the flag it is in, or at the first gate that meets it (so that a
    /// mistake in a flag no gate names still fails the build).
    pub(crate) fn reported_at(&self, flag: &str) -> bool {
        self.first || self.flag.as_deref() == Some(flag)
    }
}

/// Whether this is the first expansion in this compiler process, for this crate, that
/// names the manifest at `path`: that one expansion `include_bytes!`s the file, which is
/// what makes cargo rebuild the crate when the file changes. Every gate doing it cost a
/// crate with a 1.3 MB manifest and 500 gates 2.7x the build time of
/// `#[tracing::instrument]` (`MANIFEST_FLAGS=10000 bash scripts/compile-time.sh`).
pub(crate) fn track_once(path: &Path) -> bool {
    first_time("tracked", &path.to_string_lossy())
}

/// Whether this compiler process meets `what` of `key` for the first time, for the
/// crate being compiled (a proc-macro server such as rust-analyzer's serves many).
fn first_time(what: &str, key: &str) -> bool {
    static SEEN: Mutex<Option<std::collections::HashSet<[String; 4]>>> = Mutex::new(None);
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let entry = [
        var("CARGO_MANIFEST_DIR"),
        var("CARGO_CRATE_NAME"),
        what.to_owned(),
        key.to_owned(),
    ];
    SEEN.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Default::default)
        .insert(entry)
}

/// Reads the manifest for the crate being compiled.
///
/// Parsed manifests are cached by content: a crate with hundreds of gated functions
/// reads the file once per expansion but parses it once.
pub(crate) fn load(flag: &str) -> Result<Arc<Manifest>, LoadError> {
    load_inner(flag).map_err(|(message, bad_flag)| LoadError::new(message, bad_flag))
}

fn load_inner(flag: &str) -> Result<Arc<Manifest>, (String, Option<String>)> {
    /// Parsed manifests by path, with the text they were parsed from.
    type Cache = HashMap<PathBuf, (String, Arc<Manifest>)>;
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

    let crate_dir = crate_dir();
    let path = locate(&crate_dir, flag).map_err(|message| (message, None))?;
    // A file named by the override is shown as it was named; one found by walking up,
    // relative to the crate (`flowgate.toml`, `../flowgate.toml`).
    let display_path = match std::env::var(OVERRIDE_VAR) {
        Ok(named) if !named.is_empty() => named,
        _ => display_relative(&path, &crate_dir),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| (format!("cannot read `{display_path}`: {error}"), None))?;

    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some((cached_text, manifest)) = cache.get(&path) {
        if *cached_text == text && manifest.display_path == display_path {
            return Ok(Arc::clone(manifest));
        }
    }
    let manifest = Arc::new(parse(&text, path.clone(), display_path)?);
    cache.insert(path, (text, Arc::clone(&manifest)));
    Ok(manifest)
}

fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

fn locate(crate_dir: &Path, flag: &str) -> Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os(OVERRIDE_VAR).filter(|v| !v.is_empty()) {
        let path = crate_dir.join(explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{OVERRIDE_VAR} is set to `{}`, which is not a file",
                path.display()
            ))
        };
    }
    crate_dir
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "no `{FILE_NAME}` found in this crate's directory or any parent directory; \
                 create `{FILE_NAME}` next to this crate's `Cargo.toml` and declare every gated \
                 flag in it:\n\n\
                 [flags.{key}]\n\
                 description = \"What this flag gates\"\n\
                 fallback = \"reject\"  # or \"accept\": what the gate does when no decision \
                 can be made in time\n",
                key = toml_key(flag),
            )
        })
}

/// `path` relative to `base` when that can be expressed, else as is.
fn display_relative(path: &Path, base: &Path) -> String {
    let path_parts: Vec<Component<'_>> = path.components().collect();
    let base_parts: Vec<Component<'_>> = base.components().collect();
    let common = path_parts
        .iter()
        .zip(&base_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut relative = PathBuf::new();
    for _ in common..base_parts.len() {
        relative.push("..");
    }
    for part in &path_parts[common..] {
        relative.push(part);
    }
    relative.display().to_string()
}

/// How `name` is written as a TOML key.
pub(crate) fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

fn parse(
    text: &str,
    path: PathBuf,
    display_path: String,
) -> Result<Manifest, (String, Option<String>)> {
    let document = flowgate_config::parse(text, &display_path)
        .map_err(|e| (e.to_string(), e.flag().map(str::to_owned)))?;
    let flags = document
        .flags
        .into_iter()
        .map(|flag| {
            let fallback = flag.fallback.map(|f| match f {
                flowgate_config::Fallback::Accept => Fallback::Accept,
                flowgate_config::Fallback::Reject => Fallback::Reject,
            });
            let description = flag.description;
            (
                flag.name,
                FlagDecl {
                    fallback,
                    description,
                },
            )
        })
        .collect();
    Ok(Manifest {
        path,
        display_path,
        flags,
    })
}

/// Where the `flowgate` crate is for the crate being compiled: `::flowgate`, or the
/// name it was renamed to in `Cargo.toml` (`gates = { package = "flowgate", .. }`), so
/// that a renamed dependency needs no `crate = ...` argument.
pub(crate) fn default_crate_path() -> syn::Path {
    match proc_macro_crate::crate_name("flowgate") {
        Ok(proc_macro_crate::FoundCrate::Name(name)) if name != "flowgate" => {
            let ident = syn::Ident::new(&name, proc_macro2::Span::call_site());
            syn::parse_quote!(::#ident)
        }
        _ => syn::parse_quote!(::flowgate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Manifest, String> {
        parse(
            text,
            PathBuf::from("/x/flowgate.toml"),
            "flowgate.toml".into(),
        )
        .map_err(|(message, _)| message)
    }

    #[test]
    fn accepts_the_rule_keys() {
        let manifest = parse_str(
            "[flags.A]\nenabled = true\nrollout = 25\nstickiness = \"userId\"\n\
             constraints = [{ label = \"region\", operator = \"IN\", values = [\"eu\"] }]\n\
             variants = [{ name = \"blue\", weight = 50 }]\n",
        )
        .unwrap();
        assert!(manifest.flags.contains_key("A"));
    }

    #[test]
    fn reads_flags_and_fallbacks() {
        let manifest = parse_str(
            "[flags.A]\ndescription = \"a\"\n[flags.B]\nfallback = \"accept\"\n[flags.\"c d\"]\n",
        )
        .unwrap();
        assert_eq!(manifest.flags.len(), 3);
        assert_eq!(manifest.flags["A"].fallback, None);
        assert_eq!(manifest.flags["B"].fallback, Some(Fallback::Accept));
        assert!(manifest.flags.contains_key("c d"));
    }

    #[test]
    fn unknown_key_names_file_line_flag_and_valid_keys() {
        let err = parse_str("[flags.A]\ndescription = \"a\"\n\n[flags.B]\nfalback = \"accept\"\n")
            .unwrap_err();
        assert!(
            err.starts_with("flowgate.toml:5:1: flag `B`, key `falback`: "),
            "{err}"
        );
        assert!(err.contains("falback"), "{err}");
        assert!(
            err.contains("`description`") && err.contains("`fallback`"),
            "{err}"
        );
    }

    #[test]
    fn bad_fallback_and_duplicates_are_errors() {
        let err = parse_str("[flags.A]\nfallback = \"maybe\"\n").unwrap_err();
        assert!(
            err.contains("flowgate.toml:2:") && err.contains("maybe"),
            "{err}"
        );
        let err = parse_str("[flags.A]\n[flags.A]\n").unwrap_err();
        assert!(err.contains("flowgate.toml:2:"), "{err}");
        let err = parse_str("[flag.A]\n").unwrap_err();
        assert!(
            err.contains("flowgate.toml:1:") && err.contains("flag"),
            "{err}"
        );
    }

    #[test]
    fn rule_values_are_checked_as_the_runtime_checks_them() {
        for (text, expected) in [
            ("[flags.A]\nrollout = 140\n", "flowgate.toml:2:11: flag `A`, key `rollout`: a rollout is a percentage from 0 to 100, got 140"),
            ("[flags.A]\nrate_limit = { limit = 1, per = \"1 sec\" }\n", "key `per`"),
            ("[flags.A]\nconstraints = [{ label = \"e\", operator = \"REGEX\", value = \"(\" }]\n", "is not a valid regular expression"),
            ("[flags.A]\nconstraints = [{ label = \"e\", operator = \"LIKE\", values = [] }]\n", "unknown operator \"LIKE\""),
            ("[flags.A]\nconstraints = [{ lable = \"e\", operator = \"IN\", values = [] }]\n", "unknown field `lable`"),
        ] {
            let err = parse_str(text).unwrap_err();
            assert!(err.contains(expected), "for {text:?}: {err}");
        }
    }

    #[test]
    fn relative_display() {
        let show = |p: &str, b: &str| display_relative(Path::new(p), Path::new(b));
        assert_eq!(show("/w/app/flowgate.toml", "/w/app"), "flowgate.toml");
        assert_eq!(show("/w/flowgate.toml", "/w/app"), "../flowgate.toml");
        assert_eq!(
            show("/w/ui/flowgate.toml", "/w/t/x"),
            "../../ui/flowgate.toml"
        );
    }

    #[test]
    fn toml_keys_are_quoted_when_needed() {
        assert_eq!(toml_key("Awesome_Feature-2"), "Awesome_Feature-2");
        assert_eq!(toml_key("new.checkout"), "\"new.checkout\"");
    }
}
