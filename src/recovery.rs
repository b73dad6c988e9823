//! Recovery: find the durable prefix of the log and replay it.
//!
//! The scan lists the segments, verifies their headers and continuity,
//! then reads frames from where the last checkpoint left off, applying
//! each commit whose frames and commit record all verify, in commit_seq
//! order. It stops at the first frame that does not verify. What follows
//! decides what that was: if a later valid commit record carries a
//! `durable_hint` covering the missing commit, that commit had been synced
//! and acknowledged, so the bad frame is corruption; otherwise the log
//! simply ends there, torn by a crash (a normal event, cut silently).
//!
//! Replayed images stay in the log ([`VersionData::Logged`]); recovery
//! holds only their locations, so memory does not grow with the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::capsule::{self, MarkerPayload};
use crate::error::{Error, Result};
use crate::format::{
    chain_frame_crc, crc32c, CommitPayload, FrameHeader, FrameKind, MainHeader, FRAME_ALIGN_BYTES,
    FRAME_HEADER_BYTES, SEGMENT_HEADER_BLOCK_BYTES,
};
use crate::mainfile::{CheckpointPage, MainFile};
use crate::mvcc::VersionData;
use crate::options::RecoveryOptions;
use crate::prefetch::{self, Prefetched};
use crate::storage::{parent_dir, Storage};
use crate::types::{CommitSeq, DropReason, Pgno, RecoveryReport, SegmentReport};
use crate::wal::{classify, open_segment, LogFileName, Segment, Stream, CORRUPT_SUFFIX};

/// Bytes read from a segment at a time while scanning.
const SCAN_CHUNK_BYTES: usize = 1 << 20;
/// Catching up reads a little past what other processes appended since
/// the last look: smaller reads.
const CATCH_UP_CHUNK_BYTES: usize = 64 << 10;

/// One replayed page record.
pub struct Record {
    pub pgno: Pgno,
    pub seq: CommitSeq,
    pub data: VersionData,
}

/// Where the scan found corruption.
pub struct Corruption {
    /// Index (into `Replay::segments`) of the first segment not replayed.
    pub first_bad: usize,
    /// Where in the WAL the bad frame is, when a frame (not a header or a
    /// missing segment) is what failed.
    pub log_offset: Option<u64>,
    pub reason: String,
}

/// The outcome of scanning a database's log.
pub struct Replay {
    /// Live segments (not wholly before the checkpoint), in log order.
    pub segments: Vec<Segment>,
    /// Segments wholly before the checkpoint: garbage to delete.
    pub stale: Vec<PathBuf>,
    /// Leftover temporary files of an interrupted segment preparation.
    pub tmp: Vec<PathBuf>,
    pub records: Vec<Record>,
    /// Segments of the capsule stream, by log_start.
    pub capsule_segments: Vec<Segment>,
    /// (capsule offset, seq) of each replayed NATIVE commit.
    pub capsules: Vec<(u64, CommitSeq)>,
    /// Just past the last byte of any replayed capsule.
    pub capsules_end: u64,
    /// Some replayed marker names a capsule written without FSYNC_1 (sync
    /// below FULL): a process adopting it must sync capsules before its
    /// next marker sync, or that marker could become durable first.
    pub relaxed_capsules: bool,
    /// (seq, end offset) of each replayed commit.
    pub ends: Vec<(CommitSeq, u64)>,
    pub last_seq: CommitSeq,
    /// Log offset just past the last replayed commit.
    pub end: u64,
    /// Valid frames exist past `end` (an abandoned tail): the next writer
    /// must start a fresh segment rather than overwrite in place.
    pub dirty_tail: bool,
    /// Highest epoch seen in segment names and commit records.
    pub last_epoch: u64,
    pub corruption: Option<Corruption>,
    pub report: RecoveryReport,
}

impl Replay {
    /// Nothing replayed yet: the log continues after commit `last_seq`,
    /// at `end`.
    fn after(last_seq: CommitSeq, end: u64, last_epoch: u64) -> Replay {
        Replay {
            segments: Vec::new(),
            stale: Vec::new(),
            tmp: Vec::new(),
            records: Vec::new(),
            capsule_segments: Vec::new(),
            capsules: Vec::new(),
            capsules_end: 0,
            relaxed_capsules: false,
            ends: Vec::new(),
            last_seq,
            end,
            dirty_tail: false,
            last_epoch,
            corruption: None,
            report: RecoveryReport::default(),
        }
    }
}

