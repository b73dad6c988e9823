//! The reader table: which snapshots are in use.
//!
//! Registration and the checkpoint's choice of target happen under one
//! mutex, so a snapshot is never taken below a checkpoint that is about to
//! drop the versions it needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::types::CommitSeq;

/// Snapshots in use, with how many readers hold each.
#[derive(Default)]
pub struct ReaderTable {
    snapshots: Mutex<BTreeMap<CommitSeq, usize>>,
}

/// A registered snapshot; unregisters on drop.
pub struct ReaderToken {
    table: Arc<ReaderTable>,
    snapshot: CommitSeq,
}

impl ReaderTable {
    /// Registers a reader at the snapshot `current()` returns, atomically
    /// with respect to [`ReaderTable::oldest_or`].
    pub fn register(self: &Arc<Self>, current: impl FnOnce() -> CommitSeq) -> ReaderToken {
        let mut snaps = self.snapshots.lock();
        let snapshot = current();
        *snaps.entry(snapshot).or_insert(0) += 1;
        ReaderToken {
            table: Arc::clone(self),
            snapshot,
        }
    }

    /// The oldest registered snapshot, or `current()` when none is.
    pub fn oldest_or(&self, current: impl FnOnce() -> CommitSeq) -> CommitSeq {
        let snaps = self.snapshots.lock();
        let now = current();
        snaps.keys().next().map_or(now, |&s| s.min(now))
    }

    /// Number of registered readers.
    pub fn active(&self) -> u64 {
        self.snapshots.lock().values().map(|&n| n as u64).sum()
    }
}

impl ReaderToken {
    pub fn snapshot(&self) -> CommitSeq {
        self.snapshot
    }
}

impl Drop for ReaderToken {
    fn drop(&mut self) {
        let mut snaps = self.table.snapshots.lock();
        if let Some(n) = snaps.get_mut(&self.snapshot) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.snapshot);
            }
        }
    }
}
