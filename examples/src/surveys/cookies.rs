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

/// The one-time messages the app shows. The cookie carries only the message's name,
/// so a forged cookie (any site on 127.0.0.1 can set one) can show nothing but these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    /// A survey was created.
    Created,
    /// An answer was recorded.
    Answered,
    /// A survey was deleted.
    Deleted,
    /// The answer form came without a valid answer.
    ChooseAnswer,
    /// The survey is gone (deleted meanwhile).
    Gone,
}

impl Flash {
    const ALL: [(Flash, &'static str, &'static str); 5] = [
        (Flash::Created, "created", "Survey created."),
        (Flash::Answered, "answered", "Thanks for answering!"),
        (Flash::Deleted, "deleted", "Survey deleted."),
        (
            Flash::ChooseAnswer,
            "choose",
            "Please choose yes, no or maybe.",
        ),
        (Flash::Gone, "gone", "That survey no longer exists."),
    ];

    fn code(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("", |(_, code, _)| code)
    }

    /// What the page shows.
    pub fn message(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("", |(_, _, text)| text)
    }
}

/// Sets a one-time message for the next page.
pub fn set_flash(response: &mut Response, flash: Flash) {
    let cookie = format!("flash={}; Path=/; HttpOnly; SameSite=Lax", flash.code());
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
}

/// The request's one-time message: `None` without a flash cookie, `Some(None)` with one
/// that names no message (it is cleared all the same).
pub fn flash(headers: &HeaderMap) -> Option<Option<Flash>> {
    let code = get(headers, "flash").filter(|v| !v.is_empty())?;
    Some(
        Flash::ALL
            .iter()
            .find(|(_, known, _)| *known == code)
            .map(|(flash, _, _)| *flash),
    )
}

/// Clears the one-time message, once shown.
pub fn clear_flash(response: &mut Response) {
    response.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_static("flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
}