/// Scans the log of the database whose main header is `main`.
/// `durable_limit`: a sync failed in this boot (recorded by the process
/// it failed in) and only the log before this offset is known durable -
/// commits ending past it are not replayed, whatever they look like now.
pub fn scan(
    storage: &Arc<dyn Storage>,
    db_path: &Path,
    main: &MainHeader,
    writable: bool,
    durable_limit: Option<u64>,
) -> Result<Replay> {
    let _span = tracing::debug_span!("recovery", path = %db_path.display()).entered();
    let (named, capsule_named, tmp) = list_log_files(storage, db_path)?;
    let capsule_segments = open_capsule_segments(storage, capsule_named, main, writable)?;
    let WalSegments {
        segments,
        stale,
        mut corruption,
        last_epoch,
    } = open_wal_segments(storage, named, main, writable)?;
    let scan_upto = corruption.as_ref().map_or(segments.len(), |(i, _)| *i);
    let mut replay = Replay {
        stale,
        tmp,
        ..Replay::after(main.checkpoint_seq, main.log_start, last_epoch)
    };
    let mut scanner = Scanner::new(
        segments[..scan_upto].iter().collect(),
        capsule_segments.iter().collect(),
        main.db_id,
        main.page_size,
        storage.boot_tag(),
    );
    scanner.durable_limit = durable_limit;
    let outcome = std::thread::scope(|s| {
        // A second thread reads ahead while this one checks.
        let (tx, rx) = prefetch::channel();
        let (segs, valid_end) = (scanner.segs.clone(), scanner.valid_end.clone());
        let (start, chunk) = (main.log_start, scanner.chunk);
        s.spawn(move || prefetch::read_ahead(&segs, &valid_end, start, chunk, tx));
        scanner.prefetch = Some(rx);
        let outcome = scanner.replay(main.log_start, main.checkpoint_seq, &mut replay);
        // Hangs up on the reader, which then stops.
        scanner.prefetch = None;
        outcome
    });
    let mut seg_reports: Vec<SegmentReport> = segments
        .iter()
        .map(|s| SegmentReport {
            path: s.path.clone(),
            first_epoch: s.header.first_epoch,
            epoch_min: 0,
            epoch_max: 0,
            frames_kept: 0,
            frames_dropped: 0,
            dropped: None,
        })
        .collect();
    for (i, kept) in scanner.kept.iter().enumerate() {
        seg_reports[i].frames_kept = kept.frames;
        seg_reports[i].epoch_min = kept.epoch_min;
        seg_reports[i].epoch_max = kept.epoch_max;
    }
    let stop_seg = scanner.index_of(outcome.stop_pos);
    if let (Some(i), Some(why)) = (stop_seg, outcome.stop_reason.as_ref()) {
        let reason = if outcome.corrupt {
            Some(DropReason::Checksum(why.clone()))
        } else if let Some(lost) = &outcome.never_synced {
            Some(DropReason::NeverSynced(format!("{why}: {lost}")))
        } else {
            (outcome.dropped_frames > 0).then_some(DropReason::TornTail)
        };
        if let Some(reason) = reason {
            seg_reports[i].frames_dropped = outcome.dropped_frames;
            seg_reports[i].dropped = Some(reason);
        }
    }
    let frame_corruption = outcome.corrupt && corruption.is_none();
    if outcome.corrupt && corruption.is_none() {
        let i = stop_seg.unwrap_or(0);
        corruption = Some((
            i,
            format!(
                "{}, followed by later commits that vouch for it",
                outcome.stop_reason.clone().unwrap_or_default(),
            ),
        ));
    }
    if let Some((i, why)) = &corruption {
        for (j, r) in seg_reports.iter_mut().enumerate().skip(*i) {
            if r.dropped.is_none() || j > *i {
                r.dropped = Some(if j == *i {
                    DropReason::Checksum(why.clone())
                } else {
                    DropReason::AfterCorruption
                });
            }
        }
        replay.report.partial_segments = segments[*i..].iter().map(|s| s.path.clone()).collect();
        replay.corruption = Some(Corruption {
            first_bad: *i,
            log_offset: frame_corruption.then_some(outcome.stop_pos),
            reason: why.clone(),
        });
    }
    replay.dirty_tail = outcome.valid_after_end;
    replay.report.segments_recovered = scanner.kept.iter().filter(|k| k.frames > 0).count() as u64;
    replay.report.bytes_read = scanner.bytes_read;
    replay.report.last_commit_seq =
        if replay.report.commits_recovered > 0 || main.checkpoint_seq > 0 {
            replay.last_seq
        } else {
            0
        };
    replay.report.segments = seg_reports;
    replay.segments = segments;
    replay.capsule_segments = capsule_segments;
    Ok(replay)
}

/// Replays what was appended to the log after `start`, where commit
/// `last_seq` ended: another process's commits, caught up on. With
/// `stop_after`, stops once that commit is replayed and looks no further
/// (a writer may be appending past it right now); without, reads to the
/// end, and when `writer_died` judges what lies past it, as recovery does.
/// Segments are those that may hold `start` onwards, in log order.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub fn scan_tail(
    segs: &[Arc<Segment>],
    capsules: &[Arc<Segment>],
    main: &MainHeader,
    boot_tag: u32,
    start: u64,
    last_seq: CommitSeq,
    stop_after: Option<CommitSeq>,
    writer_died: bool,
) -> Replay {
    let mut replay = Replay::after(last_seq, start, 0);
    let mut scanner = Scanner::new(
        segs.iter().map(|s| &**s).collect(),
        capsules.iter().map(|s| &**s).collect(),
        main.db_id,
        main.page_size,
        boot_tag,
    );
    scanner.stop_after = stop_after;
    scanner.judge_tail = writer_died;
    scanner.chunk = CATCH_UP_CHUNK_BYTES;
    let outcome = scanner.replay(start, last_seq, &mut replay);
    if outcome.corrupt {
        replay.corruption = Some(Corruption {
            first_bad: scanner.index_of(outcome.stop_pos).unwrap_or(0),
            log_offset: Some(outcome.stop_pos),
            reason: outcome.stop_reason.unwrap_or_default(),
        });
    }
    replay.dirty_tail = outcome.valid_after_end;
    replay
}

/// WAL segments and capsule segments beside `db_path` (epoch, path),
/// each sorted by epoch, and leftover temporary files.
type Listing = (Vec<(u64, PathBuf)>, Vec<(u64, PathBuf)>, Vec<PathBuf>);

