//! `flags!()`: a module of typed flag handles, one per flag the manifest declares.
//!
//! Each handle is a unit struct (`flags::NewCheckout`) that implements
//! `flowgate::AsFlag`, so the manual API checks flag names at compile time as the
//! attribute does. Struct names are the flag names in upper camel case
//! (`delete_survey_flag` → `DeleteSurveyFlag`, `new.checkout` → `NewCheckout`); two flags
//! that map to one name are an error naming both.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Error, Ident, LitStr, Path, Token, Visibility};

use crate::manifest;

/// `flags!()`, `flags!(pub(crate) mod my_flags)`, each optionally followed by
/// `, crate = path`.
struct FlagsArgs {
    vis: Visibility,
    name: Ident,
    krate: Option<Path>,
}

impl Parse for FlagsArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = FlagsArgs {
            vis: syn::parse_quote!(pub),
            name: Ident::new("flags", Span::call_site()),
            krate: None,
        };
        if input.peek(Token![mod]) || input.peek(Token![pub]) {
            args.vis = input.parse()?;
            input.parse::<Token![mod]>().map_err(|e| {
                Error::new(e.span(), "expected `mod name`: `flags!(pub mod flags)`")
            })?;
            args.name = input.parse()?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        if input.peek(Token![crate]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            args.krate = Some(if input.peek(LitStr) {
                input.parse::<LitStr>()?.parse_with(Path::parse_mod_style)?
            } else {
                Path::parse_mod_style(input)?
            });
            let _ = input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "`flags!` takes nothing, `pub mod name`, or `crate = path`: \
                 `flowgate::flags!();` makes `pub mod flags`",
            ));
        }
        Ok(args)
    }
}

pub(crate) fn flags(input: TokenStream) -> TokenStream {
    match try_flags(input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn try_flags(input: TokenStream) -> syn::Result<TokenStream> {
    let args: FlagsArgs = syn::parse2(input)?;
    // Always said here, even when a gate said it too: without its handles, every use
    // of them would be an error of its own.
    let manifest = manifest::load("NewCheckout")
        .map_err(|error| Error::new(Span::call_site(), error.message))?;
    let manifest_path = manifest.path.to_str().ok_or_else(|| {
        Error::new(
            Span::call_site(),
            format!("the path of `{}` is not valid UTF-8", manifest.display_path),
        )
    })?;
    let krate: Path = args.krate.unwrap_or_else(manifest::default_crate_path);
    let private = quote!(#krate::__private);

    let mut idents: BTreeMap<String, &str> = BTreeMap::new();
    let mut handles = Vec::new();
    for (name, decl) in &manifest.flags {
        let ident = handle_name(name);
        if let Some(other) = idents.insert(ident.clone(), name) {
            return Err(Error::new(
                Span::call_site(),
                format!(
                    "flags `{other}` and `{name}` would both be `{ident}`: rename one in `{}`",
                    manifest.display_path
                ),
            ));
        }
        let ident = format_ident!("{}", ident);
        let doc = match &decl.description {
            Some(description) => format!("`{name}`: {description}"),
            None => format!("The flag `{name}`."),
        };
        let site_constructor = if decl.fallback.is_some() {
            quote!(declared)
        } else {
            quote!(new)
        };
        let fallback = if decl.fallback == Some(crate::args::Fallback::Accept) {
            quote!(#private::Fallback::Accept)
        } else {
            quote!(#private::Fallback::Reject)
        };
        handles.push(quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub struct #ident;

            impl #ident {
                /// The flag's name, as declared.
                pub const NAME: &'static str = #name;
            }

            impl #krate::AsFlag for #ident {
                fn flag_name(&self) -> &str {
                    #name
                }
                fn __call_site(&self) -> ::core::option::Option<&'static #private::CallSite> {
                    static SITE: #private::CallSite = #private::CallSite::#site_constructor(#name, #fallback);
                    ::core::option::Option::Some(&SITE)
                }
            }

            impl ::core::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(#name)
                }
            }
        });
    }
    let names = manifest.flags.keys();
    let module_doc = format!(
        "Typed handles of the flags declared in `{}`, for the manual API \
         (`client.is_enabled(flags::Flag, &labels)`): a flag that is not declared \
         has no handle, so a typo does not compile.",
        manifest.display_path
    );
    let (vis, name) = (&args.vis, &args.name);
    Ok(quote! {
        #[doc = #module_doc]
        #[allow(missing_docs)]
        #vis mod #name {
            // Tracked: editing the manifest or its override rebuilds the handles.
            const _: &[u8] = ::core::include_bytes!(#manifest_path);
            const _: ::core::option::Option<&str> = ::core::option_env!("FLOWGATE_MANIFEST");

            #(#handles)*

            /// Every declared flag's name, sorted. (A function, not a constant, so that
            /// no flag's handle can take its name.)
            #[must_use]
            pub const fn all() -> &'static [&'static str] {
                &[#(#names),*]
            }
        }
    })
}

/// A flag name as an upper camel case type name: `flowgate_config::handle_name`, which
/// the `flowgate stale` command reads sources with too.
pub(crate) fn handle_name(flag: &str) -> String {
    flowgate_config::handle_name(flag)
}

#[cfg(test)]
mod tests {
    use super::handle_name;

    #[test]
    fn names_become_type_names() {
        for (flag, handle) in [
            ("NewCheckout", "NewCheckout"),
            ("delete_survey_flag", "DeleteSurveyFlag"),
            ("new.checkout", "NewCheckout"),
            ("beta-2", "Beta2"),
            ("2fa", "Flag2fa"),
            ("Self", "Self_"),
            ("über", "Flag_ber"),
            ("a b", "AB"),
        ] {
            assert_eq!(handle_name(flag), handle, "{flag}");
            assert!(
                syn::parse_str::<syn::Ident>(&handle_name(flag)).is_ok(),
                "{flag}"
            );
        }
    }
}
