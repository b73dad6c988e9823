//! The reader table: which snapshots are in use.
//!
//! Registration and the checkpoint's choice of target happen under one
//! mutex, so a snapshot is never taken below a checkpoint that is about to
//! drop the versions it needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::mutex::Mutex;

use crate::types::CommitSeq;

/// Told the oldest snapshot in use (None: none) and the number of readers
/// whenever either changes, under the table's lock - so what it publishes
/// is never stale.
pub type OldestHook = Box<dyn Fn(Option<CommitSeq>, u64) + Send + Sync>;

/// Snapshots in use, with how many readers hold each.
#[derive(Default)]
pub struct ReaderTable {
    snapshots: Mutex<Snapshots>,
    on_oldest: Option<OldestHook>,
}

#[derive(Default)]
struct Snapshots {
    by_seq: BTreeMap<CommitSeq, usize>,
    /// The sum of `by_seq`'s counts.
    readers: u64,
}

impl ReaderTable {
    fn changed(&self, snaps: &Snapshots) {
        if let Some(hook) = &self.on_oldest {
            hook(snaps.by_seq.keys().next().copied(), snaps.readers);
        }
    }
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
        *snaps.by_seq.entry(snapshot).or_insert(0) += 1;
        snaps.readers += 1;
        self.changed(&snaps);
        ReaderToken {
            table: Arc::clone(self),
            snapshot,
        }
    }

    /// The oldest registered snapshot, or `current()` when none is.
    pub fn oldest_or(&self, current: impl FnOnce() -> CommitSeq) -> CommitSeq {
        let snaps = self.snapshots.lock();
        let now = current();
        snaps.by_seq.keys().next().map_or(now, |&s| s.min(now))
    }

    /// Number of registered readers.
    pub fn active(&self) -> u64 {
        self.snapshots.lock().readers
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
        let Some(n) = snaps.by_seq.get_mut(&self.snapshot) else {
            debug_assert!(false, "snapshot {} not registered", self.snapshot);
            return;
        };
        *n -= 1;
        if *n == 0 {
            snaps.by_seq.remove(&self.snapshot);
        }
        snaps.readers -= 1;
        self.table.changed(&snaps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_hears_every_change_of_oldest_and_count() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heard);
        let table = Arc::new(ReaderTable::with_hook(Box::new(move |oldest, n| {
            h.lock().push((oldest, n));
        })));
        let a = table.register(|| 5);
        let b = table.register(|| 5);
        let c = table.register(|| 7);
        assert_eq!(table.active(), 3);
        drop(a);
        drop(c);
        drop(b);
        assert_eq!(table.active(), 0);
        assert_eq!(
            *heard.lock(),
            [
                (Some(5), 1),
                (Some(5), 2),
                (Some(5), 3),
                (Some(5), 2),
                (Some(5), 1),
                (None, 0)
            ]
        );
    }
}
