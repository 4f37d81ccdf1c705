//! The surveys app from the Unleash Python tutorial, in Rust, on the embedded engine.
//!
//! `cargo run --example surveys`, then open the printed address. Edit
//! `examples/flowgate.toml` (set `delete_survey_flag`'s `enabled = false`) and reload
//! the page: the Delete buttons are gone and `/surveys/1/delete` answers 404, with no
//! restart.
//!
//! With `UNLEASH_URL` (and `UNLEASH_API_TOKEN`, a backend token) set, the flags come
//! from that Unleash server instead: create `delete_survey_flag` there and toggle it.
//! Every state fetched is backed up (by default, in the state directory; the path is
//! printed), so the app restarted while Unleash is down keeps its flags: `/ready` says
//! `"serving": "backup"` until Unleash answers again.
//!
//! Environment: `FLOWGATE_CONFIG` (rules file, default `examples/flowgate.toml`),
//! `SURVEYS_DB` (`SQLite` file, default `surveys.db` in the user's data directory, e.g.
//! `~/.local/share/flowgate-surveys/`: never a path other users share), `PORT`
//! (default: any free port).

use std::path::PathBuf;

use flowgate::unleash::UnleashConfig;
use flowgate::Client;
use flowgate_examples::surveys;

/// Runs the app; a mistake at start-up (a rules file that does not read, a port in use)
/// is printed as its message (`flowgate.toml:3:11: ...`) and exits 1.
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("surveys: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("surveys: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "flowgate=info".into()),
        )
        .init();

    let rules = std::env::var_os("FLOWGATE_CONFIG").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/flowgate.toml")),
        PathBuf::from,
    );
    let (flags, source) = match UnleashConfig::from_env() {
        Some(config) => {
            let url = std::env::var("UNLEASH_URL").unwrap_or_default();
            let environment =
                std::env::var("UNLEASH_ENVIRONMENT").unwrap_or_else(|_| "development".into());
            // A short refresh, so that a toggle shows in the app within a second or so.
            let config = config
                .environment(environment)
                .refresh_interval(std::time::Duration::from_secs(1));
            let unleash = flowgate::unleash::Unleash::start(config)?;
            let backup = unleash
                .backup_path()
                .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
            let client = Client::new(unleash);
            (client, format!("Unleash at {url} (backup: {backup})"))
        }
        None => (
            Client::from_file(&rules)?,
            format!("{} (edit it: changes apply live)", rules.display()),
        ),
    };
    let db_path = match std::env::var_os("SURVEYS_DB") {
        Some(path) => PathBuf::from(path),
        None => default_db()?,
    };
    let db = surveys::open_db(&db_path)?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;

    println!("surveys: listening on http://{}/", listener.local_addr()?);
    println!("  flags:    {source}");
    println!("  database: {}", db_path.display());
    println!("  ready:    http://{}/ready", listener.local_addr()?);
    println!("  stop with Ctrl-C");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    surveys::serve(listener, surveys::AppState::new(flags, db), shutdown).await?;
    Ok(())
}

/// The database in the user's data directory, created if needed.
fn default_db() -> std::io::Result<PathBuf> {
    let dir = dirs::data_dir()
        .ok_or_else(|| std::io::Error::other("no data directory: set SURVEYS_DB"))?
        .join("flowgate-surveys");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join("surveys.db"))
}
