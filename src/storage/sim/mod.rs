//! Simulated storage for crash and fault tests.
//!
//! [`SimStorage`] is an in-memory file system that remembers, per file,
//! the bytes a power loss would keep (the *durable* image) beside the bytes
//! reads return now (the *volatile* image), and per directory the durable
//! set of names. It follows the rules of [`super`]: written bytes become
//! durable at `sync_data`/`sync_all` of that file; a created, renamed or
//! removed name at `sync_dir` of its directory.
//!
//! On command it loses power ([`SimStorage::crash`]), choosing from a
//! seeded RNG how much of the unsynced state survives ([`CrashMode`]): none
//! of it, a random subset of 512-byte sectors, every write but the last
//! one torn at a sector boundary, a random prefix of the writes in order,
//! or all of it; likewise for directory operations. Every file handle
//! opened before the power loss is dead afterwards (all calls fail with
//! EIO), so an engine instance cannot keep writing into the new "boot".
//!
//! Processes: each [`SimStorage`] is a view of one simulated process;
//! [`SimStorage::spawn_process`] makes another. A process killed
//! ([`SimStorage::kill_process`], or [`SimStorage::set_kill_at`] a step)
//! loses its handles, locks and shared mappings at once, but what it wrote
//! stays in the page cache exactly as unsynced as it was: other processes
//! read it, and only a later power loss decides whether it survives - the
//! order of events that process crashes and power failures really have.
//! Shared memory ([`super::Storage::open_shared`]) gives the engine `{path}-shm`
//! with byte locks that belong to one mapping (like OFD locks) and die
//! with it, its process or the boot. [`SimStorage::lose_in_boot`] drops
//! unsynced state while the machine stays up (the same boot tag): a
//! write-back that failed, a network disk that failed over.
//!
//! Faults: [`SimStorage::inject`] fails the Nth call of a [`FaultOp`] with
//! EIO or ENOSPC; [`SimStorage::set_capacity_bytes`] makes writes and
//! allocations past a disk size fail with ENOSPC; and
//! [`SimStorage::set_crash_at`] cuts power when the global step counter
//! (one step per mutating call) reaches a given value.
//!
//! Orchestration and inspection: [`SimStorage::pause_at`] holds a chosen
//! call inside the storage until the test releases it (to force a thread
//! interleaving without sleeping); [`SimStorage::set_trace`] records every
//! step; [`SimStorage::fork`] copies the whole disk (to try many crashes
//! or byte flips on one image); [`SimStorage::corrupt_byte`] flips bits
//! on the "platter".
//!
//! The fault model is adversarial where real systems are:
//! - A failed write (injected, or out of space) may have written a prefix
//!   of the buffer (whole sectors for injected faults, whole 4 KiB blocks
//!   for a full disk), like a short `pwrite` followed by an error.
//! - A failed file sync behaves like Linux after an fdatasync error: a
//!   random subset of the unsynced sectors reached the disk, the rest is
//!   marked clean and lost at the next power loss *even if a later sync
//!   succeeds*. An engine that retries fsync and reports success is caught
//!   by the crash checkers.
//!
//! Everything is deterministic given the seed and the order of calls.

mod config;
mod content;
mod file;
mod fs;
mod memory;
mod power;
mod shared;
mod state;

pub use config::{
    CrashMode, DataLoss, DirLoss, Fault, FaultKind, FaultOp, SimGate, SimStats, SIM_BLOCK_BYTES,
    SIM_SECTOR_BYTES,
};
pub use fs::SimStorage;
