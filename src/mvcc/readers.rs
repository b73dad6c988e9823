//! The reader table: which snapshots are in use.
//!
//! Registration and the checkpoint's choice of target happen under one
//! mutex, so a snapshot is never taken below a checkpoint that is about to
//! drop the versions it needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::types::CommitSeq;

/// Told the oldest snapshot in use (None: none) whenever it changes,
/// under the table's lock - so what it publishes is never stale.
pub type OldestHook = Box<dyn Fn(Option<CommitSeq>) + Send + Sync>;

/// Snapshots in use, with how many readers hold each.
#[derive(Default)]
pub struct ReaderTable {
    snapshots: Mutex<BTreeMap<CommitSeq, usize>>,
    on_oldest: Option<OldestHook>,
}

/// A registered snapshot; unregisters on drop.
pub struct ReaderToken {
    table: Arc<ReaderTable>,
    snapshot: CommitSeq,
}

impl ReaderTable {
    /// A table that tells `hook` its oldest snapshot as it changes.
    pub fn with_hook(hook: OldestHook) -> ReaderTable {
        ReaderTable {
            snapshots: Mutex::default(),
            on_oldest: Some(hook),
        }
    }

    /// Registers a reader at the snapshot `current()` returns, atomically
    /// with respect to [`ReaderTable::oldest_or`].
    pub fn register(self: &Arc<Self>, current: impl FnOnce() -> CommitSeq) -> ReaderToken {
        let mut snaps = self.snapshots.lock();
        let snapshot = current();
        *snaps.entry(snapshot).or_insert(0) += 1;
        if let Some(hook) = &self.on_oldest {
            hook(snaps.keys().next().copied());
        }
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
                if let Some(hook) = &self.table.on_oldest {
                    hook(snaps.keys().next().copied());
                }
            }
        }
    }
}
