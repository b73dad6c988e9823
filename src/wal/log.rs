//! The logical log: one byte stream split over segment files, each holding
//! a fixed window of it. Commits reserve byte ranges in the stream (in
//! commit_seq order) and write them with positional writes, so committers
//! write in parallel and a range may span two segments.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::mutex::{Mutex, RwLock};

use super::segment::{
    classify, open_segment, prepare_segment, segment_path, tmp_segment_path, LogFileName, Segment,
    Source, Stream,
};
use super::sizing::{self, CommitSizeHint};
use crate::error::{Error, Result};
use crate::format::SegmentHeader;
use crate::storage::{parent_dir, Storage};

/// Retired segments kept for reuse; more are deleted.
const RECYCLE_POOL_MAX: usize = 4;

/// Fixed facts about the log of one database.
#[derive(Clone)]
pub struct LogConfig {
    pub storage: Arc<dyn Storage>,
    pub db_path: PathBuf,
    /// Which stream this log is (names its files).
    pub stream: Stream,
    pub db_id: u64,
    pub page_size: u32,
    /// Data bytes of each new segment, at least (more when recent commits
    /// are large: `sizing`).
    pub capacity: u64,
    /// Other processes may use the log too: retired segments are removed
    /// (never recycled - another process may still read one through its
    /// open file), and new segments may appear that they prepared.
    pub shared: bool,
}

struct Prep {
    /// Set by a preparation that failed other than for space: what it left
    /// on disk is unknown, so no other segment may claim its window.
    failed: Option<String>,
    last_epoch: u64,
    tmp_counter: u64,
    recycle: Vec<Segment>,
}

/// The segments of the live log, in log order.
pub struct Log {
    cfg: LogConfig,
    segments: RwLock<Vec<Arc<Segment>>>,
    prep: Mutex<Prep>,
    /// End of the last segment's window: reservations must stay below it.
    prepared_end: AtomicU64,
    syncs: AtomicU64,
    /// On shared storage: set while no other process is attached, when
    /// retired segments may be kept for reuse and reused.
    recycle_alone: AtomicBool,
    /// Recent commits' sizes, which size new segments and the headroom.
    hint: CommitSizeHint,
}

impl Log {
    /// A log over `segments` (in order, contiguous), or an empty one whose
    /// first segment will start at `start`.
    pub fn new(cfg: LogConfig, segments: Vec<Segment>, start: u64, last_epoch: u64) -> Log {
        let prepared_end = segments.last().map_or(start, |s| s.window_end());
        Log {
            cfg,
            segments: RwLock::new(segments.into_iter().map(Arc::new).collect()),
            prep: Mutex::new(Prep {
                failed: None,
                last_epoch,
                // Temporary names must not collide with another process's.
                tmp_counter: u64::from(std::process::id()) << 32,
                recycle: Vec::new(),
            }),
            prepared_end: AtomicU64::new(prepared_end),
            syncs: AtomicU64::new(0),
            recycle_alone: AtomicBool::new(false),
            hint: CommitSizeHint::default(),
        }
    }

    /// On shared storage, says whether this process is alone with the
    /// database (then retired segments are recycled as in a private log).
    pub fn set_alone(&self, alone: bool) {
        self.recycle_alone.store(alone, Ordering::Release);
    }

    fn may_recycle(&self) -> bool {
        !self.cfg.shared || self.recycle_alone.load(Ordering::Acquire)
    }

    /// Records a commit of `len` log bytes before it is sequenced, so
    /// that the segments prepared next fit commits of its size.
    pub fn note_commit(&self, len: u64) {
        self.hint.note(len);
    }

    /// Log bytes the background keeps prepared past the tail.
    pub fn headroom(&self) -> u64 {
        sizing::headroom(self.cfg.capacity, self.hint.get())
    }

    pub fn prepared_end(&self) -> u64 {
        self.prepared_end.load(Ordering::Acquire)
    }

    /// fsync/fdatasync calls made on log files.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The first log offset any segment holds (the prepared end when
    /// there is none).
    pub fn first_offset(&self) -> u64 {
        self.segments
            .read()
            .first()
            .map_or_else(|| self.prepared_end(), |s| s.header.log_start)
    }

    /// The segments holding `log_offset` and everything after it.
    pub fn segments_from(&self, log_offset: u64) -> Vec<Arc<Segment>> {
        let segs = self.segments.read();
        let i = segs.partition_point(|s| s.window_end() <= log_offset);
        segs[i..].to_vec()
    }

