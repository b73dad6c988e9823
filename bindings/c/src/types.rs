//! The C value types: status and option enums, batch entries, reports,
//! constants. Names are the C names (API.md), hence the lint allowances.

#![allow(non_camel_case_types)]

use libcommit::{CheckpointReport, CommitMode, Isolation, RecoveryReport, Stats, SyncMode};

/// The result of every fallible call. The numbers are part of the ABI and
/// never change or get reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_status {
    /// Success.
    LC_OK = 0,
    /// The page was never written, or was deleted (an outcome, not a failure).
    LC_NOT_FOUND = 1,
    /// First-committer-wins (or read-set) conflict; nothing was written.
    LC_CONFLICT = 2,
    /// Another process holds what the call needs, past busy_timeout.
    LC_BUSY = 3,
    /// A checksum or format error; nothing was changed.
    LC_CORRUPT = 4,
    /// An I/O error, including a failed sync: the database is then closed to
    /// writes until it is reopened.
    LC_IO = 5,
    /// NULL, page 0, an image larger than page_size, a bad option value, ...
    LC_INVALID_ARGUMENT = 6,
    /// The buffer is too small: `*out_len` tells the size needed (an outcome,
    /// not a failure).
    LC_BUFFER_TOO_SMALL = 7,
    /// The handle was already closed, or the database failed earlier.
    LC_CLOSED = 8,
    /// A write on a database opened read-only.
    LC_READ_ONLY = 9,
    /// Out of disk space; nothing partial is left behind.
    LC_FULL = 10,
    /// A bug (for example a caught panic).
    LC_INTERNAL = 11,
}

/// When a commit may report success.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_sync {
    /// Success only after the commit is on stable storage (the default).
    LC_SYNC_FULL = 0,
    /// Survives a process crash; a power loss may lose the latest commits,
    /// never corrupts.
    LC_SYNC_NORMAL = 1,
    /// No syncs at all.
    LC_SYNC_OFF = 2,
}

/// How a commit's page images reach the disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_commit_mode {
    /// Page images are appended to the write-ahead log (the default).
    LC_MODE_WAL = 0,
    /// Each writer persists its own checksummed capsule; the log holds only
    /// small commit markers.
    LC_MODE_NATIVE = 1,
}

/// Which accesses a commit validates.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_isolation {
    /// First-committer-wins on the write set (the default).
    LC_ISOLATION_SNAPSHOT = 0,
    /// First-committer-wins on the write set and the read set.
    LC_ISOLATION_SERIALIZABLE = 1,
}

// Enum arguments arrive from C as plain integers: a C caller may pass any
// value, and a Rust enum holding an unlisted value is undefined behaviour.
// These aliases are what the Rust functions take; cbindgen.toml renames
// them to the enum names in the header, so C sees `lc_sync sync` etc.

/// An `lc_status` as received from C (any value).
pub type lc_status_arg = u32;
/// An `lc_sync` as received from C (any value).
pub type lc_sync_arg = u32;
/// An `lc_commit_mode` as received from C (any value).
pub type lc_commit_mode_arg = u32;
/// An `lc_isolation` as received from C (any value).
pub type lc_isolation_arg = u32;

pub(crate) fn sync_from_arg(value: lc_sync_arg) -> Option<SyncMode> {
    const FULL: u32 = lc_sync::LC_SYNC_FULL as u32;
    const NORMAL: u32 = lc_sync::LC_SYNC_NORMAL as u32;
    const OFF: u32 = lc_sync::LC_SYNC_OFF as u32;
    match value {
        FULL => Some(SyncMode::Full),
        NORMAL => Some(SyncMode::Normal),
        OFF => Some(SyncMode::Off),
        _ => None,
    }
}

pub(crate) fn commit_mode_from_arg(value: lc_commit_mode_arg) -> Option<CommitMode> {
    const WAL: u32 = lc_commit_mode::LC_MODE_WAL as u32;
    const NATIVE: u32 = lc_commit_mode::LC_MODE_NATIVE as u32;
    match value {
        WAL => Some(CommitMode::Wal),
        NATIVE => Some(CommitMode::Native),
        _ => None,
    }
}

pub(crate) fn isolation_from_arg(value: lc_isolation_arg) -> Option<Isolation> {
    const SNAPSHOT: u32 = lc_isolation::LC_ISOLATION_SNAPSHOT as u32;
    const SERIALIZABLE: u32 = lc_isolation::LC_ISOLATION_SERIALIZABLE as u32;
    match value {
        SNAPSHOT => Some(Isolation::Snapshot),
        SERIALIZABLE => Some(Isolation::Serializable),
        _ => None,
    }
}

/// One entry of a batch for `lc_commit_batch`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lc_page_write {
    /// The page number, 1 ..= 2^32-1.
    pub pgno: u32,
    /// The new image (`len` bytes), or NULL to delete the page.
    pub data: *const u8,
    /// Length of the image in bytes, 0 ..= page_size (ignored for a delete).
    pub len: usize,
}

/// What a recovery (at `lc_open`, or offline by `lc_recover`) did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lc_recovery_report {
    /// WAL segments replayed.
    pub segments_recovered: u64,
    /// Page records (writes and deletes) replayed.
    pub records_applied: u64,
    /// Commits replayed.
    pub commits_recovered: u64,
    /// Log bytes read.
    pub bytes_read: u64,
    /// The last commit_seq recovered; 0 if none.
    pub last_commit_seq: u64,
    /// Segments not replayed (corrupt, or after the first corrupt one).
    pub partial_segments: u64,
}

