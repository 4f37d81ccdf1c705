//! Code generation: the gated function.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{parse_quote, Error, ItemFn, LitStr, Path, ReturnType, Type};

use crate::args::{Fallback, GateArgs, OnReject, Timeout};
use crate::manifest::{self, FlagDecl};
use crate::validate;

/// The attribute's whole job. On any error the user's function comes back unchanged,
/// next to the error, so the rest of the crate (and rust-analyzer) keeps working.
pub(crate) fn feature_gate(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_feature_gate(args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let mut unchanged = unchanged(item);
            unchanged.extend(error.to_compile_error());
            unchanged
        }
    }
}

/// The function as written, but for the warnings the gate's own use of the arguments
/// would have silenced (`client = flags`, `labels(id = user.id)`): one error, no
/// cascade.
fn unchanged(item: TokenStream) -> TokenStream {
    let mut unchanged: TokenStream = quote!(#[allow(unused_variables, unused_mut, dead_code)]);
    unchanged.extend(item);
    unchanged
}

fn try_feature_gate(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let function = parse_function(item.clone())?;
    let args: GateArgs = syn::parse2(args)?;
    validate::gateable(&function)?;
    let manifest = match manifest::load(&args.flag.value()) {
        Ok(manifest) => manifest,
        Err(error) if error.reported_at(&args.flag.value()) => {
            return Err(Error::new_spanned(&args.flag, error.message));
        }
        // Said at another gate: this one stays as written, with no second error.
        Err(_) => return Ok(unchanged(item)),
    };
    let decl = validate::declared_flag(&args.flag, &manifest)?;
    let manifest_path = manifest.path.to_str().ok_or_else(|| {
        Error::new_spanned(
            &args.flag,
            format!("the path of `{}` is not valid UTF-8", manifest.display_path),
        )
    })?;
    Ok(gate(&args, &decl, manifest_path, function))
}

fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|error| {
        if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item) {
            if method.default.is_none() {
                return Error::new_spanned(
                    &method.sig,
                    "`#[feature_gate]` needs a function body: put it on the trait's \
                     implementations, or give this method a default body",
                );
            }
        }
        Error::new(
            error.span(),
            format!("`#[feature_gate]` applies to functions and methods: {error}"),
        )
    })
}

