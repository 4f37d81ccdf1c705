//! The two cookies the app sets: `visitor`, a random id that keeps a visitor in the
//! same half of the results-chart rollout, and `flash`, a one-time message shown by the
//! next page (as Flask's `flash()` does).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// The value of cookie `name` in the request's headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The visitor's id: the cookie's, or a new one to set (`Some` in the second place).
pub fn visitor(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(id) = get(headers, "visitor").filter(|id| valid_id(id)) {
        return (id, None);
    }
    let id = format!("v{:016x}", fastrand::u64(..));
    let cookie = HeaderValue::from_str(&format!(
        "visitor={id}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    ))
    .ok();
    (id, cookie)
}

fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Sets a one-time message for the next page.
pub fn set_flash(response: &mut Response, message: &str) {
    let encoded: String = form_urlencoded::byte_serialize(message.as_bytes()).collect();
    if let Ok(cookie) =
        HeaderValue::from_str(&format!("flash={encoded}; Path=/; HttpOnly; SameSite=Lax"))
    {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
}

/// The request's one-time message, if any; the response must then clear it
/// ([`clear_flash`]).
pub fn flash(headers: &HeaderMap) -> Option<String> {
    let raw = get(headers, "flash").filter(|v| !v.is_empty())?;
    let decoded: String = form_urlencoded::parse(format!("m={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    // Only the app's own messages, and short: a forged cookie shows nothing odd.
    (decoded.len() <= 200).then_some(decoded)
}

/// Clears the one-time message, once shown.
pub fn clear_flash(response: &mut Response) {
    response.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_static("flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
}
