//! Integration tests of flowgate: see `tests/tests/*.rs`. What several of them share is
//! here.

pub mod aperture_agent;
pub mod browser;
pub mod redis_server;
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

/// Serves `app` on 127.0.0.1 (a free port) until the test's runtime ends; its base URL.
///
/// # Panics
/// When no port on 127.0.0.1 can be bound.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Runs `command` with `input` on its standard input; its output (stdout and stderr
/// captured).
///
/// # Panics
/// When the command cannot be started or its input written.
pub fn run_with_input(command: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;

    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(input)
        .expect("its input is written");
    child.wait_with_output().expect("it ends")
}