/// The call site's constructor and fallback: a declared fallback (in the attribute or
/// the manifest) tells a per-flow source more than the default does (see
/// `CallSite::declared`).
fn site_fallback(
    args: &GateArgs,
    decl: &FlagDecl,
    private: &TokenStream,
) -> (TokenStream, TokenStream) {
    let declared = args.fallback.or(decl.fallback);
    let constructor = if declared.is_some() {
        quote!(declared)
    } else {
        quote!(new)
    };
    let fallback = match declared.unwrap_or(Fallback::Reject) {
        Fallback::Accept => quote!(#private::Fallback::Accept),
        Fallback::Reject => quote!(#private::Fallback::Reject),
    };
    (constructor, fallback)
}

fn gate(args: &GateArgs, decl: &FlagDecl, manifest_path: &str, function: ItemFn) -> TokenStream {
    let krate: Path = args
        .krate
        .clone()
        .unwrap_or_else(manifest::default_crate_path);
    let private = quote!(#krate::__private);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let stmts = &block.stmts;

    let flag = &args.flag;
    let (site_constructor, fallback) = site_fallback(args, decl, &private);
    let manifest_path = LitStr::new(manifest_path, Span::call_site());
    let timeout = timeout(args, &private);
    let bind_client = bind_client(args, &krate, &private);
    let labels = labels(args, &krate);
    // `-> impl IntoResponse` (axum): both branches become a `Response`, so that
    // `on_reject` (or the rejection itself) may be of another type than the body.
    let into_response = into_response_bound(&sig.output);
    let rejected = rejected_value(args, &sig, &krate, into_response.as_ref());

    // Pins the body's type to the declared return type, so that `?` and `return` inside
    // the closure or async block infer exactly as they did in the function.
    let fake_return_type = fake_return_type(&sig.output);
    let fake_return = quote! {
        #[allow(
            unknown_lints, unreachable_code, clippy::diverging_sub_expression,
            clippy::let_unit_value, clippy::unreachable, clippy::let_with_type_underscore,
            clippy::empty_loop, clippy::needless_return
        )]
        if false {
            let __fg_fake_return: #fake_return_type = loop {};
            return __fg_fake_return;
        }
    };

    // The labels live only while the flow starts, so that the body may move or mutate
    // what they borrowed.
    let (start, run_body) = if sig.asyncness.is_some() {
        (
            // Most flows start accepted at once: that needs no future of its own. The
            // future's state stays small: only the evaluation is kept across the wait
            // (not the attempt's result), and the labels only while the flow starts.
            quote!({
                #labels
                '__fg_start: {
                    // Bound once: the expression may be a call.
                    #bind_client
                    let __fg_evaluation =
                        match #private::try_start_flow(__fg_client, &__FG_SITE, __fg_labels) {
                            ::core::result::Result::Ok(__fg_flow) => break '__fg_start __fg_flow,
                            ::core::result::Result::Err(__fg_evaluation) => __fg_evaluation,
                        };
                    #private::start_flow(
                        __fg_client, &__FG_SITE, __fg_labels, #timeout, __fg_evaluation,
                    )
                    .await
                }
            }),
            quote!(#private::instrument(&__fg_flow, async move { #fake_return #(#stmts)* }).await),
        )
    } else {
        (
            quote!({
                #labels
                #bind_client
                #private::start_flow_blocking(__fg_client, &__FG_SITE, __fg_labels, #timeout)
            }),
            quote!(#private::run_in_span(&__fg_flow, move || { #fake_return #(#stmts)* })),
        )
    };

    let finish = finish(
        &sig,
        &private,
        &run_body,
        &fake_return,
        stmts,
        into_response.as_ref(),
    );

    let track = track_manifest(&manifest_path);
    let body = quote! {
        #track
        // Read so that the compiler tracks it: setting or changing the override
        // rebuilds the crate.
        const _: ::core::option::Option<&str> = ::core::option_env!("FLOWGATE_MANIFEST");
        static __FG_SITE: #private::CallSite = #private::CallSite::#site_constructor(#flag, #fallback);
        let mut __fg_flow = #start;
        if let ::core::option::Option::Some(__fg_rejection) = #private::rejection(&__fg_flow) {
            #private::end_rejected(__fg_flow);
            // An `on_reject` that diverges (`|| panic!()`, `|| { return x; }`) is not
            // the user's unreachable code.
            #[allow(
                unreachable_code, clippy::needless_return, clippy::diverging_sub_expression,
                clippy::unused_unit
            )]
            {
                return #rejected;
            }
        }
        #finish
    };

    let mut tokens = TokenStream::new();
    for attr in &attrs {
        attr.to_tokens(&mut tokens);
    }
    vis.to_tokens(&mut tokens);
    sig.to_tokens(&mut tokens);
    let brace = block.brace_token;
    brace.surround(&mut tokens, |inner| inner.extend(body));
    tokens
}

