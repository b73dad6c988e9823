//! Restore: the newest snapshot at or before the target written as the
//! main file, then the chunks after it replayed to the target exactly.

use std::path::Path;
use std::time::Instant;

use crate::db::Database;
use crate::error::{Error, Result};
use crate::options::{Options, SyncMode};
use crate::replica::{
    self, Commit, Header, Kind, Lineage, LineageFile, Part, Snapshot, Store, Tip, NO_SLOT,
};
use crate::types::{CommitSeq, PageWrite};

use super::image;
use super::walk::{self, Counts};

/// How far a restore goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestoreTarget {
    /// Everything the replica holds.
    #[default]
    Latest,
    /// Exactly up to this commit.
    Seq(CommitSeq),
    /// Every snapshot and chunk made at or before this time
    /// (milliseconds since the Unix epoch): the shipping interval's
    /// resolution.
    TimeMs(u64),
}

impl RestoreTarget {
    fn last_seq(self) -> CommitSeq {
        match self {
            RestoreTarget::Seq(s) => s,
            _ => CommitSeq::MAX,
        }
    }

    /// True when an object made as `h` says is within the target.
    fn admits(self, h: &Header) -> bool {
        match self {
            RestoreTarget::TimeMs(t) => h.created_ms <= t,
            RestoreTarget::Seq(s) => h.first_seq <= s,
            RestoreTarget::Latest => true,
        }
    }
}

/// What a restore (or a verify) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// The restored database's last commit.
    pub restored_seq: CommitSeq,
    /// Replica objects read and verified.
    pub objects_read: u64,
    /// Commits replayed (or, for verify, checked).
    pub commits_applied: u64,
    /// Bytes of replica objects read.
    pub bytes_read: u64,
    /// The snapshot the restore started from (its checkpoint seq; 0: it
    /// started from slot 0). Verify: snapshots checked.
    pub snapshot_seq: CommitSeq,
    /// Wall-clock time the restore took.
    pub elapsed_ms: u64,
}

/// The newest snapshot within `target` whose anchor is in the replica's
/// history, with the anchor slot to walk on from. A marker whose anchor
/// slot holds other bytes (its fence lost a race) is passed by.
fn pick(store: &Store, target: RestoreTarget) -> Result<Option<(Snapshot, Tip)>> {
    let snaps = replica::snapshots(store)?;
    for s in snaps.into_iter().rev() {
        let within = match target {
            RestoreTarget::TimeMs(t) => s.header.created_ms <= t,
            _ => s.seq() <= target.last_seq(),
        };
        if !within {
            continue;
        }
        if let Some(a) = walk::anchor(store, s.header.slot, &s.header.prev_digest)? {
            return Ok(Some((s, a.tip)));
        }
    }
    Ok(None)
}

