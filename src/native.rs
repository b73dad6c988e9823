//! NATIVE mode's capsule store: the capsule stream, the barrier that makes
//! capsules durable before their markers are appended (FSYNC_1), and the
//! bookkeeping that lets checkpoints reclaim capsule space.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::mutex::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::types::CommitSeq;
use crate::wal::Log;

/// A capsule reserved but not yet committed has no seq.
const PENDING: CommitSeq = 0;

/// The capsule stream of one database.
pub struct CapsuleStore {
    pub log: Log,
    /// Next free offset in the capsule stream.
    tail: Mutex<u64>,
    /// Capsules that may still be needed: offset -> seq (PENDING while
    /// their commit is in flight). Checkpoints drop those <= C.
    live: Mutex<BTreeMap<u64, CommitSeq>>,
    /// Offsets of capsules whose commits are in flight (PENDING in `live`),
    /// so FSYNC_1 finds the oldest in O(log n).
    pending: Mutex<BTreeSet<u64>>,
    barrier: SyncBarrier,
    /// Set when a capsule is written without FSYNC_1 (a commit below sync
    /// FULL): the next group flush must sync capsules before markers.
    relaxed_unsynced: AtomicBool,
}

impl CapsuleStore {
    /// A store over `log`, appending from its prepared end, with the
    /// capsules of replayed commits live.
    pub fn new(log: Log, replayed: &[(u64, CommitSeq)]) -> CapsuleStore {
        let tail = log.prepared_end();
        CapsuleStore {
            log,
            tail: Mutex::new(tail),
            live: Mutex::new(replayed.iter().copied().collect()),
            pending: Mutex::new(BTreeSet::new()),
            barrier: SyncBarrier::default(),
            relaxed_unsynced: AtomicBool::new(false),
        }
    }

    /// Claims the next `len` bytes of the capsule stream; they stay live
    /// until released or checkpointed. The caller prepares segments to
    /// cover them (and releases them if that fails).
    pub fn claim(&self, len: u64) -> u64 {
        let at = {
            let mut tail = self.tail.lock();
            // Another process may have retired the stream's start since we
            // last looked (capsules it checkpointed): claim past it.
            *tail = (*tail).max(self.log.first_offset());
            let at = *tail;
            *tail += len;
            at
        };
        self.live.lock().insert(at, PENDING);
        self.pending.lock().insert(at);
        at
    }

    /// Takes on the capsules of commits another process made: they stay
    /// live until checkpointed, and new capsules go after all of them.
    pub fn adopt(&self, capsules: &[(u64, CommitSeq)], end: u64) {
        let mut tail = self.tail.lock();
        *tail = (*tail).max(end);
        self.live.lock().extend(capsules.iter().copied());
    }

    /// Forgets a capsule whose commit did not happen (conflict, error).
    pub fn release(&self, offset: u64) {
        self.live.lock().remove(&offset);
        self.pending.lock().remove(&offset);
    }

    /// Records the commit_seq a capsule was committed as.
    pub fn assign(&self, offset: u64, seq: CommitSeq) {
        let prev = self.live.lock().insert(offset, seq);
        debug_assert_eq!(prev, Some(PENDING));
        self.pending.lock().remove(&offset);
    }

    /// FSYNC_1: returns once a sync that started after this call's
    /// capsule writes has completed. Syncs only the segments holding
    /// capsules whose commits are still in flight.
    pub fn make_durable(&self) -> Result<()> {
        self.barrier.wait(|| self.sync_pending())
    }

    fn sync_pending(&self) -> Result<()> {
        let to = *self.tail.lock();
        let from = self.pending.lock().first().copied().unwrap_or(to);
        self.log.sync_range(from, to)
    }

    /// Notes a capsule written without FSYNC_1.
    pub fn mark_relaxed(&self) {
        self.relaxed_unsynced.store(true, Ordering::Release);
    }

    /// Before a group flush syncs markers: syncs the capsules of relaxed
    /// commits, if any were written. Every marker the flush covers was
    /// written after its capsule, so a capsule it needs set the flag
    /// before the flush began.
    pub fn sync_relaxed(&self) -> Result<()> {
        if self.relaxed_unsynced.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.log.sync_range(0, u64::MAX) {
                self.relaxed_unsynced.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    /// After a checkpoint at `upto`: forgets capsules of commits <= it and
    /// retires capsule segments wholly before the oldest live one.
    pub fn checkpointed(&self, upto: CommitSeq) -> Result<u64> {
        let retire_before = {
            let mut live = self.live.lock();
            live.retain(|_, seq| *seq == PENDING || *seq > upto);
            live.keys()
                .next()
                .copied()
                .unwrap_or_else(|| *self.tail.lock())
        };
        self.log.retire_before(retire_before)
    }
}

#[derive(Default)]
struct BarrierState {
    started: u64,
    completed: u64,
    flushing: bool,
    failed: Option<Error>,
}

/// Group sync barrier: many waiters, one sync at a time, each waiter
/// covered by the first sync that started after it arrived.
#[derive(Default)]
pub struct SyncBarrier {
    state: Mutex<BarrierState>,
    cv: Condvar,
}

impl SyncBarrier {
    pub fn wait(&self, sync: impl Fn() -> Result<()>) -> Result<()> {
        let mut st = self.state.lock();
        let need = st.started + 1;
        loop {
            if let Some(e) = &st.failed {
                return Err(e.duplicate());
            }
            if st.completed >= need {
                return Ok(());
            }
            if st.flushing {
                self.cv.wait(&mut st);
                continue;
            }
            st.flushing = true;
            st.started += 1;
            let this = st.started;
            let result = crate::mutex::MutexGuard::unlocked(&mut st, &sync);
            st.flushing = false;
            match result {
                Ok(()) => st.completed = this,
                // Fail-stop: never retry a failed sync.
                Err(e) => st.failed = Some(e),
            }
            self.cv.notify_all();
        }
    }
}
