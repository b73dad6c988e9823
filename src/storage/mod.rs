//! All file I/O of the engine goes through [`Storage`] and [`StorageFile`].
//!
//! The real implementation ([`RealStorage`]) is a thin layer over the OS.
//! The simulated one (`SimStorage`, built with the `sim` feature for the
//! test suites only) remembers which bytes and directory
//! entries are synced, and on command drops unsynced writes (power loss),
//! tears writes, or fails calls with EIO/ENOSPC, so the crash and fault
//! suites can test every invariant deterministically.
//!
//! Semantics every implementation must follow (the engine relies on them):
//! - `write_at` past the end extends the file; the gap reads as zeros.
//! - `read_at` fills the whole buffer or fails with `UnexpectedEof`.
//! - Written bytes survive a power loss only after `sync_data`/`sync_all`
//!   of that file; a created, renamed or removed name only after
//!   `sync_dir` of its directory.

pub(crate) mod process;
mod real;
mod shared;
#[cfg(any(test, feature = "sim"))]
mod sim;
mod traits;

pub use real::RealStorage;
#[cfg(any(test, feature = "sim"))]
pub use sim::{
    CrashMode, DataLoss, DirLoss, Fault, FaultKind, FaultOp, SimGate, SimStats, SimStorage,
    SIM_BLOCK_BYTES, SIM_SECTOR_BYTES,
};
pub use traits::{
    parent_dir, OpenMode, SharedRegion, Storage, StorageFile, WRITE_BEHIND_STEP_BYTES,
};
