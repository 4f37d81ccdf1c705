//! A real `redis-server` (Debian's package, installed by `scripts/install-redis.sh`)
//! started for one test on 127.0.0.1, on a free port, with no persistence: stopped,
//! restarted empty or killed by the test, and always stopped by its PID when dropped.
//!
//! When `redis-server` is not installed, [`RedisServer::start`] returns `None` and the
//! test passes with a note, unless `FLOWGATE_REQUIRE_REDIS=1` (set by `.ci/run`): then
//! it fails.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits for `holds` to be true, checking every 20 ms, for at most `within`: what a
/// store or a process does is seen in Redis, which sends no signal.
///
/// # Panics
/// When it never holds: `never: {what}`.
pub fn eventually(what: &str, within: Duration, mut holds: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !holds() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `redis-server`; see the module documentation.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Arguments beyond the defaults (a cluster node's).
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server, or `None` when `redis-server` is not installed and not required.
    ///
    /// # Panics
    /// When it is required and missing, or does not answer within 10 s.
    #[must_use]
    pub fn start() -> Option<Self> {
        Self::start_with(Vec::new())
    }

    fn start_with(extra: Vec<String>) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var("FLOWGATE_REQUIRE_REDIS").as_deref() != Ok("1"),
                "redis-server is required (FLOWGATE_REQUIRE_REDIS=1): run scripts/install-redis.sh"
            );
            eprintln!("note: redis-server is not installed; skipped (scripts/install-redis.sh)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port on 127.0.0.1")
            .local_addr()
            .expect("its address")
            .port();
        let mut server = Self {
            child: None,
            port,
            extra: extra
                .into_iter()
                .map(|arg| arg.replace("{port}", &port.to_string()))
                .collect(),
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .args(["--loglevel", "warning", "--enable-debug-command", "yes"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.connection().is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} does not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `redis://127.0.0.1:PORT/0`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A connection of the test's own.
    ///
    /// # Errors
    /// The server does not answer.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }

    /// Runs a command and reads its reply.
    ///
    /// # Panics
    /// The server does not answer or refuses the command.
    pub fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        command
            .query(&mut self.connection().expect("the test's connection"))
            .expect("the command")
    }

    /// Whether the server is busy (a `DEBUG SLEEP`): a `PING` gets no reply in 100 ms.
    #[must_use]
    pub fn is_asleep(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return true;
        };
        let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_millis(100))
        else {
            return true;
        };
        let _ = connection.set_read_timeout(Some(Duration::from_millis(100)));
        redis::cmd("PING").query::<String>(&mut connection).is_err()
    }

    /// Stops the server (SIGKILL by PID: a crash, as far as clients can tell).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

/// Three `redis-server` nodes in cluster mode on 127.0.0.1, their slots assigned by
/// `redis-cli --cluster create`, each stopped by its PID when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts the cluster, or `None` as [`RedisServer::start`].
    ///
    /// # Panics
    /// When the nodes do not form a cluster within 30 s.
    #[must_use]
    pub fn start() -> Option<Self> {
        let dir = std::env::temp_dir().join(format!(
            "flowgate-cluster-{}-{}",
            std::process::id(),
            fastrand_port()
        ));
        std::fs::create_dir_all(&dir).expect("a folder for the nodes' files");
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let config = dir.join("nodes-{port}.conf").display().to_string();
            nodes.push(RedisServer::start_with(vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                config,
                "--cluster-node-timeout".into(),
                "5000".into(),
            ])?);
        }
        let cluster = Self { nodes, dir };
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli (Debian's redis-tools, installed with redis-server)");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.nodes.iter().all(|node| {
            node.connection().is_ok_and(|mut c| {
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query::<String>(&mut c)
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            })
        }) {
            assert!(Instant::now() < deadline, "the cluster never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(cluster)
    }

    /// The nodes' URLs.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The node that holds `key`'s slot, asked through any node (`CLUSTER KEYSLOT` and
    /// `CLUSTER NODES`' slot ranges): the key's value is read there.
    ///
    /// # Panics
    /// When the nodes do not answer.
    #[must_use]
    pub fn node_of(&self, key: &str) -> &RedisServer {
        let slot: i64 = self.nodes[0].query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key));
        self.nodes
            .iter()
            .find(|node| {
                let mine: String = node.query(&redis::cmd("CLUSTER").arg("NODES").clone());
                mine.lines()
                    .filter(|line| line.contains("myself"))
                    .flat_map(|line| line.split_whitespace().skip(8))
                    .any(|range| {
                        let (from, to) = range.split_once('-').unwrap_or((range, range));
                        let (from, to): (i64, i64) =
                            (from.parse().unwrap_or(-1), to.parse().unwrap_or(-1));
                        (from..=to).contains(&slot)
                    })
            })
            .expect("a node serves every slot")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fastrand_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