fn list_log_files(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<Listing> {
    let dir = parent_dir(db_path);
    let listing = storage
        .list(&dir)
        .map_err(|e| Error::io("list directory", &dir, e))?;
    let mut named: Vec<(u64, PathBuf)> = Vec::new();
    let mut capsule_named: Vec<(u64, PathBuf)> = Vec::new();
    let mut tmp = Vec::new();
    for p in listing {
        match classify(db_path, &p) {
            LogFileName::Segment(Stream::Wal, epoch) => named.push((epoch, p)),
            LogFileName::Segment(Stream::Capsule, epoch) => capsule_named.push((epoch, p)),
            LogFileName::Tmp(_) => tmp.push(p),
            LogFileName::Other => {}
        }
    }
    named.sort();
    capsule_named.sort();
    Ok((named, capsule_named, tmp))
}

fn open_capsule_segments(
    storage: &Arc<dyn Storage>,
    capsule_named: Vec<(u64, PathBuf)>,
    main: &MainHeader,
    writable: bool,
) -> Result<Vec<Segment>> {
    // Capsule segments need no continuity: markers say where capsules are.
    // One that cannot be opened or does not belong here is left alone; a
    // marker pointing into it will fail verification.
    let mut capsule_segments = Vec::new();
    for (epoch, path) in capsule_named {
        match open_segment(storage.as_ref(), &path, writable) {
            Ok(s)
                if s.header.db_id == main.db_id
                    && s.header.page_size == main.page_size
                    && s.header.first_epoch == epoch =>
            {
                capsule_segments.push(s)
            }
            Err(Error::Io { context, source }) => return Err(Error::Io { context, source }),
            _ => {}
        }
    }
    capsule_segments.sort_by_key(|s| s.header.log_start);

    Ok(capsule_segments)
}

/// The WAL segments of a scan, checked against the database and each other.
struct WalSegments {
    /// Live segments in log order (placeholders for unreadable ones).
    segments: Vec<Segment>,
    /// Segments wholly before the checkpoint.
    stale: Vec<PathBuf>,
    /// First segment not to replay, and why.
    corruption: Option<(usize, String)>,
    last_epoch: u64,
}

fn open_wal_segments(
    storage: &Arc<dyn Storage>,
    named: Vec<(u64, PathBuf)>,
    main: &MainHeader,
    writable: bool,
) -> Result<WalSegments> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut stale = Vec::new();
    let mut corruption: Option<(usize, String)> = None;
    let mut last_epoch = named.last().map_or(0, |(e, _)| *e);
    let mut unreadable: Vec<(PathBuf, String)> = Vec::new();
    for (epoch, path) in named {
        let seg = open_segment(storage.as_ref(), &path, writable).and_then(|s| {
            let h = &s.header;
            if h.db_id != main.db_id || h.page_size != main.page_size || h.first_epoch != epoch {
                return Err(Error::corrupt(format!(
                    "segment {}: header does not belong to this database",
                    path.display()
                )));
            }
            Ok(s)
        });
        match seg {
            Ok(s) if s.window_end() <= main.log_start => stale.push(s.path),
            Ok(s) => {
                // Segments with unreadable headers before this one, in a
                // log that is otherwise continuous past the checkpoint,
                // were garbage awaiting deletion only if this one starts at
                // or before the checkpoint position.
                if !unreadable.is_empty()
                    && s.header.log_start > main.log_start
                    && corruption.is_none()
                {
                    let (p, why) = unreadable.remove(0);
                    corruption = Some((segments.len(), why));
                    segments.push(placeholder(p));
                }
                unreadable.clear();
                segments.push(s);
            }
            Err(Error::Io { context, source }) => return Err(Error::Io { context, source }),
            Err(e) => unreadable.push((path, e.to_string())),
        }
        last_epoch = last_epoch.max(epoch);
    }
    if let Some((p, why)) = unreadable.into_iter().next() {
        if corruption.is_none() {
            corruption = Some((segments.len(), why));
        }
        segments.push(placeholder(p));
    }
    // Segments named for the corrupt one onwards are not scanned.
    let scan_upto = corruption.as_ref().map_or(segments.len(), |(i, _)| *i);
    if let Some(i) = check_continuity(&segments[..scan_upto], main.log_start) {
        corruption = Some((
            i,
            format!(
                "segment {}: commits missing before it",
                segments[i].path.display()
            ),
        ));
    }
    Ok(WalSegments {
        segments,
        stale,
        corruption,
        last_epoch,
    })
}

