//! Plain public value types: page images, batch entries, reports, stats.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::metrics::{HistogramSnapshot, HISTOGRAM_BUCKETS};

/// A page number. Valid page numbers are 1..=u32::MAX; 0 is invalid.
pub type Pgno = u32;

/// A commit sequence number. The first commit of a database gets 1; 0
/// means "no commit".
pub type CommitSeq = u64;

/// An immutable page image, cheap to clone (reference counted).
#[derive(Clone, PartialEq, Eq)]
pub struct Page(Arc<[u8]>);

impl From<&[u8]> for Page {
    fn from(bytes: &[u8]) -> Page {
        Page(Arc::from(bytes))
    }
}

impl From<Vec<u8>> for Page {
    fn from(bytes: Vec<u8>) -> Page {
        Page(Arc::from(bytes))
    }
}

impl Deref for Page {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Page {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Page({} bytes)", self.0.len())
    }
}

/// One entry of a batch: write `data` to `pgno`, or delete it when `data`
/// is `None`.
///
/// ```
/// use libcommit::{Database, Options, PageWrite};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// let db = Database::open(&path, Options::default())?;
/// db.commit_batch(&[PageWrite::put(1, b"one"), PageWrite::put(2, b"two")])?;
/// db.commit_batch(&[PageWrite::delete(1), PageWrite { pgno: 3, data: Some(b"three") }])?;
/// assert_eq!(db.read(1)?, None);
/// assert_eq!(db.read(3)?.as_deref(), Some(&b"three"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PageWrite<'a> {
    /// The page (1..=u32::MAX).
    pub pgno: Pgno,
    /// The new image (at most the page size), or `None` to delete the page.
    pub data: Option<&'a [u8]>,
}

impl<'a> PageWrite<'a> {
    /// Writes `data` as the new image of `pgno`.
    pub fn put(pgno: Pgno, data: &'a [u8]) -> Self {
        PageWrite {
            pgno,
            data: Some(data),
        }
    }

    /// Deletes `pgno` (reads then find nothing).
    pub fn delete(pgno: Pgno) -> Self {
        PageWrite { pgno, data: None }
    }
}

/// Why a segment (or the rest of one) was not replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The end of the log was torn by a crash: a normal event.
    TornTail,
    /// A checksum or format check failed with valid data after it.
    Checksum(String),
    /// Commits are missing between this segment and the previous one.
    Gap(String),
    /// The segment could not be read.
    Io(String),
    /// The segment comes after the first corrupt one.
    AfterCorruption,
    /// Commits from here on were written but never synced, and are not
    /// all there: unsynced data lost within one boot (a failed write-back,
    /// a network disk that failed over) or after a failed sync. Cut like a
    /// torn tail - no acknowledged durable commit is missing - and named.
    NeverSynced(String),
}

impl DropReason {
    /// The reason's machine name ("torn_tail", "checksum", "gap", "io",
    /// "after_corruption", "never_synced"), as JSON output shows it.
    pub fn name(&self) -> &'static str {
        match self {
            DropReason::TornTail => "torn_tail",
            DropReason::Checksum(_) => "checksum",
            DropReason::Gap(_) => "gap",
            DropReason::Io(_) => "io",
            DropReason::AfterCorruption => "after_corruption",
            DropReason::NeverSynced(_) => "never_synced",
        }
    }

    /// What exactly was found, for the reasons that say more.
    pub fn detail(&self) -> Option<&str> {
        match self {
            DropReason::TornTail | DropReason::AfterCorruption => None,
            DropReason::Checksum(why)
            | DropReason::Gap(why)
            | DropReason::Io(why)
            | DropReason::NeverSynced(why) => Some(why),
        }
    }
}

/// The one text of a drop reason, shared by C, Python and lcctl: the
/// name in words, then the detail ("checksum: ...", "torn tail").
impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = self.name().replace('_', " ");
        match self.detail() {
            Some(why) => write!(f, "{words}: {why}"),
            None => f.write_str(&words),
        }
    }
}

/// What recovery found in one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    /// The segment file.
    pub path: PathBuf,
    /// The epoch in the segment's name.
    pub first_epoch: u64,
    /// Lowest and highest epoch among the frames kept (0 if none).
    pub epoch_min: u64,
    /// See `epoch_min`.
    pub epoch_max: u64,
    /// Frames replayed from this segment.
    pub frames_kept: u64,
    /// Frames not replayed (see `dropped` for why).
    pub frames_dropped: u64,
    /// Why frames were dropped; `None` when all were kept.
    pub dropped: Option<DropReason>,
}

/// What a recovery (on open, or offline) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments replayed (in full or up to a torn tail).
    pub segments_recovered: u64,
    /// Page records (writes and deletes) replayed.
    pub records_applied: u64,
    /// Commits replayed.
    pub commits_recovered: u64,
    /// Log bytes read.
    pub bytes_read: u64,
    /// The last commit recovered; 0 if none.
    pub last_commit_seq: CommitSeq,
    /// Segments not replayed (corrupt, or after the first corrupt one).
    pub partial_segments: Vec<PathBuf>,
    /// One entry per segment examined, in log order.
    pub segments: Vec<SegmentReport>,
}

/// What a checkpoint did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// Pages copied into the main file.
    pub pages_written: u64,
    /// Log segments deleted because nothing in them is needed any more.
    pub segments_removed: u64,
    /// Every commit <= this is now in the main file.
    pub checkpoint_seq: CommitSeq,
}

/// Histograms and reader figures (see `Database::metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// Commit latency through this engine, microseconds.
    pub commit_latency_us: HistogramSnapshot,
    /// Commits made durable per group flush.
    pub group_size: HistogramSnapshot,
    /// Time each group flush spent syncing, microseconds.
    pub flush_us: HistogramSnapshot,
    /// The oldest registered snapshot, if any reader is registered.
    pub oldest_reader_snapshot: Option<CommitSeq>,
    /// How many commits the oldest reader is behind the latest.
    pub oldest_reader_age_commits: u64,
    /// Versions kept in memory only because of the oldest reader.
    pub oldest_reader_pinned_versions: u64,
}

/// Counters and watermarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commits made through this handle since it was opened.
    pub commits: u64,
    /// Conflicts reported through this handle since it was opened.
    pub conflicts: u64,
    /// fdatasync/fsync calls on log files.
    pub syncs: u64,
    /// Bytes appended to the log by this engine since it was opened.
    pub bytes_logged: u64,
    /// The latest commit of the database.
    pub last_commit_seq: CommitSeq,
    /// Every commit <= this is on stable storage.
    pub durable_commit_seq: CommitSeq,
    /// Every commit <= this is in the main file.
    pub checkpoint_seq: CommitSeq,
    /// Open readers (transactions) of the database: this process's and
    /// those every other live process sharing it publishes in its slot.
    pub active_readers: u64,
    /// Page versions kept in memory for readers and the next checkpoint.
    pub retained_versions: u64,
}