impl From<&RecoveryReport> for lc_recovery_report {
    fn from(report: &RecoveryReport) -> Self {
        lc_recovery_report {
            segments_recovered: report.segments_recovered,
            records_applied: report.records_applied,
            commits_recovered: report.commits_recovered,
            bytes_read: report.bytes_read,
            last_commit_seq: report.last_commit_seq,
            partial_segments: report.partial_segments.len() as u64,
        }
    }
}

/// What `lc_checkpoint` did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lc_checkpoint_report {
    /// Pages written into the main file.
    pub pages_written: u64,
    /// WAL segments deleted.
    pub segments_removed: u64,
    /// Every commit <= this is now in the main file.
    pub checkpoint_seq: u64,
}

impl From<&CheckpointReport> for lc_checkpoint_report {
    fn from(report: &CheckpointReport) -> Self {
        lc_checkpoint_report {
            pages_written: report.pages_written,
            segments_removed: report.segments_removed,
            checkpoint_seq: report.checkpoint_seq,
        }
    }
}

/// Counters and watermarks from `lc_stats_get`. `commits` and `conflicts`
/// count what happened through this handle since it was opened; the other
/// fields describe the database.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lc_stats {
    /// Commits made through this handle.
    pub commits: u64,
    /// Conflicts reported through this handle.
    pub conflicts: u64,
    /// fdatasync/fsync calls on log files.
    pub syncs: u64,
    /// Bytes appended to the log.
    pub bytes_logged: u64,
    /// The newest commit_seq.
    pub last_commit_seq: u64,
    /// The newest commit_seq on stable storage.
    pub durable_commit_seq: u64,
    /// Every commit <= this is in the main file.
    pub checkpoint_seq: u64,
    /// Registered readers (open transactions).
    pub active_readers: u64,
    /// Page versions kept in memory.
    pub retained_versions: u64,
}

impl From<&Stats> for lc_stats {
    fn from(stats: &Stats) -> Self {
        lc_stats {
            commits: stats.commits,
            conflicts: stats.conflicts,
            syncs: stats.syncs,
            bytes_logged: stats.bytes_logged,
            last_commit_seq: stats.last_commit_seq,
            durable_commit_seq: stats.durable_commit_seq,
            checkpoint_seq: stats.checkpoint_seq,
            active_readers: stats.active_readers,
            retained_versions: stats.retained_versions,
        }
    }
}

/// `lc_recover` flag: return the durable prefix instead of failing on
/// corruption; segments not replayed are renamed to `{segment}.corrupt`.
pub const LC_RECOVER_SKIP_CORRUPT: u32 = 1u32;
/// `lc_recover` flag: delete replayed segments once their pages are in the
/// main file.
pub const LC_RECOVER_DELETE_AFTER: u32 = 2u32;
/// Every `lc_recover` flag; other bits are rejected.
pub(crate) const LC_RECOVER_ALL: u32 = LC_RECOVER_SKIP_CORRUPT | LC_RECOVER_DELETE_AFTER;

/// Major version of this header; compare with `lc_version()` at run time.
pub const LC_VERSION_MAJOR: u32 = 0;
/// Minor version of this header.
pub const LC_VERSION_MINOR: u32 = 1;
/// Patch version of this header.
pub const LC_VERSION_PATCH: u32 = 0;

/// Parses "MAJOR.MINOR.PATCH[-pre][+build]" at compile time.
const fn parse_version(text: &str) -> [u32; 3] {
    let bytes = text.as_bytes();
    let mut parts = [0u32; 3];
    let mut part = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            part += 1;
            assert!(part < 3, "version has more than three parts");
        } else if b.is_ascii_digit() {
            parts[part] = parts[part] * 10 + (b - b'0') as u32;
        } else {
            break;
        }
        i += 1;
    }
    parts
}

// The header's version macros, the library's lc_version() and the SONAME
// (from this crate's version, see build.rs) all name the engine's version.
const ENGINE_VERSION: [u32; 3] = parse_version(libcommit::VERSION);
const _: () = assert!(
    ENGINE_VERSION[0] == LC_VERSION_MAJOR
        && ENGINE_VERSION[1] == LC_VERSION_MINOR
        && ENGINE_VERSION[2] == LC_VERSION_PATCH,
    "LC_VERSION_* in bindings/c/src/types.rs must match libcommit::VERSION"
);
const _: () = assert!(
    parse_version(env!("CARGO_PKG_VERSION"))[0] == LC_VERSION_MAJOR
        && parse_version(env!("CARGO_PKG_VERSION"))[1] == LC_VERSION_MINOR
        && parse_version(env!("CARGO_PKG_VERSION"))[2] == LC_VERSION_PATCH,
    "bindings/c/Cargo.toml version must match libcommit::VERSION"
);

const VERSION_LEN: usize = libcommit::VERSION.len();

const fn nul_terminated(text: &str) -> [u8; VERSION_LEN + 1] {
    let bytes = text.as_bytes();
    let mut out = [0u8; VERSION_LEN + 1];
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i] != 0, "version contains NUL");
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// `libcommit::VERSION` with a terminating NUL, for `lc_version()`.
pub(crate) static VERSION_NUL: [u8; VERSION_LEN + 1] = nul_terminated(libcommit::VERSION);