fn placeholder(path: PathBuf) -> Segment {
    // A segment whose header could not be trusted: kept only so reports
    // and skip_corrupt can name it. It is never read.
    struct Dead;
    impl crate::storage::StorageFile for Dead {
        fn read_at(&self, _: &mut [u8], _: u64) -> std::io::Result<()> {
            Err(std::io::Error::other("segment not readable"))
        }
        fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<()> {
            Err(std::io::Error::other("segment not writable"))
        }
        fn len(&self) -> std::io::Result<u64> {
            Ok(0)
        }
        fn set_len(&self, _: u64) -> std::io::Result<()> {
            Err(std::io::Error::other("segment not writable"))
        }
        fn allocate(&self, _: u64) -> std::io::Result<()> {
            Err(std::io::Error::other("segment not writable"))
        }
        fn sync_data(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn try_lock_exclusive(&self) -> std::io::Result<bool> {
            Ok(false)
        }
    }
    Segment {
        path,
        file: Box::new(Dead),
        header: crate::format::SegmentHeader {
            page_size: 0,
            db_id: 0,
            first_epoch: 0,
            log_start: u64::MAX - 1,
            capacity: 1,
            resume_offset: 0,
        },
    }
}

/// Index of the first segment that does not continue the log where the
/// previous one (or the checkpoint) left off, if any.
fn check_continuity(segs: &[Segment], log_start: u64) -> Option<usize> {
    let first = segs.first()?;
    if first.header.log_start > log_start && first.header.resume_offset > log_start {
        return Some(0);
    }
    (1..segs.len()).find(|&i| segs[i].header.log_start != segs[i - 1].window_end())
}

#[derive(Default, Clone, Copy)]
struct Kept {
    frames: u64,
    has_epoch: bool,
    epoch_min: u64,
    epoch_max: u64,
}

struct Outcome {
    stop_pos: u64,
    stop_reason: Option<String>,
    dropped_frames: u64,
    corrupt: bool,
    valid_after_end: bool,
    /// Why what was cut is known never to have been synced, when it is.
    never_synced: Option<String>,
}

/// Sequential reader over the valid ranges of the log.
struct Scanner<'a> {
    segs: Vec<&'a Segment>,
    capsules: Vec<&'a Segment>,
    /// End of valid data in each segment (a later restart may void a tail).
    valid_end: Vec<u64>,
    db_id: u64,
    page_size: u32,
    buf: Vec<u8>,
    buf_start: u64,
    scratch: Vec<u8>,
    bytes_read: u64,
    kept: Vec<Kept>,
    /// The current boot's tag (see `Storage::boot_tag`).
    boot_tag: u32,
    /// Stop once this commit is replayed (catching up to a published tip,
    /// past which another process may be writing right now).
    stop_after: Option<CommitSeq>,
    /// Look past the end for evidence (recovery, or after a writer died);
    /// false when the log is known to end cleanly where frames stop.
    judge_tail: bool,
    chunk: usize,
    /// Chunks a reader thread reads ahead (recovery only).
    prefetch: Option<Prefetched>,
    /// The segment `buf` came from (`usize::MAX`: unknown).
    buf_seg: usize,
    /// See [`Scanner::first_candidate`].
    cursor: std::cell::Cell<usize>,
    cursor_pos: std::cell::Cell<u64>,
    /// Each segment's window ends before the next one's begins (always,
    /// unless files were tampered with): only then may the cursor skip.
    disjoint: bool,
    /// Only the log before this offset is known durable (see [`scan`]).
    durable_limit: Option<u64>,
}

