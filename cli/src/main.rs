//! `flowgate`: the command line of flowgate. Check a `flowgate.toml` as the attribute
//! and the runtime do, explain why a flag is on or off for some labels, and find flags
//! nobody uses any more.
//!
//! Each command is its own module and calls the library's own code (`flowgate_config`
//! for checks, `Client::explain` for decisions), never a copy of it. Output is a table
//! for people, or JSON with `--json`. Exit codes, fit for CI: 0 all good, 1 findings
//! (an error in the file, stale flags), 2 the command could not run (a missing file,
//! a server that does not answer, a bad argument).

mod admin;
mod check;
mod explain;
mod model;
mod report;
mod stale;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use report::Outcome;

/// Check, explain and clean up flowgate's feature flags.
#[derive(Parser, Debug)]
#[command(name = "flowgate", version, about)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a rules file as the attribute and the runtime do: the error with its
    /// `file:line:col`, flag and key. Exit 1 on one.
    Check {
        /// The file (default: ./flowgate.toml).
        file: Option<PathBuf>,
        /// The file, as the other commands take it.
        #[arg(long = "file", conflicts_with = "file")]
        file_option: Option<PathBuf>,
    },
    /// Why a flag is on or off for some labels: the strategies, constraints, rollout
    /// bucket and variant, step by step, as the runtime decides.
    Explain {
        /// The flag.
        flag: String,
        /// A label of the call, `name=value` (repeat for more).
        #[arg(long = "label", short = 'l', value_name = "NAME=VALUE")]
        labels: Vec<String>,
        /// The rules file (default: ./flowgate.toml, unless --unleash is given).
        #[arg(long, conflicts_with = "unleash")]
        file: Option<PathBuf>,
        /// An Unleash server's client API (`http://host:4242/api`); its token from
        /// `UNLEASH_API_TOKEN`.
        #[arg(long, value_name = "URL")]
        unleash: Option<String>,
    },
    /// Compare the file with an Unleash project's environment: flags only on one side,
    /// and flags whose rules differ (by field). Exit 1 when they differ.
    Diff {
        #[command(flatten)]
        server: Server,
    },
    /// Create and update the file's flags on Unleash (a dry run unless --apply):
    /// one `flexibleRollout` strategy each, enabled or not in the environment.
    Push {
        #[command(flatten)]
        server: Server,
        /// Make the changes (without it, print them).
        #[arg(long)]
        apply: bool,
    },
    /// Write the file from an Unleash project's environment, keeping the file's
    /// descriptions, fallbacks, limits and file-only flags. Exit 1 when some flag
    /// could not be written (said on stderr).
    Pull {
        #[command(flatten)]
        server: Server,
        /// Only the flags the file already has (else every flag of the project).
        #[arg(long)]
        only_known: bool,
    },
    /// Flags declared but used by no gate, handle or call in the sources, and flags
    /// whose rules make them always on or always off (candidates for removal).
    Stale {
        /// The sources to search (default: ./src).
        #[arg(long, value_name = "DIR")]
        src: Option<PathBuf>,
        /// The rules file (default: ./flowgate.toml).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Also ask this Unleash server (its root URL; admin token from
        /// `UNLEASH_ADMIN_TOKEN`) which flags no client has evaluated lately.
        #[arg(long = "unleash", value_name = "URL")]
        unleash: Option<String>,
        /// With --unleash: the project.
        #[arg(long, default_value = "default")]
        project: String,
        /// With --unleash: flags not seen by any client for this many days are stale.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// Where the Unleash side of `diff`, `push` and `pull` is.
#[derive(clap::Args, Debug)]
struct Server {
    /// The Unleash server (its root URL, e.g. `http://127.0.0.1:4242`); its admin
    /// token from `UNLEASH_ADMIN_TOKEN`.
    #[arg(long = "unleash", value_name = "URL", env = "UNLEASH_ADMIN_URL")]
    url: String,
    /// The project.
    #[arg(long, default_value = "default")]
    project: String,
    /// The environment whose rules are compared or copied.
    #[arg(long, short = 'e', default_value = "development")]
    environment: String,
    /// The rules file (default: ./flowgate.toml).
    #[arg(long)]
    file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { file, file_option } => {
            check::run(&file.or(file_option).unwrap_or_else(default_file), cli.json)
        }
        Command::Explain {
            flag,
            labels,
            file,
            unleash,
        } => explain::run(
            &flag,
            &labels,
            &file.unwrap_or_else(default_file),
            unleash.as_deref(),
            cli.json,
        ),
        Command::Diff { server } => sync::diff(
            &server.file.clone().unwrap_or_else(default_file),
            &server.url,
            &server.project,
            &server.environment,
            cli.json,
        ),
        Command::Push { server, apply } => sync::push(
            &server.file.clone().unwrap_or_else(default_file),
            &server.url,
            &server.project,
            &server.environment,
            apply,
            cli.json,
        ),
        Command::Pull { server, only_known } => sync::pull(
            &server.file.clone().unwrap_or_else(default_file),
            &server.url,
            &server.project,
            &server.environment,
            only_known,
            cli.json,
        ),
        Command::Stale {
            src,
            file,
            unleash,
            project,
            days,
        } => stale::run(
            &src.unwrap_or_else(|| PathBuf::from("src")),
            &file.unwrap_or_else(default_file),
            unleash.as_deref().map(|url| (url, project.as_str(), days)),
            cli.json,
        ),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(error) => {
            if cli.json {
                report::print_json(&serde_json::json!({ "error": error }));
            }
            eprintln!("flowgate: {error}");
            ExitCode::from(2)
        }
    }
}

fn default_file() -> PathBuf {
    PathBuf::from("flowgate.toml")
}
