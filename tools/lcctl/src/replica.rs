//! `lcctl replica`: restore from a replica, list and verify one, show the
//! shipper's (or follower's) status of a database; `follow` and `promote`
//! are in follow.rs.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use libcommit::{inspect as li, ReplicaObject, ReplicaState, RestoreReport, RestoreTarget};
use serde::Serialize;

use crate::follow::{self, FollowArgs, PromoteArgs};
use crate::view::{text, Lines};
use crate::{Failure, Outcome, EXIT_OK};

#[derive(Subcommand, Debug)]
pub enum ReplicaCommand {
    /// Restore the replica at URL into a new database at PATH: the newest
    /// snapshot at or before the target, then the chunks after it.
    Restore(RestoreArgs),
    /// List the replica's snapshots and slots (each verified).
    Ls(UrlArgs),
    /// Check every object of the replica: checksums, the hash chain, the
    /// snapshots' images. Exit 0 when clean, 1 when damaged.
    Verify(UrlArgs),
    /// The replica shipper's (or follower's) status of the database at
    /// PATH, as the process that ships or follows publishes it. Read-only.
    Status(StatusArgs),
    /// Follow the replica at URL into the database at PATH, printing a
    /// status line a second.
    ///
    /// PATH is restored first if it does not exist, resumed if it does.
    /// Runs until SIGINT or SIGTERM (exit 0, the database closed cleanly)
    /// or a promotion by another process (exit 0). A fork - PATH has
    /// commits the replica never had - exits 2; --resnapshot replaces it.
    Follow(FollowArgs),
    /// Promote the follower at PATH of the replica at URL to the writer;
    /// prints the new epoch.
    ///
    /// The follower applies everything the replica holds and takes it
    /// with a new epoch (the old writer is fenced). Works while `replica
    /// follow` runs for PATH in another process, and when none does.
    Promote(PromoteArgs),
}

#[derive(Args, Debug)]
pub struct UrlArgs {
    /// The replica (`file:///dir/prefix` or `s3://bucket/prefix?...`).
    pub url: String,
    /// Machine-readable output (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: UrlArgs,
    /// Where the new database goes (must not exist).
    pub path: PathBuf,
    /// Restore exactly up to this commit.
    #[arg(long, value_name = "N", conflicts_with = "time")]
    pub seq: Option<u64>,
    /// Restore what was shipped at or before this time: milliseconds
    /// since the Unix epoch, or UTC as 2026-12-07T12:00:00Z.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The database (its main file).
    pub path: PathBuf,
    /// Machine-readable output (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ReplicaCommand {
    /// The command's name (for messages) and whether it prints JSON.
    pub fn describe(&self) -> (&'static str, bool) {
        match self {
            ReplicaCommand::Restore(a) => ("replica restore", a.common.json),
            ReplicaCommand::Ls(a) => ("replica ls", a.json),
            ReplicaCommand::Verify(a) => ("replica verify", a.json),
            ReplicaCommand::Status(a) => ("replica status", a.json),
            ReplicaCommand::Follow(a) => ("replica follow", a.json),
            ReplicaCommand::Promote(a) => ("replica promote", a.json),
        }
    }