impl<'a> Scanner<'a> {
    fn new(
        segs: Vec<&'a Segment>,
        capsules: Vec<&'a Segment>,
        db_id: u64,
        page_size: u32,
        boot_tag: u32,
    ) -> Scanner<'a> {
        // Only what a file holds is scanned, however large a window its
        // header claims. A failed stat keeps the window: every read past
        // it stats again and reports the failure.
        let mut valid_end: Vec<u64> = segs
            .iter()
            .map(|s| s.held_end().unwrap_or_else(|_| s.window_end()))
            .collect();
        let kept = vec![Kept::default(); segs.len()];
        let disjoint = segs
            .windows(2)
            .all(|w| w[0].window_end() <= w[1].header.log_start);
        let mut min_resume = u64::MAX;
        for i in (0..segs.len()).rev() {
            valid_end[i] = valid_end[i].min(min_resume).max(segs[i].header.log_start);
            min_resume = min_resume.min(segs[i].header.resume_offset);
        }
        Scanner {
            segs,
            capsules,
            valid_end,
            db_id,
            page_size,
            buf: Vec::new(),
            buf_start: 0,
            scratch: Vec::new(),
            bytes_read: 0,
            kept,
            boot_tag,
            stop_after: None,
            judge_tail: true,
            chunk: SCAN_CHUNK_BYTES,
            prefetch: None,
            buf_seg: usize::MAX,
            cursor: std::cell::Cell::new(0),
            cursor_pos: std::cell::Cell::new(0),
            disjoint,
            durable_limit: None,
        }
    }

    /// True when a commit ending at `end` lies past what a failed sync
    /// left known durable.
    fn past_durable_limit(&self, end: u64) -> bool {
        self.durable_limit.is_some_and(|limit| end > limit)
    }

    /// Where a search over the segments for `pos` may start. The scan
    /// moves forward, and a segment passed for one position is passed for
    /// every later one, so each frame costs O(1) instead of a walk over
    /// all segments; a position behind the last one starts over.
    fn first_candidate(&self, pos: u64) -> usize {
        if !self.disjoint || pos < self.cursor_pos.get() {
            self.cursor.set(0);
        }
        self.cursor_pos.set(pos);
        self.cursor.get()
    }

    fn index_of(&self, pos: u64) -> Option<usize> {
        let from = self.first_candidate(pos);
        match self.segs[from..].iter().position(|s| s.contains(pos)) {
            Some(i) => {
                self.cursor.set(from + i);
                Some(from + i)
            }
            // Past the last window: attribute to the last segment.
            None => self.segs.len().checked_sub(1),
        }
    }

    /// Moves `pos` over a void (the abandoned tail before a restart) to
    /// where data continues; `None` at the end of the log.
    fn normalize(&self, pos: u64) -> Option<u64> {
        let from = self.first_candidate(pos);
        for (i, s) in self.segs.iter().enumerate().skip(from) {
            if self.valid_end[i] <= s.header.log_start {
                // Wholly void: a spare a writer prepared before it died,
                // abandoned by the restart segment that follows.
                continue;
            }
            if pos < s.header.log_start {
                return Some(s.header.log_start);
            }
            if pos < self.valid_end[i] {
                self.cursor.set(i);
                return Some(pos);
            }
        }
        None
    }

    /// `len` bytes at `pos`, if all of them lie in valid, present data.
    fn fetch(&mut self, pos: u64, len: usize) -> Result<Option<&[u8]>> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos + len as u64 <= buf_end {
            let at = (pos - self.buf_start) as usize;
            return Ok(Some(&self.buf[at..at + len]));
        }
        if let Some(in_scratch) = self.serve_prefetched(pos, len) {
            if in_scratch {
                return Ok(Some(&self.scratch));
            }
            let at = (pos - self.buf_start) as usize;
            return Ok(Some(&self.buf[at..at + len]));
        }
        let Some(i) = self.segs.iter().position(|s| s.contains(pos)) else {
            return Ok(None);
        };
        if pos + len as u64 <= self.valid_end[i] {
            let seg = &self.segs[i];
            let want = (self.valid_end[i] - pos).min(self.chunk.max(len) as u64) as usize;
            let avail = self.present(i, pos, want)?;
            if avail < len {
                return Ok(None);
            }
            self.buf.resize(avail, 0);
            seg.file
                .read_at(&mut self.buf, seg.file_offset(pos))
                .map_err(|e| Error::io("read segment", &seg.path, e))?;
            self.bytes_read += avail as u64;
            self.buf_start = pos;
            self.buf_seg = i;
            return Ok(Some(&self.buf[..len]));
        }
        // Spans into the next segment: only if it continues the log here.
        if self.valid_end[i] != self.segs[i].window_end() || i + 1 >= self.segs.len() {
            return Ok(None);
        }
        let first = (self.valid_end[i] - pos) as usize;
        let mut out = vec![0u8; len];
        let parts = [(i, pos, 0..first), (i + 1, self.valid_end[i], first..len)];
        for (j, at, range) in parts {
            let n = range.len();
            if at + n as u64 > self.valid_end[j] || self.present(j, at, n)? < n {
                return Ok(None);
            }
            let seg = &self.segs[j];
            seg.file
                .read_at(&mut out[range], seg.file_offset(at))
                .map_err(|e| Error::io("read segment", &seg.path, e))?;
            self.bytes_read += n as u64;
        }
        self.scratch = out;
        Ok(Some(&self.scratch))
    }

    /// Serves `len` bytes at `pos` from the chunks read ahead: Some(false)
    /// when they are now in `buf`, Some(true) when in `scratch` (a frame
    /// across two chunks of one segment), None when the scan must read
    /// them itself.
    fn serve_prefetched(&mut self, pos: u64, len: usize) -> Option<bool> {
        if !self.disjoint {
            // Chunks name their segment; with overlapping windows the scan
            // must pick the segment itself.
            return None;
        }
        let end = pos + len as u64;
        let pf = self.prefetch.as_mut()?;
        let c = pf.upcoming(pos)?;
        if c.pos <= pos && end <= c.end() {
            let c = pf.take().expect("upcoming");
            self.bytes_read += c.bytes.len() as u64;
            let old = std::mem::replace(&mut self.buf, c.bytes);
            pf.recycle(old);
            (self.buf_start, self.buf_seg) = (c.pos, c.seg);
            return Some(false);
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        let straddles = c.seg == self.buf_seg
            && c.pos == buf_end
            && (self.buf_start..buf_end).contains(&pos)
            && end <= c.end();
        if !straddles {
            return None;
        }
        let c = pf.take().expect("upcoming");
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buf[(pos - self.buf_start) as usize..]);
        out.extend_from_slice(&c.bytes[..(end - c.pos) as usize]);
        self.bytes_read += c.bytes.len() as u64;
        let old = std::mem::replace(&mut self.buf, c.bytes);
        pf.recycle(old);
        (self.buf_start, self.buf_seg) = (c.pos, c.seg);
        self.scratch = out;
        Some(true)
    }

    /// How many of `want` bytes at `pos` the segment file actually holds
    /// (a file may have been truncated).
    fn present(&self, i: usize, pos: u64, want: usize) -> Result<usize> {
        let seg = &self.segs[i];
        let flen = seg
            .file
            .len()
            .map_err(|e| Error::io("stat segment", &seg.path, e))?;
        let off = seg.file_offset(pos);
        Ok(flen.saturating_sub(off).min(want as u64) as usize)
    }

    fn frame_at(&mut self, pos: u64) -> Result<Option<(FrameHeader, u32)>> {
        let db_id = self.db_id;
        let Some(bytes) = self.fetch(pos, FRAME_HEADER_BYTES)? else {
            return Ok(None);
        };
        let Some(h) = FrameHeader::decode(db_id, pos, bytes) else {
            return Ok(None);
        };
        let arr: &[u8; FRAME_HEADER_BYTES] = bytes.try_into().expect("header size");
        Ok(Some((h, FrameHeader::stored_crc(arr))))
    }

    fn payload_ok(&mut self, h: &FrameHeader) -> Result<Option<Vec<u8>>> {
        let at = h.log_offset + FRAME_HEADER_BYTES as u64;
        let crc = h.payload_crc;
        let keep = matches!(h.kind, FrameKind::Commit | FrameKind::Marker);
        match self.fetch(at, h.payload_len as usize)? {
            Some(p) if crc32c(p) == crc => Ok(Some(if keep { p.to_vec() } else { Vec::new() })),
            _ => Ok(None),
        }
    }

    fn replay(&mut self, start: u64, checkpoint_seq: CommitSeq, out: &mut Replay) -> Outcome {
        match self.replay_inner(start, checkpoint_seq, out) {
            Ok(o) => o,
            Err(e) => Outcome {
                stop_pos: out.end,
                stop_reason: Some(e.to_string()),
                dropped_frames: 0,
                corrupt: true,
                valid_after_end: false,
                never_synced: None,
            },
        }
    }

    fn replay_inner(
        &mut self,
        start: u64,
        checkpoint_seq: CommitSeq,
        out: &mut Replay,
    ) -> Result<Outcome> {
        let mut pos = start;
        let mut commit_start = start;
        let mut expected = checkpoint_seq + 1;
        let mut pending: Vec<(Record, usize)> = Vec::new();
        let mut frames_crc = 0u32;
        let mut capsule_damaged = false;
        let mut cut_at_limit = false;
        let stop_reason: Option<String>;
        loop {
            if self.stop_after.is_some_and(|t| expected > t) {
                // Reached the target; nothing past it is looked at.
                return Ok(Outcome {
                    stop_pos: pos,
                    stop_reason: None,
                    dropped_frames: 0,
                    corrupt: false,
                    valid_after_end: false,
                    never_synced: None,
                });
            }
            let Some(p) = self.normalize(pos) else {
                stop_reason = (!pending.is_empty()).then(|| "log ends inside a commit".to_string());
                break;
            };
            if p != pos && !pending.is_empty() {
                stop_reason = Some("commit runs into abandoned log space".into());
                break;
            }
            if p != pos {
                commit_start = p;
            }
            pos = p;
            let Some((h, hcrc)) = self.frame_at(pos)? else {
                stop_reason = Some(format!("no valid frame at log offset {pos}"));
                break;
            };
            if let Some(limit) = self
                .durable_limit
                .filter(|_| self.past_durable_limit(pos + h.frame_len()))
            {
                stop_reason = Some(format!(
                    "commit {expected} runs past log offset {limit}, the end of what was durable when a sync failed"
                ));
                cut_at_limit = true;
                break;
            }
            if h.commit_seq != expected && !matches!(h.kind, FrameKind::Seal | FrameKind::Void) {
                stop_reason = Some(format!(
                    "frame of commit {} where {expected} was due",
                    h.commit_seq
                ));
                break;
            }
            if h.kind == FrameKind::Void && h.commit_seq + 1 == expected && pending.is_empty() {
                // Padding over a failed commit whose seq was handed on.
                let seg_i = self.index_of(pos).unwrap_or(0);
                self.keep(seg_i, None);
                pos += h.frame_len();
                commit_start = pos;
                out.end = pos;
                continue;
            }
            if h.kind == FrameKind::Void {
                // An empty commit standing in for one whose write failed.
                if !pending.is_empty() {
                    stop_reason = Some(format!("misplaced void at log offset {pos}"));
                    break;
                }
                let end = pos + h.frame_len();
                out.ends.push((h.commit_seq, end));
                out.last_seq = h.commit_seq;
                out.end = end;
                out.report.commits_recovered += 1;
                let seg_i = self.index_of(pos).unwrap_or(0);
                self.keep(seg_i, None);
                expected += 1;
                commit_start = end;
                pos = end;
                continue;
            }
            if h.kind == FrameKind::Page && h.payload_len > self.page_size {
                stop_reason = Some(format!("page {} image larger than a page", h.pgno));
                break;
            }
            let Some(payload) = self.payload_ok(&h)? else {
                stop_reason = Some(format!("payload checksum mismatch at log offset {pos}"));
                break;
            };
            let seg_i = self.index_of(pos).unwrap_or(0);
            if h.kind == FrameKind::Seal {
                // A seal vouches for what came before; it sits between commits.
                if !pending.is_empty() || h.commit_seq + 1 != expected {
                    stop_reason = Some(format!("misplaced seal at log offset {pos}"));
                    break;
                }
                self.keep(seg_i, None);
                pos += h.frame_len();
                commit_start = pos;
                out.end = pos;
                continue;
            }
            match h.kind {
                FrameKind::Seal | FrameKind::Void => unreachable!("handled above"),
                FrameKind::Marker => {
                    let marker = MarkerPayload::decode(&payload)
                        .filter(|m| pending.is_empty() && m.commit.first_frame_offset == pos);
                    let Some(m) = marker else {
                        stop_reason = Some(format!("bad marker at log offset {pos}"));
                        break;
                    };
                    let capsules = &self.capsules;
                    let entries = capsule::verify(
                        self.db_id,
                        m.capsule_offset,
                        m.capsule_len,
                        h.pgno,
                        &m.digest,
                        self.page_size,
                        |off, buf| read_segments(capsules, off, buf),
                    )?;
                    let Some(entries) = entries.filter(|e| e.len() == h.pgno as usize) else {
                        stop_reason = Some(format!(
                            "capsule of commit {} at capsule offset {} fails verification",
                            h.commit_seq, m.capsule_offset
                        ));
                        // The marker was written only after its capsule was
                        // synced: a capsule that does not verify was damaged.
                        capsule_damaged = m.capsule_synced();
                        break;
                    };
                    for e in entries {
                        let data = match e.image {
                            Some((log_offset, len, crc)) => VersionData::Logged {
                                stream: Stream::Capsule,
                                log_offset,
                                len,
                                crc,
                            },
                            None => VersionData::Deleted,
                        };
                        out.records.push(Record {
                            pgno: e.pgno,
                            seq: h.commit_seq,
                            data,
                        });
                        out.report.records_applied += 1;
                    }
                    let end = pos + h.frame_len();
                    self.keep(seg_i, Some(m.commit.epoch));
                    out.capsules.push((m.capsule_offset, h.commit_seq));
                    out.relaxed_capsules |= !m.capsule_synced();
                    out.capsules_end = out.capsules_end.max(m.capsule_offset + m.capsule_len);
                    out.ends.push((h.commit_seq, end));
                    out.last_seq = h.commit_seq;
                    out.end = end;
                    out.last_epoch = out.last_epoch.max(m.commit.epoch);
                    out.report.commits_recovered += 1;
                    expected += 1;
                    commit_start = end;
                    pos = end;
                    continue;
                }
                FrameKind::Page | FrameKind::Delete => {
                    frames_crc = chain_frame_crc(frames_crc, hcrc);
                    let data = if h.kind == FrameKind::Page {
                        VersionData::Logged {
                            stream: Stream::Wal,
                            log_offset: pos + FRAME_HEADER_BYTES as u64,
                            len: h.payload_len,
                            crc: h.payload_crc,
                        }
                    } else {
                        VersionData::Deleted
                    };
                    pending.push((
                        Record {
                            pgno: h.pgno,
                            seq: h.commit_seq,
                            data,
                        },
                        seg_i,
                    ));
                }
                FrameKind::Commit => {
                    let Some(c) = CommitPayload::decode(&payload) else {
                        stop_reason = Some(format!("bad commit record at log offset {pos}"));
                        break;
                    };
                    if c.first_frame_offset != commit_start
                        || h.pgno as usize != pending.len()
                        || c.frames_crc != frames_crc
                    {
                        stop_reason =
                            Some(format!("commit {} does not match its frames", h.commit_seq));
                        break;
                    }
                    let end = pos + h.frame_len();
                    for (rec, si) in pending.drain(..) {
                        self.keep(si, Some(c.epoch));
                        out.records.push(rec);
                        out.report.records_applied += 1;
                    }
                    self.keep(seg_i, Some(c.epoch));
                    out.ends.push((h.commit_seq, end));
                    out.last_seq = h.commit_seq;
                    out.end = end;
                    out.last_epoch = out.last_epoch.max(c.epoch);
                    out.report.commits_recovered += 1;
                    expected += 1;
                    frames_crc = 0;
                    commit_start = end;
                    pos = end;
                    continue;
                }
            }
            pos += h.frame_len();
        }
        let dropped_frames = pending.len() as u64;
        if cut_at_limit {
            // Nothing past the limit can vouch for anything: durability
            // claimed after the failed sync may rest on dropped pages. The
            // frames there stay, voided by the restart segment.
            return Ok(Outcome {
                stop_pos: pos,
                stop_reason,
                dropped_frames,
                corrupt: false,
                valid_after_end: true,
                never_synced: Some("a sync of the log failed in this boot".into()),
            });
        }
        let evidence = if self.judge_tail {
            self.evidence_after(out.end, expected)?
        } else {
            Evidence::default()
        };
        let never_synced = (!evidence.durable && evidence.written_in_boot).then(|| {
            format!(
                "commit {expected} was written in this boot but never synced, and its bytes are gone (lost without a reboot)"
            )
        });
        Ok(Outcome {
            stop_pos: pos,
            stop_reason,
            dropped_frames,
            corrupt: evidence.durable || capsule_damaged,
            valid_after_end: evidence.any_valid,
            never_synced,
        })
    }

    /// Counts a kept frame of segment `i`; commit records and markers
    /// also widen its epoch range (seals and voids carry no epoch).
    fn keep(&mut self, i: usize, epoch: Option<u64>) {
        let k = &mut self.kept[i];
        if let Some(epoch) = epoch {
            k.epoch_min = if k.has_epoch {
                k.epoch_min.min(epoch)
            } else {
                epoch
            };
            k.epoch_max = k.epoch_max.max(epoch);
            k.has_epoch = true;
        }
        k.frames += 1;
    }

    /// Looks past the end of the replayed prefix for what later frames
    /// say about commit `missing`, the first one not replayed.
    fn evidence_after(&mut self, end: u64, missing: CommitSeq) -> Result<Evidence> {
        let mut q = end;
        let mut ev = Evidence::default();
        while let Some(p) = self.normalize(q) {
            q = p;
            if self.durable_limit.is_some_and(|limit| q >= limit) {
                break;
            }
            match self.frame_at(q)? {
                Some((h, _)) => {
                    ev.any_valid = true;
                    if h.kind == FrameKind::Seal && h.commit_seq >= missing {
                        ev.durable = true;
                        return Ok(ev);
                    }
                    if matches!(h.kind, FrameKind::Commit | FrameKind::Marker) {
                        if let Some(payload) = self.payload_ok(&h)? {
                            let c = if h.kind == FrameKind::Commit {
                                CommitPayload::decode(&payload)
                            } else {
                                MarkerPayload::decode(&payload).map(|m| m.commit)
                            };
                            if let Some(c) = c {
                                if c.vouches_for(missing, self.boot_tag) {
                                    ev.durable = true;
                                    return Ok(ev);
                                }
                                ev.written_in_boot |= c.saw_written_in_boot(missing, self.boot_tag);
                            }
                        }
                    }
                    q += h.frame_len();
                }
                None => q += FRAME_ALIGN_BYTES,
            }
        }
        Ok(ev)
    }
}