    /// Every segment, in log order.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().clone()
    }

    /// Opens the segments other processes prepared since this one last
    /// looked: those named with a newer epoch than any seen here, that
    /// continue the log past its prepared end. Returns how many.
    pub fn adopt_new_segments(&self) -> Result<usize> {
        let dir = parent_dir(&self.cfg.db_path);
        let mut prep = self.prep.lock();
        let listing = self
            .cfg
            .storage
            .list(&dir)
            .map_err(|e| Error::io("list directory", &dir, e))?;
        let mut found: Vec<Segment> = Vec::new();
        for p in listing {
            match classify(&self.cfg.db_path, &p) {
                LogFileName::Segment(stream, epoch)
                    if stream == self.cfg.stream && epoch > prep.last_epoch =>
                {
                    let seg = match open_segment(self.cfg.storage.as_ref(), &p, true) {
                        Ok(s) => s,
                        // Retired by a checkpoint between listing and opening.
                        Err(Error::Io { source, .. })
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            continue
                        }
                        Err(e) => return Err(e),
                    };
                    let h = &seg.header;
                    if h.db_id != self.cfg.db_id
                        || h.page_size != self.cfg.page_size
                        || h.first_epoch != epoch
                    {
                        return Err(Error::corrupt(format!(
                            "segment {}: header does not belong to this database",
                            p.display()
                        )));
                    }
                    found.push(seg);
                }
                _ => {}
            }
        }
        found.sort_by_key(|s| s.header.log_start);
        let mut adopted = 0;
        let mut segs = self.segments.write();
        for seg in found {
            prep.last_epoch = prep.last_epoch.max(seg.header.first_epoch);
            if seg.header.log_start >= self.prepared_end() {
                self.prepared_end.store(seg.window_end(), Ordering::Release);
                segs.push(Arc::new(seg));
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    fn segment_for(&self, log_offset: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read();
        let i = segs.partition_point(|s| s.window_end() <= log_offset);
        segs.get(i).filter(|s| s.contains(log_offset)).cloned()
    }

    /// Writes `buf` at `log_offset` (which must be prepared).
    pub fn write_at(&self, mut log_offset: u64, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            // The sequencer hands out only prepared ranges: a write past
            // them is a bug here, reported (not written) in release builds.
            let seg = self.segment_for(log_offset);
            debug_assert!(seg.is_some(), "log offset {log_offset} was never prepared");
            let seg = seg.ok_or_else(|| {
                Error::Internal(format!("log offset {log_offset} has no segment"))
            })?;
            let n = (seg.window_end() - log_offset).min(buf.len() as u64) as usize;
            seg.file
                .write_at(&buf[..n], seg.file_offset(log_offset))
                .map_err(|e| Error::io("write log", &seg.path, e))?;
            log_offset += n as u64;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `log_offset`.
    pub fn read_at(&self, mut log_offset: u64, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            let seg = self.segment_for(log_offset).ok_or_else(|| {
                Error::corrupt(format!("log offset {log_offset}: segment no longer exists"))
            })?;
            let n = (seg.window_end() - log_offset).min(buf.len() as u64) as usize;
            let (head, tail) = std::mem::take(&mut buf).split_at_mut(n);
            seg.file
                .read_at(head, seg.file_offset(log_offset))
                .map_err(|e| Error::io("read log", &seg.path, e))?;
            log_offset += n as u64;
            buf = tail;
        }
        Ok(())
    }

    /// Makes the log bytes in `[from, to)` durable. Always a real sync:
    /// sync mode OFF is the pipeline never asking, not a sync that lies.
    pub fn sync_range(&self, from: u64, to: u64) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let targets: Vec<Arc<Segment>> = self
            .segments
            .read()
            .iter()
            .filter(|s| s.header.log_start < to && s.window_end() > from)
            .cloned()
            .collect();
        for seg in targets {
            self.syncs.fetch_add(1, Ordering::Relaxed);
            seg.file
                .sync_data()
                .map_err(|e| Error::io("sync log", &seg.path, e))?;
        }
        Ok(())
    }

    /// Makes sure segments cover the log up to `end`, preparing new ones
    /// (recycled first, else fresh: zero-filled only for small commits,
    /// `sizing`). `epoch` is the current group-commit generation, which
    /// new segment names follow.
    pub fn ensure_prepared(&self, end: u64, epoch: u64) -> Result<()> {
        if self.prepared_end() >= end {
            return Ok(());
        }
        let mut prep = self.prep.lock();
        while self.prepared_end() < end {
            let start = self.prepared_end();
            self.prepare_locked(&mut prep, start, start, epoch)?;
        }
        Ok(())
    }

    /// Starts the log afresh at `start` after a crash left `resume_offset`
    /// as the end of valid data: everything at or past it in earlier
    /// segments is void from now on.
    pub fn restart(&self, start: u64, resume_offset: u64, epoch: u64) -> Result<()> {
        let mut prep = self.prep.lock();
        assert!(start >= self.prepared_end() && resume_offset <= start);
        self.prepare_locked(&mut prep, start, resume_offset, epoch)
    }

    fn prepare_locked(&self, prep: &mut Prep, start: u64, resume: u64, epoch: u64) -> Result<()> {
        if let Some(why) = &prep.failed {
            return Err(Error::Io {
                context: format!("prepare segment after an earlier failure ({why})"),
                source: std::io::Error::other("segment preparation failed earlier"),
            });
        }
        let r = self.prepare_unchecked(prep, start, resume, epoch);
        if let Err(e @ Error::Io { .. }) = &r {
            prep.failed = Some(e.to_string());
        }
        r
    }

    fn prepare_unchecked(
        &self,
        prep: &mut Prep,
        start: u64,
        resume: u64,
        epoch: u64,
    ) -> Result<()> {
        let epoch = epoch.max(prep.last_epoch + 1);
        let hint = self.hint.get();
        let wanted = sizing::capacity_for(self.cfg.capacity, hint);
        prep.tmp_counter += 1;
        let tmp = tmp_segment_path(&self.cfg.db_path, self.cfg.stream, prep.tmp_counter);
        let final_path = segment_path(&self.cfg.db_path, self.cfg.stream, epoch);
        let source = match self.take_recyclable(prep, wanted) {
            Some(old) => Source::Recycled(old),
            None => Source::Fresh {
                zero_fill: sizing::zero_fill(wanted, hint),
            },
        };
        let capacity = match &source {
            Source::Recycled(old) => old.header.capacity,
            Source::Fresh { .. } => wanted,
        };
        let header = SegmentHeader {
            page_size: self.cfg.page_size,
            db_id: self.cfg.db_id,
            first_epoch: epoch,
            log_start: start,
            capacity,
            resume_offset: resume,
        };
        let seg = prepare_segment(self.cfg.storage.as_ref(), &tmp, &final_path, header, source)?;
        prep.last_epoch = epoch;
        let end = seg.window_end();
        self.segments.write().push(Arc::new(seg));
        self.prepared_end.store(end, Ordering::Release);
        Ok(())
    }

    /// A retired segment to reuse for a window of about `wanted` bytes, if
    /// recycling is allowed and the pool has one that fits.
    fn take_recyclable(&self, prep: &mut Prep, wanted: u64) -> Option<Segment> {
        if !self.may_recycle() {
            return None;
        }
        let i = prep
            .recycle
            .iter()
            .rposition(|s| sizing::recyclable(s.header.capacity, wanted))?;
        let old = prep.recycle.remove(i);
        // A process that opened the database meanwhile may have deleted
        // it (under its old name it looks like a stale segment).
        self.cfg
            .storage
            .exists(&old.path)
            .unwrap_or(false)
            .then_some(old)
    }

    /// Removes segments whose whole window lies before `log_offset` (all
    /// their commits are in the main file). Returns how many went.
    pub fn retire_before(&self, log_offset: u64) -> Result<u64> {
        let retired: Vec<Arc<Segment>> = {
            let mut segs = self.segments.write();
            // Keep the last segment even when it is fully checkpointed: the
            // log must keep a window to append to.
            let keep_from = segs
                .iter()
                .position(|s| s.window_end() > log_offset)
                .unwrap_or(segs.len().saturating_sub(1));
            segs.drain(..keep_from).collect()
        };
        if retired.is_empty() {
            return Ok(0);
        }
        let count = retired.len() as u64;
        let mut prep = self.prep.lock();
        let mut removed_any = false;
        let recycle = self.may_recycle();
        for seg in retired {
            if !recycle {
                // Whoever checkpointed may have removed it already.
                match self.cfg.storage.remove(&seg.path) {
                    Ok(()) => removed_any = true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove segment", &seg.path, e)),
                }
                continue;
            }
            match Arc::try_unwrap(seg) {
                Ok(seg) => {
                    // The newest retired segments are the likeliest to fit
                    // the next ones (segment sizes follow commit sizes).
                    if prep.recycle.len() >= RECYCLE_POOL_MAX {
                        let oldest = prep.recycle.remove(0);
                        self.remove_file(&oldest.path)?;
                        removed_any = true;
                    }
                    prep.recycle.push(seg);
                }
                // A reader still holds it: unlink now, the open file stays
                // readable until the reader lets go.
                Err(seg) => {
                    self.remove_file(&seg.path)?;
                    removed_any = true;
                }
            }
        }
        drop(prep);
        if removed_any {
            let dir = parent_dir(&self.cfg.db_path);
            self.cfg
                .storage
                .sync_dir(&dir)
                .map_err(|e| Error::io("sync directory", &dir, e))?;
        }
        Ok(count)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.cfg
            .storage
            .remove(path)
            .map_err(|e| Error::io("remove segment", path, e))
    }
}