/// The manifest `include_bytes!`-ed by the first gate of the crate (see
/// [`manifest::track_once`]), so that cargo rebuilds the crate when it changes.
fn track_manifest(manifest_path: &LitStr) -> TokenStream {
    if manifest::track_once(std::path::Path::new(manifest_path.value().as_str())) {
        quote!(
            const _: &[u8] = ::core::include_bytes!(#manifest_path);
        )
    } else {
        quote!()
    }
}

/// `let __fg_client = ...;` from `client = expr` (spanned there, where a wrong type is
/// reported), else the global client. The expression is bound by reference first, so
/// that a temporary (`client = make_client()`) lives through the call.
fn bind_client(args: &GateArgs, krate: &Path, private: &TokenStream) -> TokenStream {
    match &args.client {
        None => quote!(let __fg_client = #private::global();),
        Some(expr) => {
            let span = expr.span();
            let krate = respan(krate.to_token_stream(), span);
            let as_client = quote_spanned!(span=> #krate::AsClient::as_client(__fg_client_source));
            quote! {
                let __fg_client_source = &(#expr);
                let __fg_client = #as_client;
            }
        }
    }
}

/// What a rejected call returns, converted to a response for `-> impl IntoResponse`.
fn rejected_value(
    args: &GateArgs,
    sig: &syn::Signature,
    krate: &Path,
    into_response: Option<&Path>,
) -> TokenStream {
    match into_response {
        Some(bound) if args.on_reject.is_none() => {
            quote!(#bound::into_response(__fg_rejection))
        }
        Some(bound) => {
            let rejected = rejected(args, &sig.output, &sig.ident, krate);
            quote!(#bound::into_response(#rejected))
        }
        None => rejected(args, &sig.output, &sig.ident, krate),
    }
}

/// The end of an accepted call: the body run, the flow ended with its status, the
/// output returned.
///
/// `-> !`: the body never returns, so there is no output to end the flow with; a
/// panic ends it with `Error` as the flow is dropped while unwinding.
fn finish(
    sig: &syn::Signature,
    private: &TokenStream,
    run_body: &TokenStream,
    fake_return: &TokenStream,
    stmts: &[syn::Stmt],
    into_response: Option<&Path>,
) -> TokenStream {
    let never = matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)));
    if never {
        return if sig.asyncness.is_some() {
            run_body.clone()
        } else {
            quote!(#private::run_in_span(&__fg_flow, move || -> ! { #fake_return #(#stmts)* }))
        };
    }
    // The status is read from the body's own value (an `Err` ends the flow `Error`),
    // before any conversion to a response.
    let output = into_response.map_or_else(
        || quote!(__fg_output),
        |bound| quote!(#bound::into_response(__fg_output)),
    );
    quote! {
        #[allow(clippy::let_unit_value)]
        let __fg_output = #run_body;
        let __fg_status = {
            #[allow(unused_imports)]
            use #private::{OtherStatus as _, ResultStatus as _};
            (&#private::StatusProbe(&__fg_output)).flow_status()
        };
        #private::end(&mut __fg_flow, __fg_status);
        #output
    }
}

fn timeout(args: &GateArgs, private: &TokenStream) -> TokenStream {
    match &args.timeout {
        None => quote!(#private::Duration::from_millis(200)),
        Some(Timeout::Literal(duration)) => {
            let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
            quote!(#private::Duration::from_millis(#millis))
        }
        // Typed where the user wrote it: a wrong type is reported at the expression.
        Some(Timeout::Expr(expr)) => {
            let ty = quote_spanned!(expr.span()=> ::core::time::Duration);
            quote!({
                let __fg_timeout: #ty = #expr;
                __fg_timeout
            })
        }
    }
}

/// Declares `__fg_labels: &Labels`, evaluating each label before the body runs. A gate
/// without labels borrows one shared empty set: nothing to build or drop per call.
///
/// Each value is bound by reference first (`let v = &(expr);` keeps a temporary alive
/// as long as the binding), so the labels borrow it: no copy, no formatting for text
/// and numbers (`LabelValue`), `Display` for anything else (autoref specialisation, in
/// `__private`). A value of neither kind is an error at the value.
fn labels(args: &GateArgs, krate: &Path) -> TokenStream {
    let private = quote!(#krate::__private);
    // The probes live in `labels::probe`, so that the compiler's notes on a bad value
    // name `flowgate::labels`, not `__private`.
    let probes_path = quote!(#krate::labels::probe);
    if args.labels.is_empty() {
        return quote!(let __fg_labels: &#private::Labels<'_> = &#private::NO_LABELS;);
    }
    let bindings = args.labels.iter().enumerate().map(|(i, label)| {
        let local = quote::format_ident!("__fg_label_{}", i);
        match &label.value {
            // Already a reference: bound as it is (another `&` is clippy's
            // `needless_borrow` at the user's token).
            value @ syn::Expr::Reference(_) => quote!(let #local = #value;),
            value => quote!(let #local = &(#value);),
        }
    });
    let keys = args.labels.iter().enumerate().map(|(i, label)| {
        let key = quote::format_ident!("__FG_KEY_{}", i);
        let name = &label.key;
        quote!(const #key: #private::LabelKey = #private::LabelKey::new(#name);)
    });
    let probes = (0..args.labels.len()).map(|i| {
        let local = quote::format_ident!("__fg_label_{}", i);
        let probe = quote::format_ident!("__fg_probe_{}", i);
        quote!(let #probe = &#probes_path::LabelProbe(#local);)
    });
    let entries = args.labels.iter().enumerate().map(|(i, label)| {
        let key = quote::format_ident!("__FG_KEY_{}", i);
        // The call is spanned at the value, for the error of a type that is neither
        // text, a number nor `Display`; the `&` of the probe is not, or clippy would
        // take it for the user's (`needless_borrow`).
        let probe = quote::format_ident!("__fg_probe_{}", i, span = label.value.span());
        let call = quote_spanned!(label.value.span()=> #probe.borrow_label());
        quote!(#private::LabelEntry::__new(&#key, #call))
    });
    // The labels are a view of an array on the stack: built in place, nothing pushed,
    // the names' fingerprints worked out at compile time (`LabelKey` is `const`).
    quote! {
        #(#bindings)*
        let __fg_label_entries = {
            #[allow(unused_imports)]
            use #probes_path::{BorrowsDisplay as _, BorrowsLabel as _};
            #(#keys)*
            #(#probes)*
            [#(#entries),*]
        };
        let __fg_labels_owned = #private::Labels::__borrowing(&__fg_label_entries);
        let __fg_labels: &#private::Labels<'_> = &__fg_labels_owned;
    }
}

/// The value a rejected call returns, from `__fg_rejection: Rejection` (owned).
fn rejected(args: &GateArgs, output: &ReturnType, name: &syn::Ident, krate: &Path) -> TokenStream {
    match &args.on_reject {
        None => {
            // `Result<T, E>` as written: the error, if `E` cannot hold a rejection,
            // belongs at `E`.
            if let Some(error) = result_error_type(output) {
                let span = error.span();
                let krate = respan(krate.to_token_stream(), span);
                return quote_spanned!(span=>
                    ::core::result::Result::Err(
                        <#error as #krate::RejectionError>::from_rejection(__fg_rejection)
                    )
                );
            }
            // Anything else at the return type, where the "needs on_reject" error
            // belongs.
            let span = match output {
                ReturnType::Default => name.span(),
                ReturnType::Type(_, ty) => ty.span(),
            };
            let ty = respan(fake_return_type(output).to_token_stream(), span);
            let krate = respan(krate.to_token_stream(), span);
            quote_spanned!(span=> <#ty as #krate::FromRejection>::from_rejection(&__fg_rejection))
        }
        // Closures are inlined rather than called, so that a body of the wrong type is
        // reported at the user's tokens, against the function's return type.
        Some(OnReject::NoArgs(closure)) => {
            let body = &closure.body;
            quote!({ #body })
        }
        Some(OnReject::WithRejection(closure)) => {
            let body = &closure.body;
            let private = quote!(#krate::__private);
            let binding = match &closure.inputs[0] {
                // `|rejection: &Rejection|`, `|_: &flowgate::Rejection|`: the user's
                // type, checked where they wrote it.
                syn::Pat::Type(typed) if matches!(*typed.ty, Type::Reference(_)) => {
                    let (pat, ty) = (&typed.pat, &typed.ty);
                    // Spanned at the type, where a wrong one is reported.
                    let value = quote_spanned!(ty.span()=> &__fg_rejection);
                    quote!(let #pat: #ty = #value;)
                }
                // `|rejection: Rejection|`: given by value.
                syn::Pat::Type(typed) => {
                    let (pat, ty) = (&typed.pat, &typed.ty);
                    let value = quote_spanned!(ty.span()=> __fg_rejection);
                    quote!(let #pat: #ty = #value;)
                }
                // `|rejection|`, `|_|`: a borrow.
                pattern => quote!(let #pattern: &#private::Rejection = &__fg_rejection;),
            };
            quote!({
                #binding
                #body
            })
        }
        // Called where the user named it: a function of the wrong type is reported at
        // the path.
        Some(OnReject::Path(path)) => {
            let span = path.span();
            let krate = respan(krate.to_token_stream(), span);
            quote_spanned!(span=> #krate::RejectHandler::answer(#path, __fg_rejection))
        }
    }
}

/// The trait path of a return type written `impl IntoResponse` (or
/// `impl axum::response::IntoResponse`, with any other bounds), as the user wrote it.
fn into_response_bound(output: &ReturnType) -> Option<Path> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::ImplTrait(impl_trait) = &**ty else {
        return None;
    };
    impl_trait.bounds.iter().find_map(|bound| match bound {
        syn::TypeParamBound::Trait(bound)
            if bound
                .path
                .segments
                .last()
                .is_some_and(|last| last.ident == "IntoResponse" && last.arguments.is_none()) =>
        {
            Some(bound.path.clone())
        }
        _ => None,
    })
}

/// `E` of a return type written `Result<T, E>` (any path ending in `Result` with two
/// type arguments).
fn result_error_type(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = arguments
        .args
        .iter()
        .filter_map(|argument| match argument {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [_, error] if arguments.args.len() == 2 => Some(error),
        _ => None,
    }
}

/// `tokens` with every span set to `span`, so that an error about them points there.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = proc_macro2::TokenTree::Group(respanned);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// The declared return type with every `impl Trait` and `!` replaced by `_` (a `let` cannot
/// name an opaque type, but can leave it to inference).
fn fake_return_type(output: &ReturnType) -> Type {
    struct ImplTraitToInfer;

    impl VisitMut for ImplTraitToInfer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(_) | Type::Never(_) = ty {
                // `!` as a type is unstable; `_` infers it.
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](ty.span()),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }

    match output {
        ReturnType::Default => parse_quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            ImplTraitToInfer.visit_type_mut(&mut ty);
            ty
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_override_replaces_every_path() {
        let args: GateArgs = parse_quote!("X", crate = ::my::gates, on_reject = || 0);
        let function: ItemFn = parse_quote!(
            fn f() -> u32 {
                1
            }
        );
        let expanded = gate(
            &args,
            &FlagDecl {
                fallback: None,
                description: None,
            },
            "/m/manifest.toml",
            function,
        )
        .to_string();
        assert!(!expanded.contains("flowgate"), "{expanded}");
        assert!(
            expanded.contains(":: my :: gates :: __private"),
            "{expanded}"
        );
    }

    #[test]
    fn errors_keep_the_function_unchanged() {
        let function = quote!(
            #[doc = "kept"]
            pub fn f(x: u8) -> u8 {
                x
            }
        );
        let expanded = feature_gate(quote!("X", bogus = 1), function.clone()).to_string();
        assert!(expanded.contains(&function.to_string()), "{expanded}");
        assert!(
            expanded.starts_with("# [allow (unused_variables"),
            "{expanded}"
        );
        assert!(expanded.contains("compile_error"), "{expanded}");
    }
}
