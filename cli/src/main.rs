//! `flowgate`: the command line of flowgate. Check a `flowgate.toml` as the attribute
//! and the runtime do, explain why a flag is on or off for some labels, and find flags
//! nobody uses any more.
//!
//! Each command is its own module and calls the library's own code (`flowgate_config`
//! for checks, `Client::explain` for decisions), never a copy of it. Output is a table
//! for people, or JSON with `--json`. Exit codes, fit for CI: 0 all good, 1 findings
//! (an error in the file, stale flags), 2 the command could not run (a missing file,
//! a server that does not answer, a bad argument).

mod check;
mod explain;
mod stale;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Flags declared but used by no gate, handle or call in the sources, and flags
    /// whose rules make them always on or always off (candidates for removal).
    Stale {
        /// The sources to search (default: ./src).
        #[arg(long, value_name = "DIR")]
        src: Option<PathBuf>,
        /// The rules file (default: ./flowgate.toml).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// What a command found: whether the run is a success for CI.
pub(crate) enum Outcome {
    /// Nothing to report.
    Clean,
    /// Something to fix: exit 1.
    Findings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { file } => check::run(&file.unwrap_or_else(default_file), cli.json),
        Command::Explain {
            flag,
            labels,
            file,
            unleash,
        } => explain::run(&flag, &labels, file, unleash.as_deref(), cli.json),
        Command::Stale { src, file } => stale::run(
            &src.unwrap_or_else(|| PathBuf::from("src")),
            &file.unwrap_or_else(default_file),
            cli.json,
        ),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(error) => {
            eprintln!("flowgate: {error}");
            ExitCode::from(2)
        }
    }
}

fn default_file() -> PathBuf {
    PathBuf::from("flowgate.toml")
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values print")
    );
}
