//! The slot table of `{path}-shm`: one cache line per attached process
//! (docs/FORMAT.md), owned through the slot's lock byte.
//!
//! A slot is live exactly while its lock byte is held - by an open file
//! description the kernel closes when its last holder dies. The pid in it
//! is information for people (`lcctl info`, Busy messages): in another
//! PID namespace it names nobody here, and after a fork two processes
//! would share it, so liveness never looks at it.
//!
//! Why stale slot data is harmless. A slot's words outlive its owner: a
//! process that dies leaves its snapshot, reader count, wants-lease flag
//! and pid as they were, and nobody clears them until the slot is claimed
//! again. So every use of a word pairs it with the slot's liveness (its
//! lock byte), in an order chosen so that each kind of staleness errs on
//! the safe side:
//! - Snapshot. A checkpoint pins the oldest snapshot among slots whose
//!   byte is held. A dead owner's snapshot is skipped: its process reads
//!   nothing any more, so nothing it pinned is still needed. A claimer
//!   takes the byte first and resets the snapshot after; a checkpointer
//!   that reads in between sees the old owner's snapshot under a live
//!   byte and pins too much for one checkpoint - never too little. A live
//!   owner stores its snapshot (SeqCst) before it reads the checkpoint
//!   target, and a checkpointer stores the target before it reads the
//!   slots: one of the two sees the other, and a reader that lost the race
//!   starts over (`Engine::begin_read`), so no snapshot is ever overtaken.
//! - Reader count. Summed over live slots only, and only for `lc_stats`:
//!   a stale count could at worst be shown, never decides anything.
//! - Wants-lease. A holder that sees a live waiter hands the lease over
//!   and lets it go first for at most `YIELD_MAX` (lease.rs). A dead
//!   waiter's flag is skipped by the liveness check; in the window before
//!   its byte reads free it costs one short yield. The wake check on
//!   release reads the flags without liveness: a stale flag there costs a
//!   spurious futex wake, nothing more.
//! - Pid and heartbeat. Shown to people (`lcctl info`, Busy messages),
//!   never used for liveness.
//! - When the kernel cannot say whether a byte is held, the slot counts as
//!   live. Pinning too much and waking too often are the only ways any of
//!   this can be wrong.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::layout::{HEADER_WORDS, SHM_SLOTS, SLOT_WORDS, W_SLOT_HIGH};
use super::region::{now_ms, Shm};
use crate::error::{Error, Result};
use crate::types::CommitSeq;

// Slot words.
const S_PID: usize = 0;
const S_SNAPSHOT: usize = 1;
const S_HEARTBEAT_MS: usize = 2;
const S_WANTS_LEASE: usize = 3;
/// Readers registered in the process (its reader table's count).
const S_READERS: usize = 4;

/// A slot's snapshot word when its process reads nothing.
const NO_SNAPSHOT: u64 = u64::MAX;

/// Lock byte of slot 0; slot i's is this + i.
const SLOT_LOCK_BASE: u64 = 2;

/// One process's slot, as `lcctl info` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// The slot's place in the table.
    pub index: usize,
    /// As the process's own PID namespace numbers it (information only).
    pub pid: u32,
    /// Oldest snapshot the process reads at, if any.
    pub snapshot: Option<CommitSeq>,
    /// Readers the process has registered.
    pub readers: u64,
    /// Milliseconds since the Unix epoch of its last heartbeat.
    pub heartbeat_ms: u64,
    /// The process waits for the writer lease.
    pub wants_lease: bool,
    /// False when the process is gone (its slot is free to reclaim).
    pub alive: bool,
}

impl Shm {
    fn slot_word(&self, slot: usize, i: usize) -> &AtomicU64 {
        debug_assert!(slot < SHM_SLOTS && i < SLOT_WORDS);
        self.w(HEADER_WORDS + slot * SLOT_WORDS + i)
    }

    /// Part of [`Shm::clear`]: every slot reads nothing (the rest is zero).
    pub(super) fn clear_slots(&self) {
        for s in 0..SHM_SLOTS {
            self.slot_word(s, S_SNAPSHOT)
                .store(NO_SNAPSHOT, Ordering::Relaxed);
        }
    }

    /// Claims a free slot for this process: one whose lock byte nobody
    /// holds (never used, or its process died).
    pub fn claim_slot(&self) -> Result<usize> {
        for s in 0..SHM_SLOTS {
            if self
                .region
                .try_lock(SLOT_LOCK_BASE + s as u64, true)
                .map_err(|e| self.lock_err("lock reader slot", e))?
            {
                self.slot_word(s, S_SNAPSHOT)
                    .store(NO_SNAPSHOT, Ordering::SeqCst);
                self.slot_word(s, S_READERS).store(0, Ordering::Release);
                self.slot_word(s, S_WANTS_LEASE).store(0, Ordering::SeqCst);
                self.slot_word(s, S_HEARTBEAT_MS)
                    .store(now_ms(), Ordering::Relaxed);
                self.slot_word(s, S_PID)
                    .store(u64::from(self.pid), Ordering::Release);
                self.w(W_SLOT_HIGH)
                    .fetch_max(s as u64 + 1, Ordering::AcqRel);
                return Ok(s);
            }
        }
        Err(Error::Busy(format!(
            "{}: all {SHM_SLOTS} process slots are in use",
            self.path.display()
        )))
    }

