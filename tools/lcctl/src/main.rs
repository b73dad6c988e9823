//! lcctl: see, check, repair and measure a libcommit database, and
//! restore, list and verify its replica, follow one and promote a
//! follower, without reading its code.
//!
//! Every command prints human text on stdout, or one JSON document with
//! `--json`. Errors go to stderr as "lcctl <cmd>: <message>" (and, with
//! `--json`, also as `{"error": ...}` on stdout). Exit codes: 0 success or
//! clean, 1 corruption found, 2 usage or I/O error, 3 busy.

mod bench;
mod follow;
mod inspect;
mod repair;
mod replica;
mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

/// Everything was fine (or, for verify, clean).
pub const EXIT_OK: u8 = 0;
/// Corruption was found.
pub const EXIT_CORRUPT: u8 = 1;
/// Bad usage, a missing file, an I/O error: the command could not run.
pub const EXIT_ERROR: u8 = 2;
/// Another process holds the database past the busy timeout.
pub const EXIT_BUSY: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "lcctl",
    version,
    about = "Inspect, verify, recover and benchmark libcommit databases",
    after_help = "Exit codes: 0 ok/clean, 1 corrupt, 2 usage or I/O error, 3 busy."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Describe a database from its files: header, segments, what recovery
    /// would replay, whether opening would fail. Read-only.
    Info(PathArgs),
    /// Check every checksum (headers, page map, pages, frames, images).
    /// Exit 0 when clean (a torn tail is clean), 1 when corrupt.
    Verify(PathArgs),
    /// Replay the log of a closed database into its main file.
    Recover(RecoverArgs),
    /// Open the database, checkpoint it and close it.
    Checkpoint(CheckpointArgs),
    /// List segments, frames and commits as they are on disk. Read-only.
    Dump(DumpArgs),
    /// A quick durable-commit benchmark beside the raw fdatasync rate.
    Bench(bench::BenchArgs),
    /// Replicas in object storage: restore, ls, verify, status; read
    /// replicas: follow, promote.
    #[command(subcommand)]
    Replica(replica::ReplicaCommand),
}

#[derive(Args, Debug)]
pub struct PathArgs {
    /// The database (its main file).
    pub path: PathBuf,
    /// Machine-readable output (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub common: PathArgs,
    /// Keep the durable prefix when the log is corrupt; segments not
    /// replayed are renamed to `{segment}.corrupt`.
    #[arg(long)]
    pub skip_corrupt: bool,
    /// Delete replayed segments once their pages are in the main file.
    #[arg(long)]
    pub delete_after: bool,
    /// Report what recovery would do, touching nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub common: PathArgs,
    /// How long to wait for another process's writer lock.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub busy_timeout_ms: u32,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub common: PathArgs,
    /// Print at most N frames and N commits (all are still counted).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// What a command produced: a JSON document, its human rendering, and the
/// exit code (a command may succeed in running and still report corruption).
pub struct Outcome {
    /// The JSON document, fields in declaration order.
    pub json: String,
    pub human: String,
    pub code: u8,
    /// Printed to stderr as "lcctl <cmd>: <error>" (e.g. corruption found).
    pub error: Option<String>,
}

impl Outcome {
    pub fn new(doc: &impl Serialize, human: String, code: u8) -> Outcome {
        Outcome {
            json: serde_json::to_string_pretty(doc).expect("report types serialize"),
            human,
            code,
            error: None,
        }
    }

    pub fn with_error(mut self, error: String) -> Outcome {
        self.error = Some(error);
        self
    }
}

/// Why a command could not do its job.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// Short machine name of the kind of failure ("corrupt", "busy", ...).
    pub status: &'static str,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_ERROR,
            status: libcommit::Status::InvalidArgument.as_str(),
            message: message.into(),
        }
    }

    pub fn io(what: &str, path: &std::path::Path, e: std::io::Error) -> Failure {
        Failure {
            code: EXIT_ERROR,
            status: libcommit::Status::Io.as_str(),
            message: format!("{what} {}: {e}", path.display()),
        }
    }
}

impl From<libcommit::Error> for Failure {
    fn from(e: libcommit::Error) -> Failure {
        let status = e.status();
        let code = match status {
            libcommit::Status::Corrupt => EXIT_CORRUPT,
            libcommit::Status::Busy => EXIT_BUSY,
            _ => EXIT_ERROR,
        };
        Failure {
            code,
            status: status.as_str(),
            message: e.to_string(),
        }
    }
}

/// True when progress bars may be drawn: human output to a terminal.
pub fn show_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

fn run(command: &Command) -> (&'static str, bool, Result<Outcome, Failure>) {
    match command {
        Command::Info(a) => ("info", a.json, inspect::info(a)),
        Command::Verify(a) => ("verify", a.json, inspect::verify(a)),
        Command::Dump(a) => ("dump", a.common.json, inspect::dump(a)),
        Command::Recover(a) => ("recover", a.common.json, repair::recover(a)),
        Command::Checkpoint(a) => ("checkpoint", a.common.json, repair::checkpoint(a)),
        Command::Bench(a) => ("bench", a.json, bench::run(a)),
        Command::Replica(c) => {
            let (name, json) = c.describe();
            (name, json, c.run())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, json, result) = run(&cli.command);
    match result {
        Ok(out) => {
            if let Some(e) = &out.error {
                eprintln!("lcctl {name}: {e}");
            }
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.human);
            }
            ExitCode::from(out.code)
        }
        Err(f) => {
            eprintln!("lcctl {name}: {}", f.message);
            if json {
                let doc = serde_json::json!({
                    "command": name,
                    "error": { "status": f.status, "exit_code": f.code, "message": f.message },
                });
                println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
            }
            ExitCode::from(f.code)
        }
    }
}
