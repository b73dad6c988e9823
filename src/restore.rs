//! Restore from a replica, and the offline look at one (`ls`, `verify`).
//!
//! Every slot is read through the verified decoder and checked against
//! the one before it (hash chain, epochs, dense seqs), so a gap, a broken
//! link or a bad checksum stops the restore with an error naming the
//! object: a restore is never a silent prefix. Commits are replayed into
//! a fresh database through the ordinary commit path, each getting exactly
//! the seq it had.

use std::path::Path;
use std::time::Instant;

use crate::db::Database;
use crate::error::{Error, Result};
use crate::options::{Options, SyncMode};
use crate::replica::{self, Commit, Header, Kind, Store, Tip};
use crate::types::{CommitSeq, PageWrite};

/// How far a restore goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestoreTarget {
    /// Everything the replica holds.
    #[default]
    Latest,
    /// Exactly up to this commit.
    Seq(CommitSeq),
    /// Every chunk made at or before this time (milliseconds since the
    /// Unix epoch): the shipping interval's resolution.
    TimeMs(u64),
}

/// What a restore (or a verify) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// The restored database's last commit.
    pub restored_seq: CommitSeq,
    /// Replica objects (slots) read.
    pub objects_read: u64,
    /// Commits replayed (restore) or checked (verify).
    pub commits_applied: u64,
    /// Bytes of the objects read.
    pub bytes_read: u64,
    /// Wall time the restore took.
    pub elapsed_ms: u64,
}

/// One slot of a replica as `lcctl replica ls` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaObject {
    /// Object name under the replica's prefix (`log/{slot:016x}`).
    pub name: String,
    /// "chunk" or "fence".
    pub kind: &'static str,
    /// The epoch of the writer that made it.
    pub epoch: u64,
    /// A chunk's first commit; a fence's first commit of its epoch.
    pub first_seq: CommitSeq,
    /// A chunk's last commit; a fence's last commit before its epoch.
    pub last_seq: CommitSeq,
    /// When it was made (ms since the Unix epoch).
    pub created_ms: u64,
    /// Its size.
    pub bytes: u64,
}

/// Walks the slots in order, verifying each, handing every chunk's
/// commits to `apply` until `wanted` says a chunk is past the target.
fn walk(
    store: &Store,
    wanted: impl Fn(&Header) -> bool,
    mut apply: impl FnMut(&Header, Vec<Commit>) -> Result<()>,
    report: &mut RestoreReport,
) -> Result<Vec<ReplicaObject>> {
    let mut prev: Option<Tip> = None;
    let mut listed = Vec::new();
    for (slot, _) in replica::slots(store)? {
        let (h, bytes) = replica::read_slot(store, slot)?;
        replica::check_link(prev.as_ref(), &h)?;
        let name = replica::slot_name(slot);
        report.objects_read += 1;
        report.bytes_read += bytes.len() as u64;
        listed.push(ReplicaObject {
            name: name.clone(),
            kind: if h.kind == Kind::Fence {
                "fence"
            } else {
                "chunk"
            },
            epoch: h.epoch,
            first_seq: h.first_seq,
            last_seq: h.last_seq,
            created_ms: h.created_ms,
            bytes: bytes.len() as u64,
        });
        if h.kind == Kind::Chunk && wanted(&h) {
            let (_, body) = replica::decode(&name, &bytes)?;
            let commits = replica::chunk_commits(&name, &h, body)?;
            apply(&h, commits)?;
        }
        prev = Some(Tip {
            digest: replica::digest_of(&bytes),
            header: h,
        });
    }
    Ok(listed)
}

/// Restores the replica at `url` into a new database at `dest`.
pub fn restore(url: &str, dest: &Path, target: RestoreTarget) -> Result<RestoreReport> {
    if dest.exists() {
        return Err(Error::invalid(format!(
            "restore: {} exists; restore makes a new database",
            dest.display()
        )));
    }
    let started = Instant::now();
    let store = Store::open(url)?;
    let mut report = RestoreReport::default();
    let limit = match target {
        RestoreTarget::Seq(s) => s,
        _ => CommitSeq::MAX,
    };
    let wanted = |h: &Header| match target {
        RestoreTarget::TimeMs(t) => h.created_ms <= t,
        _ => h.first_seq <= limit,
    };
    let mut db: Option<Database> = None;
    let apply = |h: &Header, commits: Vec<Commit>| -> Result<()> {
        if db.is_none() {
            let opts = Options {
                page_size: h.page_size,
                sync: SyncMode::Normal,
                ..Options::default()
            };
            db = Some(Database::open(dest, opts)?);
        }
        let Some(d) = db.as_ref() else { return Ok(()) };
        for c in commits.into_iter().filter(|c| c.seq <= limit) {
            let writes: Vec<PageWrite<'_>> = c
                .writes
                .iter()
                .map(|(p, d)| PageWrite {
                    pgno: *p,
                    data: d.as_deref(),
                })
                .collect();
            let got = d.commit_batch(&writes)?;
            if got != c.seq {
                return Err(Error::Internal(format!(
                    "restore: commit {} was replayed as {got}",
                    c.seq
                )));
            }
            report.restored_seq = got;
            report.commits_applied += 1;
        }
        Ok(())
    };
    let mut walked = RestoreReport::default();
    walk(&store, wanted, apply, &mut walked)?;
    report.objects_read = walked.objects_read;
    report.bytes_read = walked.bytes_read;
    if let RestoreTarget::Seq(s) = target {
        if report.restored_seq < s {
            drop(db.take());
            return Err(Error::invalid(format!(
                "restore: the replica holds commits only up to {}, not {s}",
                report.restored_seq
            )));
        }
    }
    let db = match db {
        Some(d) => d,
        None => Database::open(dest, Options::default())?,
    };
    db.checkpoint()?;
    db.close()?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Every slot of the replica, verified link by link.
pub fn replica_ls(url: &str) -> Result<Vec<ReplicaObject>> {
    let store = Store::open(url)?;
    walk(
        &store,
        |_| false,
        |_, _| Ok(()),
        &mut RestoreReport::default(),
    )
}

/// Reads and checks every object and every commit in the replica.
pub fn replica_verify(url: &str) -> Result<RestoreReport> {
    let store = Store::open(url)?;
    let mut report = RestoreReport::default();
    let mut last = 0;
    let mut count = 0;
    walk(
        &store,
        |_| true,
        |_, commits| {
            count += commits.len() as u64;
            last = commits.last().map_or(last, |c| c.seq);
            Ok(())
        },
        &mut report,
    )?;
    report.restored_seq = last;
    report.commits_applied = count;
    Ok(report)
}