    pub fn run(&self) -> Result<Outcome, Failure> {
        match self {
            ReplicaCommand::Restore(a) => restore(a),
            ReplicaCommand::Ls(a) => ls(a),
            ReplicaCommand::Verify(a) => verify(a),
            ReplicaCommand::Status(a) => status(a),
            ReplicaCommand::Follow(a) => follow::follow(a),
            ReplicaCommand::Promote(a) => follow::promote(a),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the Unix epoch from `ms` or `YYYY-MM-DDTHH:MM:SSZ`.
fn parse_time(t: &str) -> Result<u64, Failure> {
    if let Ok(ms) = t.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || {
        Failure::usage(format!(
            "--time {t:?}: expected milliseconds or YYYY-MM-DDTHH:MM:SSZ"
        ))
    };
    let b = t.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().map_err(|_| bad());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs * 1000).map_err(|_| bad())
}

#[derive(Serialize)]
struct RestoreDoc {
    url: String,
    path: String,
    /// "latest", "seq" or "time".
    target: &'static str,
    target_value: Option<u64>,
    restored_seq: u64,
    /// The snapshot the restore started from (0: from the first slot).
    snapshot_seq: u64,
    objects_read: u64,
    commits_applied: u64,
    bytes_read: u64,
    elapsed_ms: u64,
}

fn restore(a: &RestoreArgs) -> Result<Outcome, Failure> {
    let (target, name, value) = match (a.seq, &a.time) {
        (Some(s), _) => (RestoreTarget::Seq(s), "seq", Some(s)),
        (None, Some(t)) => {
            let ms = parse_time(t)?;
            (RestoreTarget::TimeMs(ms), "time", Some(ms))
        }
        (None, None) => (RestoreTarget::Latest, "latest", None),
    };
    let r: RestoreReport = libcommit::restore(&a.common.url, &a.path, target)?;
    let doc = RestoreDoc {
        url: a.common.url.clone(),
        path: text(&a.path),
        target: name,
        target_value: value,
        restored_seq: r.restored_seq,
        snapshot_seq: r.snapshot_seq,
        objects_read: r.objects_read,
        commits_applied: r.commits_applied,
        bytes_read: r.bytes_read,
        elapsed_ms: r.elapsed_ms,
    };
    let mut l = Lines::new();
    l.kv("restored to", format!("commit {}", r.restored_seq));
    let from = match r.snapshot_seq {
        0 => "the first slot (no snapshot)".to_string(),
        s => format!("snapshot at commit {s}"),
    };
    l.kv("started from", from);
    l.kv("commits applied", r.commits_applied);
    l.kv(
        "objects read",
        format!("{} ({} bytes)", r.objects_read, r.bytes_read),
    );
    Ok(Outcome::new(&doc, l.0, EXIT_OK))
}

#[derive(Serialize)]
struct ObjectView {
    name: String,
    kind: &'static str,
    epoch: u64,
    first_seq: u64,
    last_seq: u64,
    created_ms: u64,
    bytes: u64,
}

impl From<&ReplicaObject> for ObjectView {
    fn from(o: &ReplicaObject) -> ObjectView {
        ObjectView {
            name: o.name.clone(),
            kind: o.kind,
            epoch: o.epoch,
            first_seq: o.first_seq,
            last_seq: o.last_seq,
            created_ms: o.created_ms,
            bytes: o.bytes,
        }
    }
}

#[derive(Serialize)]
struct LsDoc {
    url: String,
    objects: Vec<ObjectView>,
}

fn ls(a: &UrlArgs) -> Result<Outcome, Failure> {
    let objects: Vec<ObjectView> = libcommit::replica_ls(&a.url)?
        .iter()
        .map(ObjectView::from)
        .collect();
    let mut human = String::new();
    for o in &objects {
        let seqs = match o.kind {
            "snapshot" => format!("at commit {}", o.last_seq),
            "fence" => format!("epoch starts at commit {}", o.first_seq),
            _ => format!("commits {}..={}", o.first_seq, o.last_seq),
        };
        human.push_str(&format!(
            "{:<8} {:<44} epoch {:<4} {seqs} ({} bytes)\n",
            o.kind, o.name, o.epoch, o.bytes
        ));
    }
    let doc = LsDoc {
        url: a.url.clone(),
        objects,
    };
    Ok(Outcome::new(&doc, human, EXIT_OK))
}

#[derive(Serialize)]
struct VerifyDoc {
    url: String,
    clean: bool,
    last_seq: u64,
    newest_snapshot_seq: u64,
    commits_checked: u64,
    objects_read: u64,
    bytes_read: u64,
}

fn verify(a: &UrlArgs) -> Result<Outcome, Failure> {
    // Damage comes back as a Corrupt error: exit 1 with the object named.
    let r = libcommit::replica_verify(&a.url)?;
    let doc = VerifyDoc {
        url: a.url.clone(),
        clean: true,
        last_seq: r.restored_seq,
        newest_snapshot_seq: r.snapshot_seq,
        commits_checked: r.commits_applied,
        objects_read: r.objects_read,
        bytes_read: r.bytes_read,
    };
    let mut l = Lines::new();
    l.kv("replica", "clean");
    l.kv("last commit", r.restored_seq);
    l.kv("newest snapshot", r.snapshot_seq);
    l.kv("commits checked", r.commits_applied);
    l.kv(
        "objects read",
        format!("{} ({} bytes)", r.objects_read, r.bytes_read),
    );
    Ok(Outcome::new(&doc, l.0, EXIT_OK))
}

#[derive(Serialize)]
struct StatusDoc {
    path: String,
    /// False: no process ships this database now; the rest is what the
    /// last shipper left.
    shipper_alive: bool,
    updated_ms: u64,
    state: &'static str,
    epoch: u64,
    shipped_seq: u64,
    lag_commits: u64,
    lag_bytes: u64,
    oldest_unshipped_ms: u64,
    snapshot_seq: u64,
    /// A follower: every commit up to this one is applied (0 otherwise).
    applied_seq: u64,
    /// A follower: commits in the replica not applied yet, and the age of
    /// the oldest (ms).
    behind_commits: u64,
    behind_ms: u64,
    /// A follower: from the newest applied chunk's making to its commits
    /// being visible (ms).
    apply_lag_ms: u64,
    last_error: String,
}

fn status(a: &StatusArgs) -> Result<Outcome, Failure> {
    let Some(f) = li::replica_status(&a.path)? else {
        return Err(Failure::usage(format!(
            "{}: no replica status (no shipper has run for this database)",
            a.path.display()
        )));
    };
    let s = &f.status;
    let doc = StatusDoc {
        path: text(&a.path),
        shipper_alive: f.shipper_alive,
        updated_ms: f.updated_ms,
        state: s.state.as_str(),
        epoch: s.epoch,
        shipped_seq: s.shipped_seq,
        lag_commits: s.lag_commits,
        lag_bytes: s.lag_bytes,
        oldest_unshipped_ms: s.oldest_unshipped_ms,
        snapshot_seq: s.snapshot_seq,
        applied_seq: s.applied_seq,
        behind_commits: s.behind_commits,
        behind_ms: s.behind_ms,
        apply_lag_ms: s.apply_lag_ms,
        last_error: s.last_error.clone(),
    };
    let mut l = Lines::new();
    l.kv("state", s.state.as_str());
    l.kv(
        "shipper",
        if f.shipper_alive {
            "running"
        } else {
            "not running (last known status)"
        },
    );
    l.kv("epoch", s.epoch);
    l.kv("shipped", format!("commit {}", s.shipped_seq));
    l.kv(
        "lag",
        format!("{} commits, {} bytes", s.lag_commits, s.lag_bytes),
    );
    l.kv("oldest unshipped", format!("{} ms", s.oldest_unshipped_ms));
    l.kv("snapshot", format!("commit {}", s.snapshot_seq));
    if s.applied_seq > 0 || s.state == ReplicaState::Following || s.state == ReplicaState::Forked {
        l.kv("applied", format!("commit {}", s.applied_seq));
        l.kv(
            "behind",
            format!("{} commits, {} ms", s.behind_commits, s.behind_ms),
        );
        l.kv("apply lag", format!("{} ms", s.apply_lag_ms));
    }
    if !s.last_error.is_empty() {
        l.kv("last error", &s.last_error);
    }
    Ok(Outcome::new(&doc, l.0, EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_ms_or_utc() {
        assert_eq!(parse_time("1234").unwrap(), 1234);
        assert_eq!(parse_time("1970-01-02T00:00:01Z").unwrap(), 86_401_000);
        assert_eq!(
            parse_time("2026-12-07T12:00:00Z").unwrap(),
            1_796_644_800_000
        );
        assert!(parse_time("2026-13-07T12:00:00Z").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
