//! `lcctl replica follow` and `lcctl replica promote`: run a read replica
//! of a database in the foreground, and make a follower the writer.

use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use libcommit::{Database, Options, ReplicaState, ReplicaStatus, Status};
use serde::Serialize;

use crate::view::{text, Lines};
use crate::{Failure, Outcome, EXIT_ERROR, EXIT_OK};

/// How often `follow` prints a status line.
const STATUS_LINE_INTERVAL: Duration = Duration::from_secs(1);
/// How often `follow` looks at the stop flag and the follower's state:
/// a signal is answered within this.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);
/// What lcctl can do about a fork, after the engine's message.
const RESNAPSHOT_HINT: &str = " (lcctl: --resnapshot replaces it with a fresh restore)";

#[derive(Args, Debug)]
pub struct FollowArgs {
    /// The replica (`file:///dir/prefix` or `s3://bucket/prefix?...`).
    pub url: String,
    /// The local database: restored from the replica first when it does
    /// not exist, resumed where it stopped when it does.
    pub path: PathBuf,
    /// Replace a local database the replica cannot continue (a fork: it
    /// has commits the replica never had, or the replica was rolled back)
    /// with a fresh restore; its files are deleted.
    #[arg(long)]
    pub resnapshot: bool,
    /// Look for the replica's next chunk every MS milliseconds (default
    /// 100; each look is one request to the store).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_ms: Option<u64>,
    /// One JSON object per status line and for the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// The replica the database follows (the follower takes it with a
    /// new epoch).
    pub url: String,
    /// The follower's database (its main file).
    pub path: PathBuf,
    /// Machine-readable output (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Set by SIGINT and SIGTERM; the follow loop polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signum: c_int) {
    STOP.store(true, Ordering::Release);
}

extern "C" {
    /// The C library's signal(2) (std links it): the previous handler,
    /// or SIG_ERR.
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
}

/// SIGINT and SIGTERM: the same numbers on every Linux architecture.
const SIGNALS: [c_int; 2] = [2, 15];
const SIG_ERR: usize = usize::MAX;

/// From now on SIGINT and SIGTERM set [`STOP`] instead of killing the
/// process, so that the database is closed cleanly.
fn stop_on_signals() -> Result<(), Failure> {
    for sig in SIGNALS {
        // SAFETY: `on_signal` only stores to an atomic, which is
        // async-signal-safe, and it lives as long as the process; `sig` is
        // a valid signal number that may be caught.
        let previous = unsafe { signal(sig, on_signal) };
        if previous == SIG_ERR {
            return Err(Failure {
                code: EXIT_ERROR,
                status: Status::Io.as_str(),
                message: format!(
                    "install a handler for signal {sig}: {}",
                    std::io::Error::last_os_error()
                ),
            });
        }
    }
    Ok(())
}

/// A status line, as `--json` prints it.
#[derive(Serialize)]
struct Line<'a> {
    state: &'static str,
    epoch: u64,
    applied_seq: u64,
    behind_commits: u64,
    behind_ms: u64,
    apply_lag_ms: u64,
    last_error: &'a str,
}

impl<'a> From<&'a ReplicaStatus> for Line<'a> {
    fn from(s: &'a ReplicaStatus) -> Line<'a> {
        Line {
            state: s.state.as_str(),
            epoch: s.epoch,
            applied_seq: s.applied_seq,
            behind_commits: s.behind_commits,
            behind_ms: s.behind_ms,
            apply_lag_ms: s.apply_lag_ms,
            last_error: &s.last_error,
        }
    }
}

fn print_line(s: &ReplicaStatus, json: bool) {
    if json {
        println!("{}", serde_json::to_string(&Line::from(s)).expect("JSON"));
        return;
    }
    let mut line = format!(
        "applied {}  behind {} commits, {} ms  apply lag {} ms  epoch {}  {}",
        s.applied_seq,
        s.behind_commits,
        s.behind_ms,
        s.apply_lag_ms,
        s.epoch,
        s.state.as_str()
    );
    if s.state != ReplicaState::Following && !s.last_error.is_empty() {
        line.push_str(&format!("  ({})", s.last_error));
    }
    println!("{line}");
}

/// Why the follow loop ended.
enum End {
    /// SIGINT or SIGTERM.
    Signal(ReplicaStatus),
    /// Another process promoted the database; this one's follower took
    /// the replica and ships now.
    Promoted(ReplicaStatus),
    /// The follower stopped: a fork, or a replica it cannot continue from.
    Stopped(ReplicaStatus),
}

