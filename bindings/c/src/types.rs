//! The C value types: status and option enums, batch entries, reports,
//! constants. Names are the C names (API.md), hence the lint allowances.

#![allow(non_camel_case_types)]

use libcommit::{
    CheckpointReport, CommitMode, DropReason, HistogramSnapshot, Isolation, Metrics,
    RecoveryReport, SegmentReport, Stats, SyncMode,
};

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
    /// Another writer took this database's replica with a newer epoch:
    /// the database refuses commits (reads go on).
    LC_FENCED = 12,
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
    /// Commits are never synced on their own: a power loss may lose the
    /// latest ones, never corrupts (the files' structure - new segments,
    /// checkpoints - is still synced). `lc_wait_durable` and LC_SYNC_FULL
    /// transactions sync for real, and nothing claims durable what no sync
    /// covered.
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
    /// Open readers (transactions) of the database, in every live
    /// process sharing it.
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

/// Why recovery did not replay all of a segment (`lc_segment_report.reason`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_drop_reason {
    /// Every frame was kept.
    LC_DROP_NONE = 0,
    /// The end of the log was torn by a crash: a normal event, the frames
    /// after the tear were never acknowledged as durable.
    LC_DROP_TORN_TAIL = 1,
    /// A checksum or format check failed with valid data after it
    /// (corruption).
    LC_DROP_CHECKSUM = 2,
    /// Commits are missing between this segment and the previous one.
    LC_DROP_GAP = 3,
    /// The segment could not be read.
    LC_DROP_IO = 4,
    /// The segment comes after the first corrupt one and was not replayed.
    LC_DROP_AFTER_CORRUPTION = 5,
    /// Commits from here on were written but never synced and are not all
    /// there (unsynced data lost without a reboot, or after a failed
    /// sync): cut like a torn tail, no durable commit is missing.
    LC_DROP_NEVER_SYNCED = 6,
}

impl lc_drop_reason {
    /// The C code of an engine reason (`None`: every frame kept).
    pub(crate) fn of(reason: Option<&DropReason>) -> lc_drop_reason {
        match reason {
            None => lc_drop_reason::LC_DROP_NONE,
            Some(DropReason::TornTail) => lc_drop_reason::LC_DROP_TORN_TAIL,
            Some(DropReason::Checksum(_)) => lc_drop_reason::LC_DROP_CHECKSUM,
            Some(DropReason::Gap(_)) => lc_drop_reason::LC_DROP_GAP,
            Some(DropReason::Io(_)) => lc_drop_reason::LC_DROP_IO,
            Some(DropReason::AfterCorruption) => lc_drop_reason::LC_DROP_AFTER_CORRUPTION,
            Some(DropReason::NeverSynced(_)) => lc_drop_reason::LC_DROP_NEVER_SYNCED,
        }
    }
}

/// What recovery found in one WAL segment (`lc_recovery_segment`). The
/// segment's path and the reason's text come from
/// `lc_recovery_segment_path` and `lc_recovery_segment_detail`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lc_segment_report {
    /// The epoch in the segment's file name.
    pub first_epoch: u64,
    /// Lowest epoch among the frames kept (0 if none).
    pub epoch_min: u64,
    /// Highest epoch among the frames kept (0 if none).
    pub epoch_max: u64,
    /// Frames replayed.
    pub frames_kept: u64,
    /// Frames not replayed.
    pub frames_dropped: u64,
    /// Why frames were dropped; LC_DROP_NONE when all were kept.
    pub reason: lc_drop_reason,
}

impl From<&SegmentReport> for lc_segment_report {
    fn from(s: &SegmentReport) -> Self {
        lc_segment_report {
            first_epoch: s.first_epoch,
            epoch_min: s.epoch_min,
            epoch_max: s.epoch_max,
            frames_kept: s.frames_kept,
            frames_dropped: s.frames_dropped,
            reason: lc_drop_reason::of(s.dropped.as_ref()),
        }
    }
}

/// Buckets of an `lc_histogram`.
pub const LC_HISTOGRAM_BUCKETS: usize = 40;

const _: () = assert!(
    LC_HISTOGRAM_BUCKETS == libcommit::HISTOGRAM_BUCKETS,
    "LC_HISTOGRAM_BUCKETS must match the engine's HISTOGRAM_BUCKETS"
);

/// A histogram with power-of-two buckets: `buckets[0]` counts zeros,
/// `buckets[i]` (i >= 1) counts values v with 2^(i-1) <= v < 2^i, and the
/// last bucket also holds everything larger. The number of values is the
/// sum of the buckets.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lc_histogram {
    /// Values per bucket.
    pub buckets: [u64; LC_HISTOGRAM_BUCKETS],
    /// The sum of all values recorded.
    pub sum: u64,
}

impl From<&HistogramSnapshot> for lc_histogram {
    fn from(h: &HistogramSnapshot) -> Self {
        lc_histogram {
            buckets: h.buckets,
            sum: h.sum,
        }
    }
}

/// Histograms and reader figures from `lc_metrics_get`.
///
/// Versioned by size: set `size` to `sizeof(lc_metrics)` before the call.
/// Later versions of the library only append fields, so a program built
/// against an older header (a smaller struct) gets the fields it knows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lc_metrics {
    /// In: the size of the caller's struct, `sizeof(lc_metrics)`. Out: the
    /// bytes the library filled (the smaller of that and its own size).
    pub size: u32,
    /// 1 if a reader (an open transaction) is registered, else 0 (and the
    /// oldest_reader_* fields are 0).
    pub has_oldest_reader: u32,
    /// Commit latency through this engine, in microseconds.
    pub commit_latency_us: lc_histogram,
    /// Commits made durable per group flush.
    pub group_size: lc_histogram,
    /// Time each group flush spent syncing, in microseconds.
    pub flush_us: lc_histogram,
    /// The snapshot (commit_seq) of the oldest registered reader.
    pub oldest_reader_snapshot: u64,
    /// How many commits the oldest reader is behind the latest.
    pub oldest_reader_age_commits: u64,
    /// Page versions kept in memory only because of the oldest reader.
    pub oldest_reader_pinned_versions: u64,
}

// No padding anywhere: every byte the library copies out is initialised.
const _: () = assert!(
    std::mem::size_of::<lc_metrics>() == 8 + 3 * (LC_HISTOGRAM_BUCKETS + 1) * 8 + 3 * 8,
    "lc_metrics must have no padding"
);

/// The smallest `lc_metrics.size` accepted: `size` and `has_oldest_reader`.
pub(crate) const LC_METRICS_SIZE_MIN: usize = 8;

impl lc_metrics {
    /// The full struct for `m`, with `size` = `filled`.
    pub(crate) fn new(m: &Metrics, filled: u32) -> Self {
        lc_metrics {
            size: filled,
            has_oldest_reader: u32::from(m.oldest_reader_snapshot.is_some()),
            commit_latency_us: (&m.commit_latency_us).into(),
            group_size: (&m.group_size).into(),
            flush_us: (&m.flush_us).into(),
            oldest_reader_snapshot: m.oldest_reader_snapshot.unwrap_or(0),
            oldest_reader_age_commits: m.oldest_reader_age_commits,
            oldest_reader_pinned_versions: m.oldest_reader_pinned_versions,
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
