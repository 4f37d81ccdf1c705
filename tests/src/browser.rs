//! Headless Chromium over `WebDriver`, for the browser tests (`surveys_browser.rs`,
//! `status_browser.rs`): `chromedriver` started as a process and stopped by its PID.
//! Needs Debian's `chromium` and `chromium-driver`: `scripts/test-browser.sh` installs
//! them.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder};

/// `chromedriver` on a free 127.0.0.1 port, in a process group of its own, killed with
/// the browsers it started (the group, by chromedriver's PID) when dropped: a failed
/// test leaves no Chromium behind.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver.
    ///
    /// # Panics
    /// When chromedriver is not installed (`scripts/test-browser.sh` installs it).
    #[must_use]
    pub fn start() -> Driver {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: run scripts/test-browser.sh, which installs it");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session of `driver`, with its profile in `profile`.
///
/// # Panics
/// When no session starts within ten seconds.
pub async fn browser(driver: &Driver, profile: &Path) -> Browser {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1000,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    // Two TLS back ends are linked (reqwest's and fantoccini's): name one, for the
    // WebDriver client (whose URL is plain HTTP on 127.0.0.1 anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // chromedriver takes a moment to listen: retry the connection, bounded.
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .expect("a TLS config")
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(browser) => return browser,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no chromedriver session: {last:?}");
}