/// Prints a status line a second until a signal, a promotion, or the
/// follower stopping.
fn watch(db: &Database, json: bool) -> Result<End, Failure> {
    let mut next_line = Instant::now();
    loop {
        let s = db.replica_status()?;
        if STOP.load(Ordering::Acquire) {
            return Ok(End::Signal(s));
        }
        match s.state {
            ReplicaState::Shipping => return Ok(End::Promoted(s)),
            ReplicaState::Forked | ReplicaState::NeedsSnapshot | ReplicaState::Fenced => {
                print_line(&s, json);
                return Ok(End::Stopped(s));
            }
            _ => {}
        }
        if Instant::now() >= next_line {
            print_line(&s, json);
            next_line += STATUS_LINE_INTERVAL;
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
}

/// A fork's message, with what lcctl can do about it.
fn with_hint(e: libcommit::Error) -> Failure {
    let fork = e.status() == Status::Fenced;
    let mut f = Failure::from(e);
    if fork {
        f.message.push_str(RESNAPSHOT_HINT);
    }
    f
}

#[derive(Serialize)]
struct FollowDoc {
    url: String,
    path: String,
    /// "signal" or "promoted".
    stopped: &'static str,
    state: &'static str,
    epoch: u64,
    applied_seq: u64,
}

pub fn follow(a: &FollowArgs) -> Result<Outcome, Failure> {
    let defaults = Options::default();
    let opts = Options {
        replica_resnapshot: a.resnapshot,
        replica_poll_ms: a.poll_ms.unwrap_or(defaults.replica_poll_ms),
        ..defaults
    };
    // Before the open: a signal during a long restore waits for it, then
    // closes the database like any other.
    stop_on_signals()?;
    let existed = a.path.exists();
    let db = Database::open_follower(&a.url, &a.path, opts).map_err(with_hint)?;
    if !a.json {
        let how = match (existed, a.resnapshot) {
            (false, _) => "restored",
            (true, false) => "resumed",
            (true, true) => "resumed, or restored afresh if it had forked",
        };
        println!("following {} into {} ({how})", a.url, a.path.display());
    }
    let end = watch(&db, a.json);
    let closed = db.close();
    let end = end?;
    closed?;
    let (stopped, s) = match end {
        End::Signal(s) => ("signal", s),
        End::Promoted(s) => ("promoted", s),
        End::Stopped(s) => {
            return Err(Failure {
                code: EXIT_ERROR,
                status: Status::Fenced.as_str(),
                message: format!(
                    "{}: the follower stopped ({}): {}{RESNAPSHOT_HINT}",
                    a.path.display(),
                    s.state.as_str(),
                    s.last_error
                ),
            });
        }
    };
    let doc = FollowDoc {
        url: a.url.clone(),
        path: text(&a.path),
        stopped,
        state: s.state.as_str(),
        epoch: s.epoch,
        applied_seq: s.applied_seq,
    };
    let human = match stopped {
        "promoted" => format!(
            "promoted: {} is the writer at epoch {}; follow stops\n",
            a.path.display(),
            s.epoch
        ),
        _ => format!(
            "stopped: applied commit {}, epoch {}; closed\n",
            s.applied_seq, s.epoch
        ),
    };
    let mut out = Outcome::new(&doc, human, EXIT_OK);
    // One object per line, like the status lines before it.
    out.json = serde_json::to_string(&doc).expect("JSON");
    Ok(out)
}

#[derive(Serialize)]
struct PromoteDoc {
    url: String,
    path: String,
    epoch: u64,
}

pub fn promote(a: &PromoteArgs) -> Result<Outcome, Failure> {
    // Opening would create a database that is not there.
    if !a.path.exists() {
        return Err(Failure::usage(format!(
            "{}: no database there",
            a.path.display()
        )));
    }
    // A follower's database opened with its replica URL ships nothing
    // and fences nobody until promoted; the URL lets this process follow
    // and promote it when no other process follows it now.
    let opts = Options {
        replica: Some(a.url.clone()),
        ..Options::default()
    };
    let db = Database::open(&a.path, opts)?;
    let promoted = db.promote();
    let closed = db.close();
    let epoch = promoted?;
    closed?;
    let doc = PromoteDoc {
        url: a.url.clone(),
        path: text(&a.path),
        epoch,
    };
    let mut l = Lines::new();
    l.kv("promoted", text(&a.path));
    l.kv("epoch", epoch);
    l.raw("the old writer is fenced: its next commit fails\n");
    Ok(Outcome::new(&doc, l.0, EXIT_OK))
}