    /// Gives slot `s` back (clean close).
    pub fn release_slot(&self, s: usize) {
        self.slot_word(s, S_SNAPSHOT)
            .store(NO_SNAPSHOT, Ordering::SeqCst);
        self.slot_word(s, S_READERS).store(0, Ordering::Release);
        self.slot_word(s, S_WANTS_LEASE).store(0, Ordering::SeqCst);
        self.slot_word(s, S_PID).store(0, Ordering::Release);
        let _ = self.region.unlock(SLOT_LOCK_BASE + s as u64);
    }

    pub(super) fn slot_high(&self) -> usize {
        (self.w(W_SLOT_HIGH).load(Ordering::Acquire) as usize).min(SHM_SLOTS)
    }

    /// Whether slot `s` (not ours) belongs to a live process: its lock
    /// byte is held by another open file description. (When the kernel
    /// cannot say, it is taken as live: pinning too much is safe.)
    pub fn slot_alive(&self, s: usize) -> bool {
        self.region
            .locked_by_other(SLOT_LOCK_BASE + s as u64)
            .unwrap_or(true)
    }

    /// Publishes the oldest snapshot this process reads at (`None`: none)
    /// and how many readers it has. The snapshot SeqCst, paired with
    /// [`Shm::checkpoint_target`]: see `Engine::begin_read`.
    pub fn set_readers(&self, s: usize, oldest: Option<CommitSeq>, readers: u64) {
        self.slot_word(s, S_SNAPSHOT)
            .store(oldest.unwrap_or(NO_SNAPSHOT), Ordering::SeqCst);
        self.slot_word(s, S_READERS)
            .store(readers, Ordering::Release);
    }

    pub fn heartbeat(&self, s: usize) {
        self.slot_word(s, S_HEARTBEAT_MS)
            .store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_wants_lease(&self, s: usize, wants: bool) {
        self.slot_word(s, S_WANTS_LEASE)
            .store(u64::from(wants), Ordering::SeqCst);
    }

    /// True when a live process other than `me` waits for the lease.
    pub fn others_want_lease(&self, me: usize) -> bool {
        (0..self.slot_high()).any(|s| {
            s != me
                && self.slot_word(s, S_WANTS_LEASE).load(Ordering::Acquire) != 0
                && self.slot_alive(s)
        })
    }

    /// True when any process's slot says it waits for the lease.
    pub(super) fn any_waiter(&self) -> bool {
        fence(Ordering::SeqCst);
        (0..self.slot_high()).any(|s| self.slot_word(s, S_WANTS_LEASE).load(Ordering::SeqCst) != 0)
    }

    /// The oldest snapshot any live process other than `me` reads at.
    pub fn oldest_other_snapshot(&self, me: usize) -> Option<CommitSeq> {
        fence(Ordering::SeqCst);
        (0..self.slot_high())
            .filter(|&s| s != me)
            .filter_map(|s| {
                let snap = self.slot_word(s, S_SNAPSHOT).load(Ordering::SeqCst);
                (snap != NO_SNAPSHOT && self.slot_alive(s)).then_some(snap)
            })
            .min()
    }

    /// Readers of the live processes other than `me`.
    pub fn other_readers(&self, me: usize) -> u64 {
        (0..self.slot_high())
            .filter(|&s| s != me)
            .map(
                |s| match self.slot_word(s, S_READERS).load(Ordering::Acquire) {
                    0 => 0,
                    n if self.slot_alive(s) => n,
                    _ => 0,
                },
            )
            .sum()
    }

    /// Every claimed slot, live or dead.
    pub fn slots(&self) -> Vec<SlotInfo> {
        (0..self.slot_high())
            .filter_map(|s| {
                let pid = self.slot_word(s, S_PID).load(Ordering::Acquire) as u32;
                let snap = self.slot_word(s, S_SNAPSHOT).load(Ordering::Acquire);
                (pid != 0).then(|| SlotInfo {
                    index: s,
                    pid,
                    snapshot: (snap != NO_SNAPSHOT).then_some(snap),
                    readers: self.slot_word(s, S_READERS).load(Ordering::Acquire),
                    heartbeat_ms: self.slot_word(s, S_HEARTBEAT_MS).load(Ordering::Relaxed),
                    wants_lease: self.slot_word(s, S_WANTS_LEASE).load(Ordering::Relaxed) != 0,
                    alive: self.slot_alive(s),
                })
            })
            .collect()
    }
}
