//! What layers keep for the program's life: a call site per flag (and fallback), and
//! label names, each made once however many layers or requests name it.
//!
//! **Benefit.** A layer decides through a call site as a gated function does (its
//! flag's rules and counters found once, an answer that cannot depend on the request
//! remembered there), and names its labels without allocating per request. **Cost.**
//! A few hundred bytes per distinct flag and name, never freed: bounded by the names
//! written in the program, not by requests.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::client::CallSite;
use crate::reject::Fallback;

type Sites = HashMap<(Box<str>, Option<Fallback>), &'static CallSite>;

static SITES: Mutex<Option<Sites>> = Mutex::new(None);
static NAMES: Mutex<Option<HashMap<Box<str>, &'static str>>> = Mutex::new(None);

/// The call site of `flag` with `fallback` (`None`: the client's for the flag).
pub(super) fn site(flag: &str, fallback: Option<Fallback>) -> &'static CallSite {
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let sites = sites.get_or_insert_with(HashMap::new);
    if let Some(site) = sites.get(&(flag.into(), fallback)) {
        return site;
    }
    let site: &'static CallSite =
        Box::leak(Box::new(CallSite::with_fallback(name(flag), fallback)));
    sites.insert((flag.into(), fallback), site);
    site
}

/// `name`, for the program's life.
pub(super) fn name(name: &str) -> &'static str {
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashMap::new);
    if let Some(kept) = names.get(name) {
        return kept;
    }
    let kept: &'static str = Box::leak(name.into());
    names.insert(name.into(), kept);
    kept
}
