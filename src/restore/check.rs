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
fn start(store: &Store, snaps: &[replica::Snapshot]) -> Result<Option<walk::Anchor>> {
    let Some(&(first, _)) = replica::slots(store)?.first() else {
        return Ok(None);
    };
    if first == 0 {
        return Ok(None);
    }
    for s in snaps.iter().filter(|s| s.header.slot == first) {
        if let Some(a) = walk::anchor(store, first, &s.header.prev_digest)? {
            return Ok(Some(a));
        }
    }
    Err(Error::corrupt(format!(
        "replica: object {} is missing, and no snapshot starts the history at {}",
        replica::slot_name(first - 1),
        replica::slot_name(first)
    )))
}

/// Walks everything: snapshots first (oldest first), then the slots; the
/// snapshots in the history (anchored at a slot holding the bytes they
/// name) come back. A restart fence needs one anchored at it; a marker
/// anchored nowhere (its fence lost a race) is listed as a stray.
fn walk_all(
    store: &Store,
    decode_chunks: bool,
    mut each: impl FnMut(ReplicaObject),
    counts: &mut Counts,
) -> Result<(u64, Vec<replica::Snapshot>)> {
    let mut anchored = Vec::new();
    for s in replica::snapshots(store)? {
        counts.objects += 1;
        counts.bytes += s.marker_bytes;
        let mut o = ReplicaObject::of_snapshot(&s);
        if walk::anchor(store, s.header.slot, &s.header.prev_digest)?.is_some() {
            anchored.push(s);
        } else {
            o.kind = "stray snapshot";
        }
        each(o);
    }
    let anchors: BTreeSet<_> = anchored
        .iter()
        .map(|s| (s.header.slot, s.header.prev_digest))
        .collect();
    // The walk goes on after the anchor; the anchor itself is the slot
    // the history starts with.
    let begin = start(store, &anchored)?.map(|a| {
        counts.objects += 1;
        counts.bytes += a.bytes;
        each(ReplicaObject::of_slot(&a.tip.header, a.bytes));
        a.tip
    });
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
    Ok((commits, anchored))
}

/// Reads and checks every object of the replica: each slot and its link,
/// each chunk's commits, each snapshot's image (size, BLAKE3 digest, and
/// the main-file header inside it). Stray markers (outside the history)
/// are no damage: restores pass them by and retention removes them.
pub fn replica_verify(url: &str) -> Result<RestoreReport> {
    let store = Store::open(url)?;
    let mut counts = Counts::default();
    let mut last = 0;
    let (commits, anchored) = walk_all(
        &store,
        true,
        |o| {
            if o.kind == "chunk" || o.kind == "fence" {
                last = last.max(o.last_seq);
            }
        },
        &mut counts,
    )?;
    let mut report = RestoreReport::default();
    for s in anchored {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::Options;
    use crate::replica::{encode_marker, marker_name, snapshots};
    use crate::restore::{restore, RestoreTarget};
    use crate::types::PageWrite;

    /// A marker whose anchor slot holds other bytes (its writer's fence
    /// lost the race) is in no history: restore passes it by, verify
    /// accepts the replica, retention deletes it after the grace period.
    #[test]
    fn a_marker_outside_the_history_is_passed_by_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("replica").display());
        let opts = Options {
            replica: Some(url.clone()),
            replica_snapshot_interval_ms: 0,
            checkpoint_threshold_bytes: 0,
            ..Options::default()
        };
        let db = crate::db::Database::open(dir.path().join("db"), opts).unwrap();
        for seq in 1..=4u64 {
            let v = format!("v{seq}");
            assert_eq!(
                db.commit_batch(&[PageWrite::put(1, v.as_bytes())]).unwrap(),
                seq
            );
        }
        assert!(db.wait_replicated(4, Duration::from_secs(30)).unwrap());
        db.checkpoint().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while db.replica_status().unwrap().snapshots_made == 0 {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        db.close().unwrap();
        let store = Store::open(&url).unwrap();
        let real = snapshots(&store).unwrap().remove(0);
        let mut h = real.header.clone();
        h.epoch += 1;
        h.prev_digest = [0xAB; 32];
        let token = [0x5A; 16];
        let stray = encode_marker(&h, real.image_bytes, &real.image_digest, &token);
        let stray_name = marker_name(h.last_seq, h.epoch, &token);
        store.create(&stray_name, stray).unwrap();

        let r = restore(&url, &dir.path().join("r"), RestoreTarget::Latest).unwrap();
        assert_eq!((r.restored_seq, r.snapshot_seq), (4, 4));
        replica_verify(&url).unwrap();
        let kinds: Vec<&str> = replica_ls(&url).unwrap().iter().map(|o| o.kind).collect();
        assert_eq!(kinds[..2], ["snapshot", "stray snapshot"]);
        let policy = Retention {
            snapshots: 1,
            window_ms: 0,
            grace_ms: 1000,
        };
        let early = replica_prune(&url, &policy, h.created_ms + 999).unwrap();
        assert!(!early.deleted.contains(&stray_name), "{early:?}");
        let later = replica_prune(&url, &policy, h.created_ms + 1000).unwrap();
        assert!(later.deleted.contains(&stray_name), "{later:?}");
        assert_eq!(later.oldest_kept.as_deref(), Some(real.name.as_str()));
        // The real snapshot's image stays: the stray named the same one.
        assert!(!later.deleted.contains(&real.image_name()), "{later:?}");
    }
}
