//! Options for opening a database and for offline recovery.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::{RealStorage, Storage};

// The format bounds what a page or segment can be; options accept that.
pub use crate::format::{
    PAGE_SIZE_DEFAULT_BYTES, PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES, SEGMENT_SIZE_MAX_BYTES,
};

/// WAL size past which a commit triggers an automatic checkpoint.
pub const CHECKPOINT_THRESHOLD_DEFAULT_BYTES: u64 = 64 << 20;
/// Main-file page cache of a new database handle.
pub const PAGE_CACHE_DEFAULT_BYTES: u64 = 32 << 20;
/// Image bytes a transaction keeps in memory before spilling to a file.
pub const SPILL_THRESHOLD_DEFAULT_BYTES: u64 = 32 << 20;
/// Size of one WAL segment file (header included).
pub const SEGMENT_SIZE_DEFAULT_BYTES: u64 = 16 << 20;
/// Smallest segment accepted (tests use small segments to force rotation).
pub const SEGMENT_SIZE_MIN_BYTES: u64 = 64 << 10;
/// Upper bound on lanes; more gives no parallelism and costs memory.
pub const LANES_MAX: u32 = 256;
/// Upper bound on the group-commit delay (one second).
pub const MAX_FLUSH_DELAY_MAX_US: u32 = 1_000_000;
/// Busy timeout of a new database handle.
pub const BUSY_TIMEOUT_DEFAULT_MS: u32 = 5000;
/// Unshipped log a replica's shipper holds back from checkpoints at most.
pub const REPLICA_RETAIN_DEFAULT_BYTES: u64 = 1 << 30;
/// Least time between two snapshots of the main file: each uploads the
/// whole file.
pub const REPLICA_SNAPSHOT_INTERVAL_DEFAULT_MS: u64 = 60 * 60 * 1000;
/// Snapshots a replica keeps whatever their age.
pub const REPLICA_RETAIN_SNAPSHOTS_DEFAULT: u32 = 2;
/// Snapshots younger than this are kept too.
pub const REPLICA_RETAIN_WINDOW_DEFAULT_MS: u64 = 24 * 60 * 60 * 1000;
/// How long an unneeded replica object stays for restores already under
/// way.
pub const REPLICA_DELETE_GRACE_DEFAULT_MS: u64 = 10 * 60 * 1000;
/// How often a follower looks for the replica's next slot.
pub const REPLICA_POLL_DEFAULT_MS: u64 = 100;

/// When a commit may report success.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Success only after the commit is on stable storage.
    #[default]
    Full = 0,
    /// Survives a process crash; a power loss may lose the latest commits,
    /// never corrupts.
    Normal = 1,
    /// Commits are never synced on their own: a power loss may lose the
    /// latest ones, never corrupts (the files' structure - new segments,
    /// checkpoints - is still synced). `wait_durable` and `Full`
    /// transactions sync for real; nothing claims durable what no sync
    /// covered.
    Off = 2,
}

/// How a commit's page images reach the disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Page images go through the write-ahead log.
    #[default]
    Wal = 0,
    /// Each writer persists its own checksummed capsule; the log holds
    /// only small commit markers.
    Native = 1,
}

/// Which accesses a commit validates.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    /// First-committer-wins on the write set.
    #[default]
    Snapshot = 0,
    /// First-committer-wins on the write set and the read set.
    Serializable = 1,
}

