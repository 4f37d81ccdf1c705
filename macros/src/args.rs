//! Parsing of `#[feature_gate(...)]` arguments.

use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, Expr, ExprClosure, ExprPath, Ident, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(labels);
    syn::custom_keyword!(on_reject);
    syn::custom_keyword!(fallback);
    syn::custom_keyword!(client);
    syn::custom_keyword!(accept);
    syn::custom_keyword!(reject);
}

/// Everything the attribute was given.
pub(crate) struct GateArgs {
    pub(crate) flag: LitStr,
    pub(crate) timeout: Option<Timeout>,
    pub(crate) labels: Vec<Label>,
    pub(crate) on_reject: Option<OnReject>,
    pub(crate) fallback: Option<Fallback>,
    pub(crate) client: Option<Expr>,
    pub(crate) krate: Option<Path>,
}

pub(crate) enum Timeout {
    /// `timeout = "200ms"`, checked here.
    Literal(Duration),
    /// `timeout = some_expr`, a `Duration` computed at run time.
    Expr(Expr),
}

pub(crate) struct Label {
    pub(crate) key: LitStr,
    pub(crate) value: Expr,
}

pub(crate) enum OnReject {
    /// `|| value`
    NoArgs(ExprClosure),
    /// `|rejection| value`
    WithRejection(ExprClosure),
    /// `path::to::handler`, called with `&Rejection`
    Path(ExprPath),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fallback {
    Accept,
    Reject,
}

const FORMAT_HELP: &str = "expected `#[feature_gate(\"FlagName\", timeout = \"200ms\", \
                           labels(key = value, ...), on_reject = ..., fallback = accept | reject, \
                           client = expr, crate = path)]`";

impl Parse for GateArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(Error::new(
                Span::call_site(),
                format!("missing the flag name: {FORMAT_HELP}"),
            ));
        }
        let flag: LitStr = input.parse().map_err(|e| {
            Error::new(
                e.span(),
                "the first argument is the flag name, as a string literal: \
                 `#[feature_gate(\"AwesomeFeature\")]`",
            )
        })?;
        if flag.value().is_empty() {
            return Err(Error::new_spanned(&flag, "the flag name is empty"));
        }

        let mut args = GateArgs {
            flag,
            timeout: None,
            labels: Vec::new(),
            on_reject: None,
            fallback: None,
            client: None,
            krate: None,
        };
        let mut seen: Vec<&'static str> = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let lookahead = input.lookahead1();
            let (name, span) = if lookahead.peek(kw::timeout) {
                let key = input.parse::<kw::timeout>()?;
                input.parse::<Token![=]>()?;
                args.timeout = Some(parse_timeout(input)?);
                ("timeout", key.span)
            } else if lookahead.peek(kw::labels) {
                let key = input.parse::<kw::labels>()?;
                if let Some(eq) = input.parse::<Option<Token![=]>>()? {
                    return Err(Error::new(
                        eq.span,
                        "`labels` takes its pairs in parentheses, without `=`: \
                         `labels(userId = user.id, region = region)`",
                    ));
                }
                args.labels = parse_labels(input)?;
                ("labels", key.span)
            } else if lookahead.peek(kw::on_reject) {
                let key = input.parse::<kw::on_reject>()?;
                input.parse::<Token![=]>()?;
                args.on_reject = Some(parse_on_reject(input)?);
                ("on_reject", key.span)
            } else if lookahead.peek(kw::fallback) {
                let key = input.parse::<kw::fallback>()?;
                input.parse::<Token![=]>()?;
                args.fallback = Some(parse_fallback(input)?);
                ("fallback", key.span)
            } else if lookahead.peek(kw::client) {
                let key = input.parse::<kw::client>()?;
                input.parse::<Token![=]>()?;
                args.client = Some(input.parse()?);
                ("client", key.span)
            } else if lookahead.peek(Token![crate]) {
                let key = input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                args.krate = Some(if input.peek(LitStr) {
                    // tokio's and serde's spelling: `crate = "path"`.
                    let literal: LitStr = input.parse()?;
                    literal.parse_with(Path::parse_mod_style).map_err(|_| {
                        Error::new_spanned(
                            &literal,
                            "`crate` takes a path, e.g. `crate = ::my::flowgate`",
                        )
                    })?
                } else {
                    Path::parse_mod_style(input)?
                });
                ("crate", key.span)
            } else if input.peek(Ident::peek_any) {
                return Err(unknown_argument(&Ident::parse_any(input)?));
            } else {
                return Err(lookahead.error());
            };
            if seen.contains(&name) {
                return Err(Error::new(span, format!("duplicate `{name}` argument")));
            }
            seen.push(name);
        }
        Ok(args)
    }
}

/// The valid argument names, for messages.
const ARGUMENTS: [&str; 6] = [
    "timeout",
    "labels",
    "on_reject",
    "fallback",
    "client",
    "crate",
];

