//! Integration tests of flowgate: see `tests/tests/*.rs`. What several of them share is
//! here.

pub mod browser;
pub mod stand_in;

/// An Unleash API URL on 127.0.0.1 where nothing listens: the port was bound and given
/// back, so a fetch fails at once with "connection refused".
///
/// # Panics
/// When no port on 127.0.0.1 can be bound.
#[must_use]
pub fn unanswered_unleash_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port on 127.0.0.1")
        .local_addr()
        .expect("its address")
        .port();
    format!("http://127.0.0.1:{port}/api")
}