/// What the frames past the end of a replayed prefix say about the first
/// commit missing there.
#[derive(Default)]
struct Evidence {
    /// A later commit (or a seal) proves it was synced: corruption.
    durable: bool,
    /// A later commit saw it written in this boot (not proof: unsynced
    /// bytes can vanish within a boot), so the cut names that.
    written_in_boot: bool,
    /// Any valid frame lies past the end.
    any_valid: bool,
}

/// Recovers the closed database at `path` offline: replays its log into
/// the main file and reports what it found. See [`RecoveryOptions`].
pub fn recover(path: impl AsRef<Path>, options: RecoveryOptions) -> Result<RecoveryReport> {
    let path = path.as_ref();
    let storage = Arc::clone(&options.storage);
    let lease = crate::registry::exclusive_offline(&storage, path)?;
    let page_size = MainFile::probe_page_size(&storage, path)?;
    let main = MainFile::open(&storage, path, page_size, false)?;
    let header = main.header();
    let limit = lease.failure_limit(header.db_id, storage.boot_tag());
    let replay = scan(&storage, path, &header, true, limit)?;
    if let Some(c) = &replay.corruption {
        if !options.skip_corrupt {
            return Err(Error::Corrupt(format!("{}: {}", path.display(), c.reason)));
        }
    }
    let mut report = replay.report.clone();
    // The durable prefix into the main file first: only then may segments
    // be renamed or deleted.
    let by_page = newest_per_page(&replay.records);
    let segs = &replay.segments;
    let first_bad = replay
        .corruption
        .as_ref()
        .map_or(segs.len(), |c| c.first_bad);
    // The corrupt segment's good prefix was replayed too; placeholders for
    // unreadable headers are never reached by a replayed record.
    let reader = SegmentsReader {
        wal: segs,
        capsules: &replay.capsule_segments,
    };
    if replay.last_seq > header.checkpoint_seq {
        main.checkpoint(
            by_page.into_iter().map(|(pgno, data)| {
                Ok((
                    pgno,
                    match data {
                        VersionData::Deleted => CheckpointPage::Delete,
                        VersionData::Inline(p) => CheckpointPage::Write(p),
                        VersionData::Logged {
                            stream,
                            log_offset,
                            len,
                            crc,
                        } => CheckpointPage::Write(reader.read(stream, log_offset, len, crc)?),
                    },
                ))
            }),
            replay.last_seq,
            replay.end,
        )?;
    }
    let dir = parent_dir(path);
    let mut changed_dir = false;
    // Newest first: a crash part-way leaves a prefix of the log, which
    // opens, never a later segment without the ones before it.
    for (i, seg) in segs.iter().enumerate().rev() {
        if i >= first_bad {
            let mut to = seg.path.clone().into_os_string();
            to.push(CORRUPT_SUFFIX);
            storage
                .rename(&seg.path, Path::new(&to))
                .map_err(|e| Error::io("set aside corrupt segment", &seg.path, e))?;
            changed_dir = true;
        } else if options.delete_after {
            storage
                .remove(&seg.path)
                .map_err(|e| Error::io("remove replayed segment", &seg.path, e))?;
            changed_dir = true;
        }
    }
    if options.delete_after {
        for p in replay.stale.iter().chain(&replay.tmp) {
            storage
                .remove(p)
                .map_err(|e| Error::io("remove segment", p, e))?;
            changed_dir = true;
        }
    }
    if changed_dir {
        storage
            .sync_dir(&dir)
            .map_err(|e| Error::io("sync directory", &dir, e))?;
    }
    report.last_commit_seq = replay.last_seq;
    Ok(report)
}