/// An unknown argument: a did-you-mean when one is close, and the valid names.
fn unknown_argument(name: &Ident) -> Error {
    let text = name.to_string();
    let lower = text.to_lowercase();
    let known = |candidate: &str| match candidate {
        // The words people bring from other libraries.
        "label" | "context" | "ctx" | "attrs" | "attributes" => Some("labels"),
        "reject" | "on_rejected" | "onreject" | "on_error" | "on_disabled" | "otherwise"
        | "or_else" => Some("on_reject"),
        "default" | "fail_open" | "on_fallback" => Some("fallback"),
        "wait" | "deadline" | "max_wait" | "time_out" => Some("timeout"),
        "krate" | "flowgate" => Some("crate"),
        _ => None,
    };
    let suggestion = known(lower.as_str()).or_else(|| {
        ARGUMENTS
            .iter()
            .map(|candidate| (strsim::damerau_levenshtein(&lower, candidate), *candidate))
            .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
            .min()
            .map(|(_, candidate)| candidate)
    });
    let valid = ARGUMENTS.map(|a| format!("`{a}`")).join(", ");
    Error::new(
        name.span(),
        match suggestion {
            Some(fix) => {
                format!("unknown argument `{text}`: did you mean `{fix}`? (arguments: {valid})")
            }
            None => format!("unknown argument `{text}`; the arguments are {valid}"),
        },
    )
}

fn parse_timeout(input: ParseStream<'_>) -> syn::Result<Timeout> {
    if input.peek(syn::LitFloat) || input.peek(syn::LitInt) {
        let literal: syn::Lit = input.parse()?;
        let fix = match &literal {
            syn::Lit::Float(float) => float
                .base10_parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds < 1e12)
                .map_or_else(
                    || "\"200ms\"".to_owned(),
                    // A fraction is most often seconds: `1.5` → `"1500ms"`.
                    |seconds| format!("\"{}ms\"", (seconds * 1000.0).round()),
                ),
            // A whole number could be either unit: both, milliseconds first.
            syn::Lit::Int(int) => format!("\"{0}ms\"` or `timeout = \"{0}s\"", int.base10_digits()),
            _ => "\"200ms\"".to_owned(),
        };
        return Err(Error::new_spanned(
            &literal,
            format!(
                "`timeout` takes a duration in quotes with its unit, e.g. `timeout = {fix}` \
                 (units h, m, s, ms; whole numbers), or a `Duration` expression"
            ),
        ));
    }
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        flowgate_config::duration::parse(&literal.value())
            .map(Timeout::Literal)
            .map_err(|problem| {
                Error::new_spanned(&literal, format!("invalid `timeout`: {problem}"))
            })
    } else {
        Ok(Timeout::Expr(input.parse()?))
    }
}

fn parse_labels(input: ParseStream<'_>) -> syn::Result<Vec<Label>> {
    let content;
    syn::parenthesized!(content in input);
    let pairs = Punctuated::<Label, Token![,]>::parse_terminated(&content)?;
    let mut labels: Vec<Label> = Vec::with_capacity(pairs.len());
    for label in pairs {
        let key = label.key.value();
        if labels.iter().any(|l| l.key.value() == key) {
            return Err(Error::new_spanned(
                &label.key,
                format!("duplicate label `{key}`"),
            ));
        }
        if let Some(earlier) = labels
            .iter()
            .find(|l| same_field(&l.key.value(), &key).is_some())
        {
            let field = same_field(&earlier.key.value(), &key).unwrap_or_default();
            return Err(Error::new_spanned(
                &label.key,
                format!(
                    "labels `{}` and `{key}` are the same Unleash context field, `{field}`: \
                     keep one (rules read `{field}` first)",
                    earlier.key.value()
                ),
            ));
        }
        labels.push(label);
    }
    Ok(labels)
}

/// The Unleash context field two different label names both stand for (`userId` and
/// `user_id`), as the engine reads them.
fn same_field(a: &str, b: &str) -> Option<&'static str> {
    const FIELDS: [(&str, &str); 5] = [
        ("userId", "user_id"),
        ("sessionId", "session_id"),
        ("remoteAddress", "remote_address"),
        ("appName", "app_name"),
        ("currentTime", "current_time"),
    ];
    FIELDS
        .iter()
        .find(|(camel, snake)| (a == *camel && b == *snake) || (a == *snake && b == *camel))
        .map(|(camel, _)| *camel)
}

