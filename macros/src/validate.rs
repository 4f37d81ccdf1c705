//! Checks of the gated function and of its flag against the manifest.

use syn::spanned::Spanned;
use syn::{Error, ItemFn, LitStr};

use crate::manifest::{toml_key, FlagDecl, Manifest};

/// The declaration of the attribute's flag, or an error at the flag literal.
pub(crate) fn declared_flag(flag: &LitStr, manifest: &Manifest) -> syn::Result<FlagDecl> {
    let name = flag.value();
    if let Some(decl) = manifest.flags.get(&name) {
        return Ok(decl.clone());
    }
    let path = &manifest.display_path;
    let hint = match closest(&name, manifest.flags.keys().map(String::as_str)) {
        Some(suggestion) => format!("did you mean `{suggestion}`?"),
        None if manifest.flags.is_empty() => format!("`{path}` declares no flags yet"),
        None => format!(
            "declared flags: {}",
            manifest
                .flags
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Error::new_spanned(
        flag,
        format!(
            "unknown flag `{name}`: it is not declared in `{path}`; {hint}\n\
             (to add it, declare `[flags.{key}]` in `{path}`)",
            key = toml_key(&name),
        ),
    ))
}

/// The declared name closest to `name`, if one is close enough to be a likely typo.
fn closest<'a>(name: &str, declared: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = name.to_lowercase();
    declared
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let distance = strsim::damerau_levenshtein(&wanted, &lower);
            // A typo changes about one character in three of the shorter name, and a
            // short name only one: `X` is not a typo of `AB`.
            let shorter = wanted.chars().count().min(lower.chars().count());
            let typo = distance <= (shorter / 3).max(1);
            // A name cut short (`delete_survey` of `delete_survey_flag`).
            let cut = shorter >= 4 && (lower.starts_with(&wanted) || wanted.starts_with(&lower));
            (typo || cut).then_some((distance, candidate))
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// Rejects functions the gate cannot wrap.
pub(crate) fn gateable(item: &ItemFn) -> syn::Result<()> {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        return Err(Error::new(
            constness.span(),
            "`#[feature_gate]` cannot gate a `const fn`: a flag is decided at run time; \
             remove `const` or gate the function's callers",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(Error::new(
            variadic.span(),
            "`#[feature_gate]` cannot gate a variadic function",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_misses_only() {
        let declared = ["AwesomeFeature", "delete_survey_flag", "Beta"];
        let find = |name| closest(name, declared.iter().copied());
        assert_eq!(find("AwsomeFeature"), Some("AwesomeFeature"));
        assert_eq!(find("awesomefeature"), Some("AwesomeFeature"));
        assert_eq!(find("delete_survey"), Some("delete_survey_flag"));
        assert_eq!(find("beat"), Some("Beta"));
        assert_eq!(find("Checkout"), None);
        // Short names get no unrelated suggestion.
        for short in ["X", "a", "Be", "ab", "Bx"] {
            assert_eq!(find(short), None, "{short}");
        }
        assert_eq!(find("Bta"), Some("Beta"));
    }
}
