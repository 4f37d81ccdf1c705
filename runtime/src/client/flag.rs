//! Naming a flag: by text, or by a typed handle that [`flags!`](crate::flags) generates
//! from `flowgate.toml`.
//!
//! The manual API (`is_enabled`, `variant`, `start_flow`) takes `impl AsFlag`, so a
//! flag can be a `&str` (dynamic names keep working) or a handle such as
//! `flags::NewCheckout`, which exists only if the manifest declares the flag: a typo is
//! a compile error, not a silent `false`.
//!
//! A handle also carries a call site of its own (as a gated function does), so asking
//! by handle skips the lookup by name: **benefit**, the answer of a flag that cannot
//! depend on the call is remembered, as at a gate; **cost**, one static `CallSite`
//! (about 100 bytes) per declared flag.

use std::borrow::Cow;

use super::CallSite;

/// A flag's name: `&str`, `String`, `Cow<str>`, or a typed handle from
/// [`flags!`](crate::flags).
///
/// ```
/// use flowgate::{testing::InMemorySource, Labels};
///
/// let client = InMemorySource::new().enable("NewCheckout").into_client();
/// let name = String::from("NewCheckout");
/// assert!(client.is_enabled("NewCheckout", &Labels::new()));
/// assert!(client.is_enabled(&name, &Labels::new()));
/// assert!(client.is_enabled(name, &Labels::new()));
/// ```
pub trait AsFlag {
    /// The flag's name, as declared.
    fn flag_name(&self) -> &str;

    /// The call site of a typed handle; `None` for a name given as text.
    #[doc(hidden)]
    fn __call_site(&self) -> Option<&'static CallSite> {
        None
    }
}

impl AsFlag for str {
    fn flag_name(&self) -> &str {
        self
    }
}

impl AsFlag for String {
    fn flag_name(&self) -> &str {
        self
    }
}

impl AsFlag for Cow<'_, str> {
    fn flag_name(&self) -> &str {
        self
    }
}

impl AsFlag for Box<str> {
    fn flag_name(&self) -> &str {
        self
    }
}

impl AsFlag for std::sync::Arc<str> {
    fn flag_name(&self) -> &str {
        self
    }
}

impl<T: AsFlag + ?Sized> AsFlag for &T {
    fn flag_name(&self) -> &str {
        (**self).flag_name()
    }

    fn __call_site(&self) -> Option<&'static CallSite> {
        (**self).__call_site()
    }
}