/// The newest record of each page, sorted by page.
pub fn newest_per_page(records: &[Record]) -> Vec<(Pgno, VersionData)> {
    let mut newest: std::collections::BTreeMap<Pgno, (CommitSeq, &VersionData)> =
        Default::default();
    for r in records {
        let e = newest.entry(r.pgno).or_insert((r.seq, &r.data));
        if r.seq >= e.0 {
            *e = (r.seq, &r.data);
        }
    }
    newest
        .into_iter()
        .map(|(p, (_, d))| (p, d.clone()))
        .collect()
}

/// Reads `buf.len()` bytes at `offset` of a stream from its segments
/// (sorted by log_start); false when some of them are not there.
pub fn read_segments<S: std::borrow::Borrow<Segment>>(
    segs: &[S],
    offset: u64,
    buf: &mut [u8],
) -> Result<bool> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset + done as u64;
        let i = segs.partition_point(|s| s.borrow().window_end() <= at);
        let Some(seg) = segs.get(i).map(|s| s.borrow()).filter(|s| s.contains(at)) else {
            return Ok(false);
        };
        let n = ((seg.window_end() - at) as usize).min(buf.len() - done);
        match seg
            .file
            .read_at(&mut buf[done..done + n], seg.file_offset(at))
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(Error::io("read segment", &seg.path, e)),
        }
        done += n;
    }
    Ok(true)
}

/// Reads verified images straight from scanned segments.
struct SegmentsReader<'a> {
    wal: &'a [Segment],
    capsules: &'a [Segment],
}

impl SegmentsReader<'_> {
    fn read(
        &self,
        stream: Stream,
        log_offset: u64,
        len: u32,
        crc: u32,
    ) -> Result<crate::types::Page> {
        let segs = match stream {
            Stream::Wal => self.wal,
            Stream::Capsule => self.capsules,
        };
        let mut out = vec![0u8; len as usize];
        if !read_segments(segs, log_offset, &mut out)? || crc32c(&out) != crc {
            return Err(Error::corrupt(format!(
                "{stream:?} stream offset {log_offset}: image missing or failing its checksum"
            )));
        }
        Ok(out.into())
    }
}

const _: () = assert!(SEGMENT_HEADER_BLOCK_BYTES % FRAME_ALIGN_BYTES == 0);