fn replay(db: &Database, commits: Vec<Commit>, report: &mut RestoreReport) -> Result<()> {
    for c in commits {
        let writes: Vec<PageWrite<'_>> = c
            .writes
            .iter()
            .map(|(p, d)| PageWrite {
                pgno: *p,
                data: d.as_deref(),
            })
            .collect();
        let got = db.commit_batch(&writes)?;
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
    let mut counts = Counts::default();
    let limit = target.last_seq();
    let (mut db, start) = match from_snapshot(&store, target, dest, &mut report, &mut counts)? {
        Some((d, anchor)) => (Some(d), Some(anchor)),
        None => (None, None),
    };
    // The newest slot whose commits are all in the restored database.
    let mut whole: Option<Tip> = start.clone();
    walk::walk(
        &store,
        start,
        |h| target.admits(h),
        |slot, _| {
            let h = slot.header;
            check_restart(h, target, report.restored_seq)?;
            if !target.admits(h) {
                return Ok(false);
            }
            if h.kind != Kind::Chunk {
                if !replica::is_restart(h) || report.restored_seq + 1 >= h.first_seq {
                    whole = Some(Tip {
                        header: h.clone(),
                        digest: slot.digest,
                    });
                }
                return Ok(true);
            }
            let d = match &db {
                Some(d) => d,
                None => db.insert(Database::open(dest, restore_options(h.page_size))?),
            };
            let after = report.restored_seq;
            let wanted = slot
                .commits
                .into_iter()
                .filter(|c| c.seq > after && c.seq <= limit)
                .collect();
            replay(d, wanted, &mut report)?;
            if h.last_seq <= limit {
                whole = Some(Tip {
                    header: h.clone(),
                    digest: slot.digest,
                });
            }
            Ok(h.last_seq < limit)
        },
        &mut counts,
    )?;
    report.objects_read = counts.objects;
    report.bytes_read = counts.bytes;
    finish(url, dest, target, db, whole.as_ref(), &report)?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The restored database checked against the target, checkpointed,
/// closed and given its lineage.
fn finish(
    url: &str,
    dest: &Path,
    target: RestoreTarget,
    mut db: Option<Database>,
    whole: Option<&Tip>,
    report: &RestoreReport,
) -> Result<()> {
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
    write_lineage(url, dest, whole)
}

/// The restored copy's lineage: the replica's history up to `whole`
/// (None: the replica was empty), so that it can follow on from there,
/// or take the replica over while it is at the tip.
fn write_lineage(url: &str, dest: &Path, whole: Option<&Tip>) -> Result<()> {
    let l = match whole {
        Some(t) => Lineage::at(
            Part::Restored,
            url,
            t.header.epoch,
            t.header.slot,
            replica::next_seq(&t.header) - 1,
            t.digest,
        ),
        None => Lineage::at(Part::Restored, url, 0, NO_SLOT, 0, [0; 32]),
    };
    let storage = Options::default().storage;
    let file =
        LineageFile::open(storage.as_ref(), dest, true)?.expect("a created lineage file is there");
    file.write(&l, true)
}

/// The database `dest` made from the newest snapshot within `target`
/// (and the anchor its walk goes on from), or None when no snapshot is.
fn from_snapshot(
    store: &Store,
    target: RestoreTarget,
    dest: &Path,
    report: &mut RestoreReport,
    counts: &mut Counts,
) -> Result<Option<(Database, Tip)>> {
    let Some((snap, anchor)) = pick(store, target)? else {
        return Ok(None);
    };
    let opts = restore_options(snap.header.page_size);
    let bytes = image::write_main(opts.storage.as_ref(), store, &snap, dest)?;
    counts.objects += 2;
    counts.bytes += bytes + snap.marker_bytes;
    let d = Database::open(dest, opts)?;
    let at = d.stats()?.last_commit_seq;
    if at != snap.seq() {
        return Err(Error::corrupt(format!(
            "replica snapshot {}: the restored file opens at commit {at}, not {}",
            snap.image_name(),
            snap.seq()
        )));
    }
    (report.restored_seq, report.snapshot_seq) = (at, at);
    Ok(Some((d, anchor)))
}

/// A restart fence the restore needs to go past without having started
/// from a snapshot at or after it: the commits it skips are in no chunk.
fn check_restart(h: &Header, target: RestoreTarget, restored: CommitSeq) -> Result<()> {
    let wanted_past = match target {
        RestoreTarget::TimeMs(_) => target.admits(h),
        _ => target.last_seq() > h.last_seq,
    };
    if !replica::is_restart(h) || !wanted_past || restored > h.last_seq {
        return Ok(());
    }
    let why = format!(
        "replica: commits {}..={} are in no chunk (object {} restarts from a \
         snapshot): restore to a commit before them or from that snapshot on",
        h.last_seq + 1,
        h.first_seq - 1,
        replica::slot_name(h.slot)
    );
    // Asked for a commit the replica never had: the caller's to change.
    // Asked for the latest: its snapshot is gone.
    Err(match target {
        RestoreTarget::Latest => Error::corrupt(why),
        _ => Error::invalid(why),
    })
}

fn restore_options(page_size: u32) -> Options {
    Options {
        page_size,
        sync: SyncMode::Normal,
        ..Options::default()
    }
}
