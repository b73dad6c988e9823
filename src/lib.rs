//! libcommit: the commit layer of a database, as a library.
//!
//! A host opens a database (a file path), commits batches of page writes as
//! transactions, reads pages at MVCC snapshots, and recovers the write-ahead
//! log after a crash. Every commit gets a dense, strictly increasing
//! `commit_seq`; a snapshot is a `commit_seq`, and reading at snapshot `S`
//! shows exactly the commits `<= S`. A commit returns once it is durable
//! (under the default [`SyncMode::Full`]); recovery never loses an
//! acknowledged commit and never shows a partial one.
//!
//! ```
//! use libcommit::{Database, Error, Options, PageWrite, RecoveryOptions};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.db");
//! let db = Database::open(&path, Options::default())?;
//! let seq = db.commit_batch(&[PageWrite::put(1, b"hello")])?;
//! let mut txn = db.begin()?;
//! assert!(txn.snapshot() >= seq);
//! assert_eq!(txn.read(1)?.as_deref(), Some(&b"hello"[..]));
//! txn.write(2, b"world")?;
//! match txn.commit() {
//!     Ok(_) => {}
//!     Err(Error::Conflict { pages, .. }) => println!("{pages:?} changed first; retry"),
//!     Err(e) => return Err(e.into()),
//! }
//! db.close()?;
//!
//! // Reopening replays the log; `recover` does it offline.
//! let db = Database::open(&path, Options::default())?;
//! assert_eq!(db.read(2)?.as_deref(), Some(&b"world"[..]));
//! db.close()?;
//! let report = libcommit::recover(&path, RecoveryOptions::default())?;
//! assert_eq!(report.last_commit_seq, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The modules follow a commit's path: `stage` encodes a
//! write set, `sequence` validates and numbers it, `wal` writes it,
//! `durable` makes it durable by group commit, and `mvcc` publishes it.
//! `checkpoint` moves committed pages into the main file and `recovery`
//! replays the log after a crash. All file I/O goes through [`storage`].

// SAFETY: the engine is safe Rust except under storage/, where libc must
// be called (`unsafe_code` is denied everywhere else): real.rs
// (fallocate, flock), shared.rs (the shm mapping, OFD locks, futex) and
// process.rs (the fork handlers); each such block carries its own SAFETY
// comment.
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations, missing_docs)]
// The lint policy, in the spirit of redb's: clippy's pedantic set, with a
// short list of exceptions that would only add noise here. Native byte
// order is disallowed outright (clippy.toml): every byte on disk and in
// `{path}-shm` is little-endian.
#![deny(clippy::pedantic, clippy::disallowed_methods)]
#![allow(
    // Prose names many identifiers; those a reader must look up are in
    // backticks already.
    clippy::doc_markdown,
    // Every fallible call returns the one `Error`, whose variants say what
    // can go wrong; a section per function would repeat them.
    clippy::missing_errors_doc,
    clippy::missing_panics_doc,
    clippy::must_use_candidate,
    clippy::module_name_repetitions,
    // Sizes, offsets and counts are bounded by the format's limits before
    // they are narrowed (format/limits.rs); values read from disk are
    // checked by the decoders first.
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::similar_names,
    clippy::needless_pass_by_value,
    clippy::redundant_closure_for_method_calls
)]

mod capsule;
mod db;
mod durable;
mod engine;
mod error;
mod follow;
mod format;
#[cfg(test)]
mod fuzz;
mod groupsync;
pub mod inspect;
mod lease;
mod mainfile;
mod metrics;
mod mutex;
mod mvcc;
mod native;
mod offline;
mod options;
mod pagecache;
mod recovery;
mod registry;
mod replica;
mod restore;
mod sequence;
mod shm;
mod spill;
mod stage;
pub mod storage;
mod types;
mod wal;

pub use db::{Database, Transaction};
pub use error::{Error, Result, Status};
pub use offline::recover;
pub use options::{
    CommitMode, Isolation, Options, RecoveryOptions, SyncMode, PAGE_SIZE_DEFAULT_BYTES,
    PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES,
};
/// Checks a replica URL as `Options::replica` takes it.
pub fn check_replica_url(url: &str) -> Result<()> {
    replica::ReplicaUrl::parse(url).map(|_| ())
}

pub use replica::{
    Pruned, ReplicaStatus, Retention, State as ReplicaState, PUT_LATENCY_BUCKETS_MS,
};
pub use restore::{
    replica_ls, replica_prune, replica_verify, restore, ReplicaObject, RestoreReport, RestoreTarget,
};
pub use types::{
    CheckpointReport, CommitSeq, DropReason, HistogramSnapshot, Metrics, Page, PageWrite, Pgno,
    RecoveryReport, SegmentReport, Stats, HISTOGRAM_BUCKETS,
};

/// The library version, "MAJOR.MINOR.PATCH" (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
