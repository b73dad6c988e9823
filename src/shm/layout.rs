//! The layout of `{path}-shm` (docs/FORMAT.md, byte by byte): its size,
//! the header words and the lock bytes.

use std::time::Duration;

/// "LCSHM001" little-endian.
pub const SHM_MAGIC: u64 = u64::from_le_bytes(*b"LCSHM001");
pub const SHM_VERSION: u32 = 3;
/// Processes that can attach to one database at once.
pub const SHM_SLOTS: usize = 125;
/// Words of the header: identity in the first cache line, published state
/// in the second, the shared group sync in the third.
pub(super) const HEADER_WORDS: usize = 24;
/// Words of one slot: one cache line, so processes do not share lines.
pub(super) const SLOT_WORDS: usize = 8;
/// Size of the file.
pub const SHM_BYTES: usize = (HEADER_WORDS + SHM_SLOTS * SLOT_WORDS) * 8;

// Header words.
pub(super) const W_MAGIC: usize = 0;
pub(super) const W_VERSION_PAGE_SIZE: usize = 1;
pub(super) const W_DB_ID: usize = 2;
pub(super) const W_SLOT_COUNT: usize = 3;
pub(super) const W_IDENTITY_CRC: usize = 4;
pub(super) const W_COMMIT_TIP: usize = 8;
pub(super) const W_DURABLE_TIP: usize = 9;
pub(super) const W_CHECKPOINT_SEQ: usize = 10;
pub(super) const W_CHECKPOINT_GEN: usize = 11;
pub(super) const W_CHECKPOINT_TARGET: usize = 12;
pub(super) const W_WRITER_PID: usize = 13;
/// Bumped whenever the lease changes hands; waiters sleep on it (futex).
pub(super) const W_LEASE_GEN: usize = 14;
/// One past the highest slot ever claimed: scans stop there.
pub(super) const W_SLOT_HIGH: usize = 15;
/// Bumped whenever a process adds a log segment, so others know to look.
pub(super) const W_SEGMENT_GEN: usize = 5;
/// Highest commit_seq whose frames are all written, published by a holder
/// as it gives the lease up (its commits may still be syncing): the next
/// holder has nothing to read when it knows this far already.
pub(super) const W_WRITTEN_TIP: usize = 7;
/// 1 while a holder of the lease may have frames half-written; cleared
/// when it gives the lease up cleanly. Found set by the next holder: the
/// last one died (or failed) holding it.
pub(super) const W_HOLDER_DIRTY: usize = 6;
/// Log offset just past the commits of [`W_WRITTEN_TIP`]: everything
/// before it is whole in the log.
pub(super) const W_WRITTEN_END: usize = 16;
/// Log offset before which everything is durable: advanced only after a
/// sync that covered it (see `groupsync`).
pub(super) const W_SYNC_DONE: usize = 17;
/// Slot + 1 of the process whose log sync is in flight for everyone; 0
/// when none.
pub(super) const W_SYNC_LEADER: usize = 18;
/// Bumped when a shared sync ends; followers sleep on it (futex).
pub(super) const W_SYNC_GEN: usize = 19;
/// Followers asleep on [`W_SYNC_GEN`]: a leader wakes them only if any.
pub(super) const W_SYNC_WAITERS: usize = 20;
/// When the current shared sync's leader took the lead (ms since the
/// epoch): a follower stops waiting on one that has led too long.
pub(super) const W_SYNC_SINCE_MS: usize = 21;
/// Set when a process failed to make the log durable (see
/// [`Shm::record_failure`]): the log offset before which everything was
/// durable then, plus one (0: no failure).
pub(super) const W_FAILED_DURABLE_END: usize = 22;
/// The failing process's pid (low half) and its boot tag (high half).
pub(super) const W_FAILED_PID_BOOT: usize = 23;

// Lock bytes.
pub(super) const OPEN_LOCK_BYTE: u64 = 0;
pub(super) const LEASE_LOCK_BYTE: u64 = 1;
/// The replica shipper role (past every slot's byte).
pub(super) const SHIPPER_LOCK_BYTE: u64 = 1 << 16;

/// How often a process waiting to attach retries.
pub(super) const ATTACH_RETRY: Duration = Duration::from_millis(1);
/// Longest sleep between looks at the lease: a holder that dies frees the
/// lock without waking anyone.
pub(super) const LEASE_POLL_MAX: Duration = Duration::from_millis(2);