impl Parse for Label {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        let (key, shorthand) = if lookahead.peek(LitStr) {
            let key: LitStr = input.parse()?;
            if key.value().is_empty() {
                return Err(Error::new_spanned(&key, "a label's name cannot be empty"));
            }
            (key, None)
        } else if lookahead.peek(Ident::peek_any) {
            let ident = Ident::parse_any(input)?;
            let name = ident.to_string();
            (
                LitStr::new(name.trim_start_matches("r#"), ident.span()),
                Some(ident),
            )
        } else {
            return Err(lookahead.error());
        };
        // `labels(user_id)`, as tracing writes fields: the variable of that name.
        if input.is_empty() || input.peek(Token![,]) {
            return match shorthand {
                Some(ident) => Ok(Label {
                    key,
                    value: syn::parse_quote_spanned!(ident.span()=> #ident),
                }),
                None => Err(Error::new_spanned(
                    &key,
                    format!("a label needs a value: `\"{}\" = value`", key.value()),
                )),
            };
        }
        if input.peek(Token![=>]) {
            let arrow: Token![=>] = input.parse()?;
            return Err(Error::new_spanned(
                arrow,
                "the attribute writes labels as `key = value` (`=>` is for `labels!`)",
            ));
        }
        if input.peek(Token![:]) {
            let colon: Token![:] = input.parse()?;
            return Err(Error::new(colon.span, "write `key = value`, with `=`"));
        }
        if input.peek(Token![-]) || input.peek(Token![.]) {
            let mut name = key.value();
            while !input.is_empty() && !input.peek(Token![=]) && !input.peek(Token![,]) {
                name.push_str(&input.parse::<proc_macro2::TokenTree>()?.to_string());
            }
            return Err(Error::new(
                key.span(),
                format!("a label name with `-` or `.` is quoted: `\"{name}\" = value`"),
            ));
        }
        input.parse::<Token![=]>()?;
        if input.peek(Token![%]) || input.peek(Token![?]) {
            return Err(input.error(
                "values are taken as they are (text, numbers, `Display`): drop the `%` or `?`",
            ));
        }
        let value = input.parse()?;
        Ok(Label { key, value })
    }
}

fn parse_on_reject(input: ParseStream<'_>) -> syn::Result<OnReject> {
    const EXPECTED: &str = "`on_reject` takes a closure `|| value` or `|rejection| value`, \
                            or a path to a function of `&flowgate::Rejection`, of \
                            `flowgate::Rejection` or of nothing";
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Closure(closure) => {
            if let Some(asyncness) = &closure.asyncness {
                return Err(Error::new(
                    asyncness.span(),
                    "`on_reject` is not awaited: return the value directly",
                ));
            }
            match closure.inputs.len() {
                0 => Ok(OnReject::NoArgs(closure)),
                1 => Ok(OnReject::WithRejection(closure)),
                _ => Err(Error::new(closure.inputs.span(), EXPECTED)),
            }
        }
        // `StatusCode::NOT_FOUND`: a constant, not a function.
        Expr::Path(path)
            if path.path.segments.last().is_some_and(|last| {
                let name = last.ident.to_string();
                name.len() > 1
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }) =>
        {
            let text = quote::ToTokens::to_token_stream(&path)
                .to_string()
                .replace(' ', "");
            Err(Error::new_spanned(
                path,
                format!("`on_reject` is called to answer a rejected call: for a value, write a closure, `on_reject = || {text}`"),
            ))
        }
        Expr::Path(path) => Ok(OnReject::Path(path)),
        other => {
            let text = quote::ToTokens::to_token_stream(&other).to_string();
            let fix = if text.len() <= 60 {
                format!(": for a value, write a closure, `on_reject = || {text}`")
            } else {
                ": for a value, write a closure, `on_reject = || value`".to_owned()
            };
            Err(Error::new_spanned(other, format!("{EXPECTED}{fix}")))
        }
    }
}

fn parse_fallback(input: ParseStream<'_>) -> syn::Result<Fallback> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let value = literal.value();
        let word = match value.trim().to_ascii_lowercase().as_str() {
            "accept" => "accept",
            "reject" => "reject",
            _ => {
                return Err(Error::new_spanned(
                    &literal,
                    "`fallback` is `accept` or `reject`, without quotes",
                ))
            }
        };
        return Err(Error::new_spanned(
            &literal,
            format!("write `fallback = {word}`, without quotes"),
        ));
    }
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::accept) {
        input.parse::<kw::accept>()?;
        Ok(Fallback::Accept)
    } else if lookahead.peek(kw::reject) {
        input.parse::<kw::reject>()?;
        Ok(Fallback::Reject)
    } else {
        Err(lookahead.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_argument_list_parses() {
        let args: GateArgs = syn::parse_quote! {
            "X", timeout = "1s", labels(userId = user.id, "x-region" = region()),
            on_reject = |r| handle(r), fallback = accept, client = &self.flags,
            crate = ::my::flowgate,
        };
        assert_eq!(args.flag.value(), "X");
        assert!(matches!(args.timeout, Some(Timeout::Literal(d)) if d == Duration::from_secs(1)));
        assert_eq!(args.labels.len(), 2);
        assert_eq!(args.labels[1].key.value(), "x-region");
        assert!(matches!(args.on_reject, Some(OnReject::WithRejection(_))));
        assert_eq!(args.fallback, Some(Fallback::Accept));
        assert!(args.client.is_some() && args.krate.is_some());
    }

    #[test]
    fn errors_name_the_valid_keys() {
        let err = syn::parse_str::<GateArgs>(r#""X", tiemout = "1s""#)
            .err()
            .unwrap();
        let message = err.to_string();
        for key in [
            "timeout",
            "labels",
            "on_reject",
            "fallback",
            "client",
            "crate",
        ] {
            assert!(message.contains(key), "{message}");
        }
        let err = syn::parse_str::<GateArgs>(r#""X", timeout = "1s", timeout = "2s""#)
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "duplicate `timeout` argument");
    }
}
