//! The offline look at a replica: list it, verify every byte of it, and
//! apply retention to it.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::replica::{self, Pruned, Retention, Store};

use super::image;
use super::run::RestoreReport;
use super::walk::{self, Counts, ReplicaObject};

/// Every snapshot and every slot of the replica, slots verified link by
/// link from the oldest kept (which, when it is not slot 0, must be a
/// snapshot's anchor).
pub fn replica_ls(url: &str) -> Result<Vec<ReplicaObject>> {
    let store = Store::open(url)?;
    let mut out = Vec::new();
    walk_all(&store, false, |o| out.push(o), &mut Counts::default())?;
    Ok(out)
}

/// The start of the history as retention left it: None from slot 0, or
/// the anchor of the snapshot whose anchor is the oldest slot kept.
fn start(store: &Store, snaps: &[replica::Snapshot]) -> Result<Option<replica::Tip>> {
    let Some(&(first, _)) = replica::slots(store)?.first() else {
        return Ok(None);
    };
    if first == 0 {
        return Ok(None);
    }
    for s in snaps.iter().filter(|s| s.header.slot == first) {
        if let Some(t) = walk::anchor(store, first, &s.header.prev_digest)? {
            // The walk goes on after the anchor; the anchor itself is
            // counted as the slot the history starts with.
            return Ok(Some(t));
        }
    }
    Err(Error::corrupt(format!(
        "replica: object {} is missing, and no snapshot starts the history at {}",
        replica::slot_name(first - 1),
        replica::slot_name(first)
    )))
}

/// Walks everything: snapshots first (oldest first), then the slots.
/// A restart fence needs a snapshot anchored at it.
fn walk_all(
    store: &Store,
    decode_chunks: bool,
    mut each: impl FnMut(ReplicaObject),
    counts: &mut Counts,
) -> Result<u64> {
    let snaps = replica::snapshots(store)?;
    let mut anchors = BTreeSet::new();
    for s in &snaps {
        anchors.insert((s.header.slot, s.header.prev_digest));
        counts.objects += 1;
        counts.bytes += s.marker_bytes;
        each(ReplicaObject::of_snapshot(s));
    }
    let begin = start(store, &snaps)?;
    if let Some(t) = &begin {
        counts.objects += 1;
        each(ReplicaObject::of_slot(&t.header, 0));
    }
    let mut commits = 0u64;
    walk::walk(
        store,
        begin,
        |_| decode_chunks,
        |slot, bytes| {
            let h = slot.header;
            if replica::is_restart(h) && !anchors.contains(&(h.slot, slot.digest)) {
                return Err(Error::corrupt(format!(
                    "replica: object {} restarts the history at commit {} but no snapshot \
                     starts there",
                    replica::slot_name(h.slot),
                    h.first_seq
                )));
            }
            commits += slot.commits.len() as u64;
            each(ReplicaObject::of_slot(h, bytes));
            Ok(true)
        },
        counts,
    )?;
    Ok(commits)
}

/// Reads and checks every object of the replica: each slot and its link,
/// each chunk's commits, each snapshot's image (size, BLAKE3 digest, and
/// the main-file header inside it).
pub fn replica_verify(url: &str) -> Result<RestoreReport> {
    let store = Store::open(url)?;
    let mut counts = Counts::default();
    let mut last = 0;
    let commits = walk_all(
        &store,
        true,
        |o| {
            if o.kind != "snapshot" {
                last = last.max(o.last_seq);
            }
        },
        &mut counts,
    )?;
    let mut report = RestoreReport::default();
    for s in replica::snapshots(&store)? {
        counts.bytes += image::fetch(&store, &s, |_| Ok(()))?;
        counts.objects += 1;
        report.snapshot_seq = report.snapshot_seq.max(s.seq());
        last = last.max(s.seq());
    }
    report.restored_seq = last;
    report.commits_applied = commits;
    report.objects_read = counts.objects;
    report.bytes_read = counts.bytes;
    Ok(report)
}

/// Applies `policy` to the replica as of `now_ms` (ms since the Unix
/// epoch): what a shipper does after each snapshot, for an operator or a
/// test with a clock of its own.
pub fn replica_prune(url: &str, policy: &Retention, now_ms: u64) -> Result<Pruned> {
    replica::prune(&Store::open(url)?, policy, now_ms)
}
