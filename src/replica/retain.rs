//! Retention: which objects of a replica restores may still need, and
//! deleting the rest once a grace period has passed.
//!
//! A restore lists the snapshots, picks one, then reads the slots after
//! its anchor - possibly minutes later. So an object goes only when no
//! restore that began listing within the grace period could want it: the
//! kept set is computed as it was `grace_ms` ago (snapshots made after
//! that are ignored, the window ends then), and since that set only moves
//! forward in time, everything a restore listing since then may pick is
//! at or after the oldest snapshot it kept.

use super::history::{read_slot, slots};
use super::object::{digest_of, slot_name};
use super::snapshot::{is_image, snapshots, Snapshot, SNAPSHOT_DIR};
use super::store::{Listed, Store};
use crate::error::{Result, Status};

/// What a replica keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The newest this many snapshots are kept whatever their age (at
    /// least 1).
    pub snapshots: u32,
    /// Snapshots younger than this are kept too.
    pub window_ms: u64,
    /// An object no kept snapshot needs is deleted only this long after
    /// it stopped being needed (and an image without a marker only this
    /// long after it was written).
    pub grace_ms: u64,
}

/// What one pass of retention found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The objects deleted, in the order they went.
    pub deleted: Vec<String>,
    /// The oldest snapshot kept (its marker name), if any.
    pub oldest_kept: Option<String>,
}

/// The oldest snapshot of those kept as of `at` (ms since the Unix epoch).
fn oldest_kept_at<'a>(snaps: &'a [Snapshot], policy: &Retention, at: u64) -> Option<&'a Snapshot> {
    let seen: Vec<&Snapshot> = snaps.iter().filter(|s| s.header.created_ms <= at).collect();
    let newest_n = seen.len().saturating_sub(policy.snapshots.max(1) as usize);
    let young = at.saturating_sub(policy.window_ms);
    seen.iter()
        .enumerate()
        .find(|(i, s)| *i >= newest_n || s.header.created_ms >= young)
        .map(|(_, s)| *s)
}

/// The names retention deletes now, oldest first: markers before their
/// images (a marker never names a deleted image), then slots from the
/// oldest up (what is left stays one unbroken run up to the tip), then
/// images no marker names. `snaps` are the markers in the history;
/// `stray` those whose anchor slot holds other bytes (a fence that lost
/// its race): restores pass them by, so they count for nothing kept and
/// go once the grace period has passed.
pub fn plan(
    snaps: &[Snapshot],
    stray: &[Snapshot],
    slot_numbers: &[u64],
    images: &[Listed],
    policy: &Retention,
    now_ms: u64,
) -> Pruned {
    let at = now_ms.saturating_sub(policy.grace_ms);
    let mut deleted = Vec::new();
    for s in stray.iter().filter(|s| s.header.created_ms <= at) {
        deleted.push(s.name.clone());
        deleted.push(s.image_name());
    }
    let Some(keep) = oldest_kept_at(snaps, policy, at) else {
        // No snapshot old enough: a restore may start from slot 0.
        return Pruned {
            deleted,
            oldest_kept: None,
        };
    };
    let key = |s: &Snapshot| (s.seq(), s.header.epoch);
    for s in snaps.iter().filter(|s| key(s) < key(keep)) {
        deleted.push(s.name.clone());
        deleted.push(s.image_name());
    }
    let tip = slot_numbers.last().copied();
    for &slot in slot_numbers.iter().filter(|&&n| n < keep.header.slot) {
        debug_assert!(Some(slot) != tip, "retention never deletes the tip");
        deleted.push(slot_name(slot));
    }
    let named: Vec<String> = snaps
        .iter()
        .chain(stray)
        .map(Snapshot::image_name)
        .collect();
    for img in images {
        if is_image(&img.name) && !named.contains(&img.name) && img.modified_ms <= at {
            deleted.push(img.name.clone());
        }
    }
    Pruned {
        deleted,
        oldest_kept: Some(keep.name.clone()),
    }
}

/// True when the slot `s` anchors at holds the bytes `s` names. A slot
/// that is missing or damaged anchors nothing; a store failure is an
/// error (retention must not guess).
fn anchored(store: &Store, s: &Snapshot) -> Result<bool> {
    match read_slot(store, s.header.slot) {
        Ok((_, bytes)) => Ok(digest_of(&bytes) == s.header.prev_digest),
        Err(e) if e.status() == Status::Io => Err(e),
        Err(_) => Ok(false),
    }
}

/// One pass of retention over the replica at `store`, as of `now_ms`.
pub fn prune(store: &Store, policy: &Retention, now_ms: u64) -> Result<Pruned> {
    let (mut snaps, mut stray) = (Vec::new(), Vec::new());
    for s in snapshots(store)? {
        if anchored(store, &s)? {
            snaps.push(s);
        } else {
            stray.push(s);
        }
    }
    let slot_numbers: Vec<u64> = slots(store)?.into_iter().map(|(n, _)| n).collect();
    let images = store.list_timed(SNAPSHOT_DIR)?;
    let pruned = plan(&snaps, &stray, &slot_numbers, &images, policy, now_ms);
    for name in &pruned.deleted {
        store.delete(name)?;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::object::{Header, Kind};

    fn snap(seq: u64, slot: u64, created_ms: u64) -> Snapshot {
        Snapshot {
            name: format!("m{seq}"),
            header: Header {
                kind: Kind::Snapshot,
                epoch: 1,
                slot,
                first_seq: seq + 1,
                last_seq: seq,
                created_ms,
                page_size: 4096,
                commits: 0,
                prev_digest: [0; 32],
            },
            image_bytes: 0,
            image_digest: [0; 32],
            token: [seq as u8; 16],
            marker_bytes: 0,
        }
    }

    #[test]
    fn nothing_goes_before_the_grace_period_and_the_tip_never_does() {
        let snaps = [snap(10, 3, 1000), snap(20, 6, 2000)];
        let slots: Vec<u64> = (0..=8).collect();
        let policy = Retention {
            snapshots: 1,
            window_ms: 0,
            grace_ms: 500,
        };
        // Before the second snapshot is grace_ms old, a restore may have
        // listed only the first: it and the slots after its anchor stay.
        let p = plan(&snaps, &[], &slots, &[], &policy, 2499);
        assert_eq!(p.oldest_kept.as_deref(), Some("m10"));
        assert_eq!(
            p.deleted,
            [
                "log/0000000000000000",
                "log/0000000000000001",
                "log/0000000000000002"
            ]
        );
        let p = plan(&snaps, &[], &slots, &[], &policy, 2500);
        assert_eq!(p.oldest_kept.as_deref(), Some("m20"));
        assert_eq!(p.deleted[0], "m10");
        assert_eq!(p.deleted.len(), 2 + 6);
        assert!(!p.deleted.contains(&slot_name(6)) && !p.deleted.contains(&slot_name(8)));
        // No snapshot older than the grace period: nothing goes.
        assert_eq!(
            plan(&snaps, &[], &slots, &[], &policy, 1499),
            Pruned::default()
        );
        // A window keeps younger ones whatever the count.
        let wide = Retention {
            window_ms: 1500,
            ..policy
        };
        assert_eq!(
            plan(&snaps, &[], &slots, &[], &wide, 3000)
                .oldest_kept
                .as_deref(),
            Some("m10")
        );
    }
}