/// Options for [`crate::Database::open`].
///
/// Fields are public; [`Options::validate`] (called by `open`) rejects bad
/// values, and the `set_*` methods validate one value at a time for
/// bindings whose setters must reject bad input immediately.
#[derive(Clone)]
pub struct Options {
    /// The largest page image in bytes: a power of two in
    /// 512..=65536 (default 4096). Fixed when the database is created.
    pub page_size: u32,
    /// What a commit waits for before it returns (default `Full`).
    pub sync: SyncMode,
    /// How commits reach the log (default `Wal`).
    pub commit_mode: CommitMode,
    /// What commit validates (default `Snapshot`).
    pub isolation: Isolation,
    /// Staging lanes; 0 = one per core.
    pub lanes: u32,
    /// How long a group-commit leader waits for more committers; 0 = sync
    /// as soon as a leader is free.
    pub max_flush_delay_us: u32,
    /// How long to wait for another process - one holding the writer lease
    /// (commits, checkpoints) or one opening the database - before Busy.
    pub busy_timeout_ms: u32,
    /// Open for reading only: commits and checkpoints fail with ReadOnly,
    /// and a missing database is not created.
    pub read_only: bool,
    /// WAL bytes past which commits trigger a checkpoint; 0 = never.
    pub checkpoint_threshold_bytes: u64,
    /// Size of each WAL segment file.
    pub segment_size_bytes: u64,
    /// Bytes of verified main-file pages kept in memory for reads; 0 = none.
    pub page_cache_bytes: u64,
    /// Image bytes a write set keeps in memory; past it, images spill to a
    /// private file so a transaction of any size commits in bounded memory.
    pub spill_threshold_bytes: u64,
    /// Ship every durable commit to this replica URL (`file:///dir/prefix`
    /// or `s3://bucket/prefix?endpoint=...&region=...`); None: no replica.
    pub replica: Option<String>,
    /// Unshipped log held back from checkpoints at most; past it the log
    /// is retired anyway and the replica needs a fresh snapshot.
    pub replica_retain_bytes: u64,
    /// Least time between snapshots of the main file (one follows a
    /// checkpoint once this has passed since the last); 0 = after every
    /// checkpoint.
    pub replica_snapshot_interval_ms: u64,
    /// Retention: the newest this many snapshots are kept (at least 1).
    pub replica_retain_snapshots: u32,
    /// Retention: snapshots younger than this are kept too.
    pub replica_retain_window_ms: u64,
    /// Retention: objects no kept snapshot needs are deleted this long
    /// after they stopped being needed.
    pub replica_delete_grace_ms: u64,
    /// A follower looks for the replica's next slot this often (ms, at
    /// least 1).
    pub replica_poll_ms: u64,
    /// A follower whose database the replica cannot continue (a fork,
    /// slots it needs deleted, a restart from a snapshot) starts over:
    /// its local files are replaced by a fresh restore. Off: it stops
    /// with an error instead.
    pub replica_resnapshot: bool,
    /// Where all file I/O goes. Tests substitute a simulated storage.
    pub storage: Arc<dyn Storage>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: PAGE_SIZE_DEFAULT_BYTES,
            sync: SyncMode::Full,
            commit_mode: CommitMode::Wal,
            isolation: Isolation::Snapshot,
            lanes: 0,
            max_flush_delay_us: 0,
            busy_timeout_ms: BUSY_TIMEOUT_DEFAULT_MS,
            read_only: false,
            checkpoint_threshold_bytes: CHECKPOINT_THRESHOLD_DEFAULT_BYTES,
            segment_size_bytes: SEGMENT_SIZE_DEFAULT_BYTES,
            spill_threshold_bytes: SPILL_THRESHOLD_DEFAULT_BYTES,
            page_cache_bytes: PAGE_CACHE_DEFAULT_BYTES,
            replica: None,
            replica_retain_bytes: REPLICA_RETAIN_DEFAULT_BYTES,
            replica_snapshot_interval_ms: REPLICA_SNAPSHOT_INTERVAL_DEFAULT_MS,
            replica_retain_snapshots: REPLICA_RETAIN_SNAPSHOTS_DEFAULT,
            replica_retain_window_ms: REPLICA_RETAIN_WINDOW_DEFAULT_MS,
            replica_delete_grace_ms: REPLICA_DELETE_GRACE_DEFAULT_MS,
            replica_poll_ms: REPLICA_POLL_DEFAULT_MS,
            replica_resnapshot: false,
            storage: Arc::new(RealStorage),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("page_size", &self.page_size)
            .field("sync", &self.sync)
            .field("commit_mode", &self.commit_mode)
            .field("isolation", &self.isolation)
            .field("lanes", &self.lanes)
            .field("max_flush_delay_us", &self.max_flush_delay_us)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("read_only", &self.read_only)
            .field(
                "checkpoint_threshold_bytes",
                &self.checkpoint_threshold_bytes,
            )
            .field("segment_size_bytes", &self.segment_size_bytes)
            .field("spill_threshold_bytes", &self.spill_threshold_bytes)
            .field("page_cache_bytes", &self.page_cache_bytes)
            .field("replica", &self.replica)
            .field("replica_retain_bytes", &self.replica_retain_bytes)
            .field(
                "replica_snapshot_interval_ms",
                &self.replica_snapshot_interval_ms,
            )
            .field("replica_retain_snapshots", &self.replica_retain_snapshots)
            .field("replica_retain_window_ms", &self.replica_retain_window_ms)
            .field("replica_delete_grace_ms", &self.replica_delete_grace_ms)
            .field("replica_poll_ms", &self.replica_poll_ms)
            .field("replica_resnapshot", &self.replica_resnapshot)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Checks every field; `open` calls this.
    pub fn validate(&self) -> Result<()> {
        check_page_size(self.page_size)?;
        check_lanes(self.lanes)?;
        check_max_flush_delay_us(self.max_flush_delay_us)?;
        check_segment_size(self.segment_size_bytes)?;
        if self.replica_retain_snapshots == 0 {
            return Err(Error::invalid(
                "replica_retain_snapshots must be at least 1: a replica keeps its newest snapshot",
            ));
        }
        if self.replica_poll_ms == 0 {
            return Err(Error::invalid("replica_poll_ms must be at least 1"));
        }
        Ok(())
    }

