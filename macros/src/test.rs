//! `#[flowgate::test(flags(...))]`: parse its arguments, check its flags against the
//! manifest, and wrap the test's body in overrides for its thread.
//!
//! The attribute is a test attribute of its own (it adds `#[test]`, and runs an async
//! body on a current-thread runtime) unless the function has one already
//! (`#[tokio::test]`, `#[test]`, `#[rstest]`, in either order): then it only adds the
//! overrides. An override is a guard on the test's thread, so it covers the body of a
//! `#[tokio::test]` of either flavour (`block_on` runs it on that thread) and, on a
//! current-thread runtime, the tasks it spawns.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, Ident, ItemFn, LitStr, Path, Token};

use crate::manifest;
use crate::validate;

/// The valid keys, for messages.
const KEYS: &str = "`flags(Name = on, ...)`, `crate = path`";

/// One `Name = on` of `flags(...)`.
struct Override {
    flag: LitStr,
    on: bool,
}

impl Parse for Override {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let flag = if input.peek(LitStr) {
            input.parse::<LitStr>()?
        } else {
            let ident: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            LitStr::new(&ident.to_string(), ident.span())
        };
        if !input.peek(Token![=]) {
            // `flags(Pricing)` alone: on.
            return Ok(Self { flag, on: true });
        }
        input.parse::<Token![=]>()?;
        let value: syn::Expr = input.parse()?;
        let word = match &value {
            syn::Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Bool(b),
                ..
            }) => Some(b.value.to_string()),
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        };
        let on = match word.as_deref() {
            Some("on" | "true" | "enabled") => true,
            Some("off" | "false" | "disabled") => false,
            _ => {
                return Err(Error::new_spanned(
                    value,
                    format!(
                        "`{}` takes `on` or `off` (or `true`/`false`), e.g. `flags({} = on)`",
                        flag.value(),
                        flag.value()
                    ),
                ))
            }
        };
        Ok(Self { flag, on })
    }
}

/// The attribute's arguments.
struct Args {
    overrides: Vec<Override>,
    krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args {
            overrides: Vec::new(),
            krate: None,
        };
        while !input.is_empty() {
            let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            match key.to_string().as_str() {
                "flags" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let list = Punctuated::<Override, Token![,]>::parse_terminated(&content)?;
                    args.overrides.extend(list);
                }
                "crate" => {
                    input.parse::<Token![=]>()?;
                    args.krate = Some(input.parse()?);
                }
                other => {
                    return Err(Error::new(
                        key.span(),
                        format!("unknown argument `{other}`; valid: {KEYS}"),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

pub(crate) fn test(args: TokenStream, item: &TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = Error::new(error.span(), "`#[flowgate::test]` goes on a test function");
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    match expand(args, &function) {
        Ok(tokens) => tokens,
        // The function is still emitted: one error, not one a use of it.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #function)
        }
    }
}

fn expand(args: TokenStream, function: &ItemFn) -> syn::Result<TokenStream> {
    let args: Args = syn::parse2(args)?;
    if args.overrides.is_empty() {
        return Err(Error::new(
            Span::call_site(),
            "`#[flowgate::test]` overrides flags: give them, e.g. `#[flowgate::test(flags(Pricing = on))]`",
        ));
    }
    check_flags(&args.overrides)?;
    let krate = args.krate.unwrap_or_else(manifest::default_crate_path);
    let private = quote!(#krate::__private::test);
    let pairs = args.overrides.iter().map(|o| {
        let (flag, on) = (&o.flag, o.on);
        quote!((#flag, #on))
    });
    let guard = quote_spanned! {Span::call_site()=>
        let __fg_overrides: #private::Guard =
            #private::override_flags(#private::FEATURE, &[#(#pairs),*]);
    };

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let has_test_attribute = attrs.iter().any(|attr| {
        attr.path().segments.last().is_some_and(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "test" | "rstest" | "test_case"
            )
        })
    });
    if has_test_attribute {
        return Ok(quote!(#(#attrs)* #vis #sig { #guard #block }));
    }
    if sig.asyncness.is_none() {
        return Ok(quote! {
            #[::core::prelude::v1::test]
            #(#attrs)* #vis #sig { #guard #block }
        });
    }
    if !sig.inputs.is_empty() {
        return Err(Error::new(sig.inputs.span(), "a test takes no arguments"));
    }
    let mut sync_sig = sig.clone();
    sync_sig.asyncness = None;
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)* #vis #sync_sig {
            #guard
            #private::block_on(async move #block)
        }
    })
}

/// Each flag is declared in the crate's `flowgate.toml`, when the crate has one (tests
/// of code gated by name only may have none); a typo is an error at its name.
fn check_flags(overrides: &[Override]) -> syn::Result<()> {
    let Ok(manifest) = manifest::load(&overrides[0].flag.value()) else {
        return Ok(());
    };
    let mut errors: Option<Error> = None;
    for o in overrides {
        if let Err(error) = validate::declared_flag(&o.flag, &manifest) {
            match &mut errors {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            }
        }
    }
    errors.map_or(Ok(()), Err)
}