    /// Sets `page_size`, rejecting a value that is not a power of two in
    /// 512..=65536 (InvalidArgument) and leaving the field as it was.
    ///
    /// ```
    /// let mut options = libcommit::Options::default();
    /// options.set_page_size(8192)?;
    /// assert!(options.set_page_size(1000).is_err());
    /// assert_eq!(options.page_size, 8192);
    /// # Ok::<(), libcommit::Error>(())
    /// ```
    pub fn set_page_size(&mut self, page_size: u32) -> Result<()> {
        check_page_size(page_size)?;
        self.page_size = page_size;
        Ok(())
    }

    /// Sets `lanes` (0 = one per core), rejecting a value past the bound.
    pub fn set_lanes(&mut self, lanes: u32) -> Result<()> {
        check_lanes(lanes)?;
        self.lanes = lanes;
        Ok(())
    }

    /// Sets `max_flush_delay_us`, rejecting a value past the bound.
    pub fn set_max_flush_delay_us(&mut self, us: u32) -> Result<()> {
        check_max_flush_delay_us(us)?;
        self.max_flush_delay_us = us;
        Ok(())
    }

    /// Sets `segment_size_bytes`, rejecting a size out of its bounds.
    pub fn set_segment_size_bytes(&mut self, bytes: u64) -> Result<()> {
        check_segment_size(bytes)?;
        self.segment_size_bytes = bytes;
        Ok(())
    }

    /// The number of lanes `lanes` stands for (0 = one per core).
    pub(crate) fn effective_lanes(&self) -> usize {
        if self.lanes == 0 {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, LANES_MAX as usize)
        } else {
            self.lanes as usize
        }
    }
}

fn check_page_size(page_size: u32) -> Result<()> {
    if !page_size.is_power_of_two()
        || !(PAGE_SIZE_MIN_BYTES..=PAGE_SIZE_MAX_BYTES).contains(&page_size)
    {
        return Err(Error::invalid(format!(
            "page_size {page_size}: must be a power of two in {PAGE_SIZE_MIN_BYTES}..={PAGE_SIZE_MAX_BYTES}"
        )));
    }
    Ok(())
}

fn check_lanes(lanes: u32) -> Result<()> {
    if lanes > LANES_MAX {
        return Err(Error::invalid(format!(
            "lanes {lanes}: at most {LANES_MAX} (0 = one per core)"
        )));
    }
    Ok(())
}

fn check_max_flush_delay_us(us: u32) -> Result<()> {
    if us > MAX_FLUSH_DELAY_MAX_US {
        return Err(Error::invalid(format!(
            "max_flush_delay_us {us}: at most {MAX_FLUSH_DELAY_MAX_US}"
        )));
    }
    Ok(())
}

fn check_segment_size(bytes: u64) -> Result<()> {
    if !(SEGMENT_SIZE_MIN_BYTES..=SEGMENT_SIZE_MAX_BYTES).contains(&bytes) || bytes % 4096 != 0 {
        return Err(Error::invalid(format!(
            "segment_size_bytes {bytes}: must be a multiple of 4096 in {SEGMENT_SIZE_MIN_BYTES}..={SEGMENT_SIZE_MAX_BYTES}"
        )));
    }
    Ok(())
}

/// Options for offline [`crate::recover`].
#[derive(Clone)]
pub struct RecoveryOptions {
    /// Keep the durable prefix instead of failing on corruption; segments
    /// not replayed are renamed to `{segment}.corrupt`.
    pub skip_corrupt: bool,
    /// Delete replayed segments once their pages are in the main file.
    pub delete_after: bool,
    /// Where the files are read and written (the real file system by
    /// default; tests inject a simulated disk).
    pub storage: Arc<dyn Storage>,
}

impl Default for RecoveryOptions {
    fn default() -> Self {
        RecoveryOptions {
            skip_corrupt: false,
            delete_after: false,
            storage: Arc::new(RealStorage),
        }
    }
}

impl std::fmt::Debug for RecoveryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryOptions")
            .field("skip_corrupt", &self.skip_corrupt)
            .field("delete_after", &self.delete_after)
            .finish_non_exhaustive()
    }
}
