//! Read-only inspection of a database's files, for operators and tools
//! (`lcctl info`, `verify`, `dump`). Nothing here writes, takes the writer
//! lock, or needs the database closed: it reads what is on disk.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::capsule;
use crate::error::{Error, Result};
use crate::format::{
    FrameHeader, FrameKind, MainHeader, FRAME_ALIGN_BYTES, FRAME_HEADER_BYTES,
    MAIN_HEADER_BLOCK_BYTES, MAIN_HEADER_BYTES, MAIN_HEADER_COPIES, SEGMENT_HEADER_BLOCK_BYTES,
};
use crate::mainfile::MainFile;
use crate::mvcc::VersionData;
use crate::recovery;
use crate::storage::{RealStorage, Storage};
use crate::types::{CommitSeq, RecoveryReport};
use crate::wal::{read_image, read_segments, walk_frames, FrameSource, Segment, Stream};

pub use crate::shm::{now_ms, ShmState, SlotInfo};

/// One segment file as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// The epoch in its name (`{path}-wal-seg-{first_epoch:016x}`).
    pub first_epoch: u64,
    /// The logical log offset of its first byte.
    pub log_start: u64,
    /// Log bytes it can hold.
    pub capacity: u64,
    /// Where appending would resume (the end of its valid frames).
    pub resume_offset: u64,
    /// The file's size on disk.
    pub file_bytes: u64,
}

/// What a database's files say about it.
#[derive(Clone, Debug)]
pub struct DatabaseInfo {
    /// The main file.
    pub path: PathBuf,
    /// The page size fixed at creation, in bytes.
    pub page_size: u32,
    /// The id fixed at creation; every frame carries it.
    pub db_id: u64,
    /// Checkpoints made so far (the main header's generation).
    pub generation: u64,
    /// Every commit <= this is in the main file.
    pub checkpoint_seq: CommitSeq,
    /// Pages stored in the main file.
    pub main_pages: u64,
    /// The main file's size on disk.
    pub main_file_bytes: u64,
    /// WAL segments still needed (past the checkpoint), in log order.
    pub segments: Vec<SegmentInfo>,
    /// NATIVE mode's capsule segments still needed, in log order.
    pub capsule_segments: Vec<SegmentInfo>,
    /// What opening the database now would replay (a dry run).
    pub recovery: RecoveryReport,
    /// Set when opening now would fail with Corrupt.
    pub corruption: Option<String>,
    /// The last commit of the recoverable prefix: what opening now would
    /// reach (commits past a corruption are not counted).
    pub last_commit_seq: CommitSeq,
    /// What `{path}-shm` says about the processes sharing the database;
    /// None when there is no such file (never opened with shared storage).
    pub shared: Option<SharedInfo>,
}

/// The published state and process slots of `{path}-shm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedInfo {
    /// What the processes publish to each other: watermarks, lease, boot.
    pub state: ShmState,
    /// Slots of attached processes (and of dead ones not yet reclaimed).
    pub slots: Vec<SlotInfo>,
}

fn shared_info(storage: &Arc<dyn Storage>, path: &Path) -> Result<Option<SharedInfo>> {
    let shm_path = crate::shm::shm_path(path);
    if !storage
        .exists(&shm_path)
        .map_err(|e| Error::io("stat shared-memory file", &shm_path, e))?
    {
        return Ok(None);
    }
    Ok(crate::shm::Shm::open(storage, path)?.map(|shm| SharedInfo {
        state: shm.state(),
        slots: shm.slots(),
    }))
}

/// What `{path}-replica` says about the database's replica shipper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaFileStatus {
    /// The shipper's status when it last wrote the file; the age of the
    /// oldest unshipped commit is brought up to now.
    pub status: crate::replica::ReplicaStatus,
    /// When it was written (ms since the Unix epoch).
    pub updated_ms: u64,
    /// True while a process holds the shipper role; false means the
    /// status is what the last shipper left.
    pub shipper_alive: bool,
}

/// The replica status the shipping process of `path` publishes; None when
/// no shipper ever ran there.
pub fn replica_status(path: impl AsRef<Path>) -> Result<Option<ReplicaFileStatus>> {
    let storage: Arc<dyn Storage> = Arc::new(RealStorage);
    let path = path.as_ref();
    let Some((mut status, updated_ms)) = crate::replica::read_status(storage.as_ref(), path)?
    else {
        return Ok(None);
    };
    if status.lag_commits > 0 {
        status.oldest_unshipped_ms += now_ms().saturating_sub(updated_ms);
    }
    let shm_path = crate::shm::shm_path(path);
    let shm_exists = storage
        .exists(&shm_path)
        .map_err(|e| Error::io("stat shared-memory file", &shm_path, e))?;
    let shm = if shm_exists {
        crate::shm::Shm::open(&storage, path)?
    } else {
        None
    };
    let shipper_alive = match shm {
        Some(shm) => shm.shipper_alive()?,
        None => false,
    };
    Ok(Some(ReplicaFileStatus {
        status,
        updated_ms,
        shipper_alive,
    }))
}

fn segment_info(s: &Segment) -> SegmentInfo {
    SegmentInfo {
        path: s.path.clone(),
        first_epoch: s.header.first_epoch,
        log_start: s.header.log_start,
        capacity: s.header.capacity,
        resume_offset: s.header.resume_offset,
        file_bytes: s.file.len().unwrap_or(0),
    }
}

fn open_main(storage: &Arc<dyn Storage>, path: &Path) -> Result<MainFile> {
    let page_size = MainFile::probe_page_size(storage, path)?;
    MainFile::open(storage, path, page_size, true)
}

/// Describes the database at `path` from its files.
///
/// ```
/// use libcommit::{inspect, Database, Options, PageWrite};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// let db = Database::open(&path, Options::default())?;
/// db.commit_batch(&[PageWrite::put(1, b"a")])?;
/// db.close()?;
/// let info = inspect::info(&path)?;
/// assert_eq!((info.page_size, info.last_commit_seq), (4096, 1));
/// assert!(info.corruption.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn info(path: impl AsRef<Path>) -> Result<DatabaseInfo> {
    info_with(&(Arc::new(RealStorage) as Arc<dyn Storage>), path.as_ref())
}

/// [`info`] through a given storage.
pub fn info_with(storage: &Arc<dyn Storage>, path: &Path) -> Result<DatabaseInfo> {
    let main = open_main(storage, path)?;
    let h = main.header();
    let replay = recovery::scan(storage, path, &h, false, None)?;
    let main_file_bytes = storage
        .open(path, crate::storage::OpenMode::ReadOnly)
        .and_then(|f| f.len())
        .map_err(|e| Error::io("stat main file", path, e))?;
    Ok(DatabaseInfo {
        path: path.to_path_buf(),
        page_size: h.page_size,
        db_id: h.db_id,
        generation: h.generation,
        checkpoint_seq: h.checkpoint_seq,
        main_pages: main.page_count(),
        main_file_bytes,
        segments: replay.segments.iter().map(segment_info).collect(),
        capsule_segments: replay.capsule_segments.iter().map(segment_info).collect(),
        corruption: replay.corruption.as_ref().map(|c| c.reason.clone()),
        last_commit_seq: replay.last_seq,
        recovery: replay.report,
        shared: shared_info(storage, path)?,
    })
}

/// A unit that failed its check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadUnit {
    /// The file it is in.
    pub file: PathBuf,
    /// Byte offset in `file` (0 when the whole file is meant).
    pub offset: u64,
    /// What the unit is and what failed.
    pub what: String,
}

/// What [`verify`] checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Headers, map, pages, frames, capsules and images checked.
    pub units_checked: u64,
    /// Bytes those units cover.
    pub bytes_checked: u64,
    /// A torn tail was found (normal after a crash; not an error).
    pub torn_tail: bool,
    /// Every unit that failed its check.
    pub bad: Vec<BadUnit>,
}

impl VerifyReport {
    /// True when no unit failed.
    pub fn clean(&self) -> bool {
        self.bad.is_empty()
    }
}

/// Checks every checksum of the database at `path`: both main headers,
/// the page map, every checkpointed page, every segment header, every
/// frame and capsule recovery would replay, and every image they name.
/// `progress(done, total)` is called as pages are checked.
///
/// ```
/// use libcommit::{inspect, Database, Options, PageWrite};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// let db = Database::open(&path, Options::default())?;
/// db.commit_batch(&[PageWrite::put(1, b"a")])?;
/// db.checkpoint()?;
/// db.close()?;
/// let report = inspect::verify(&path, &mut |_done, _total| {})?;
/// assert!(report.clean() && report.units_checked > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify(path: impl AsRef<Path>, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
    verify_with(
        &(Arc::new(RealStorage) as Arc<dyn Storage>),
        path.as_ref(),
        progress,
    )
}

/// [`verify`] through a given storage.
pub fn verify_with(
    storage: &Arc<dyn Storage>,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    verify_header_copies(storage, path, &mut report)?;
    let main = match open_main(storage, path) {
        Ok(m) => m,
        Err(Error::Corrupt(why)) => {
            report.bad.push(BadUnit {
                file: path.to_path_buf(),
                offset: 0,
                what: why,
            });
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.units_checked += 1; // the page map, verified by open
    let pages = main.pgnos();
    let h = main.header();
    let replay = recovery::scan(storage, path, &h, false, None)?;
    let mut ticks = Ticks {
        done: 0,
        total: pages.len() as u64 + replay.records.len() as u64,
        progress,
    };
    for pgno in pages {
        report.units_checked += 1;
        match main.read(pgno) {
            Ok(Some(p)) => report.bytes_checked += p.len() as u64,
            Ok(None) => {}
            Err(Error::Corrupt(why)) => report.bad.push(BadUnit {
                file: path.to_path_buf(),
                offset: main.slot_offset_of(pgno).unwrap_or(0),
                what: why,
            }),
            Err(e) => return Err(e),
        }
        ticks.tick();
    }
    verify_log(&replay, path, &mut report);
    for r in &replay.records {
        verify_logged_image(&replay, r, path, &mut report)?;
        ticks.tick();
    }
    (ticks.progress)(ticks.total, ticks.total);
    Ok(report)
}

/// Progress of a verify, reported every so many units.
struct Ticks<'a> {
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl Ticks<'_> {
    /// Units between two progress reports.
    const EVERY: u64 = 1024;

    fn tick(&mut self) {
        self.done += 1;
        if self.done % Self::EVERY == 0 {
            (self.progress)(self.done, self.total);
        }
    }
}

/// Both main-header copies: each must be valid or never written (zero).
fn verify_header_copies(
    storage: &Arc<dyn Storage>,
    path: &Path,
    report: &mut VerifyReport,
) -> Result<()> {
    let file = storage
        .open(path, crate::storage::OpenMode::ReadOnly)
        .map_err(|e| Error::io("open main file", path, e))?;
    for copy in 0..MAIN_HEADER_COPIES {
        let mut buf = [0u8; MAIN_HEADER_BYTES];
        let at = copy * MAIN_HEADER_BLOCK_BYTES;
        report.units_checked += 1;
        report.bytes_checked += MAIN_HEADER_BYTES as u64;
        if file.read_at(&mut buf, at).is_err() || buf.iter().all(|&b| b == 0) {
            continue;
        }
        if let Err(why) = MainHeader::decode(&buf) {
            report.bad.push(BadUnit {
                file: path.to_path_buf(),
                offset: at,
                what: format!("main header copy {copy}: {why}"),
            });
        }
    }
    Ok(())
}

/// What the scan of the log found: frames kept, segments dropped (a torn
/// tail is clean), corruption.
fn verify_log(replay: &recovery::Replay, path: &Path, report: &mut VerifyReport) {
    report.bytes_checked += replay.report.bytes_read;
    report.units_checked += replay
        .report
        .segments
        .iter()
        .map(|s| s.frames_kept)
        .sum::<u64>();
    // Where a bad frame sits in its segment file, when a frame is what failed.
    let bad_frame_at = replay.corruption.as_ref().and_then(|c| {
        let pos = c.log_offset?;
        let seg = replay.segments.iter().find(|s| s.contains(pos))?;
        Some((seg.path.clone(), seg.file_offset(pos)))
    });
    for s in &replay.report.segments {
        match &s.dropped {
            None => {}
            Some(crate::types::DropReason::TornTail) => report.torn_tail = true,
            Some(why) => {
                let offset = match &bad_frame_at {
                    Some((p, off)) if *p == s.path => *off,
                    _ => 0,
                };
                report.bad.push(BadUnit {
                    file: s.path.clone(),
                    offset,
                    what: why.to_string(),
                });
            }
        }
    }
    if let Some(c) = &replay.corruption {
        if report.bad.is_empty() {
            let file = replay
                .segments
                .get(c.first_bad)
                .map_or_else(|| path.to_path_buf(), |s| s.path.clone());
            report.bad.push(BadUnit {
                file,
                offset: 0,
                what: c.reason.clone(),
            });
        }
    }
}

/// The image a replayed record names, read back and checked.
fn verify_logged_image(
    replay: &recovery::Replay,
    r: &recovery::Record,
    path: &Path,
    report: &mut VerifyReport,
) -> Result<()> {
    let VersionData::Logged {
        stream,
        log_offset,
        len,
        crc,
    } = r.data
    else {
        return Ok(());
    };
    let segs = match stream {
        Stream::Wal => &replay.segments,
        Stream::Capsule => &replay.capsule_segments,
    };
    report.units_checked += 1;
    report.bytes_checked += u64::from(len);
    if read_image(len, crc, |buf| read_segments(segs, log_offset, buf))?.is_none() {
        report.bad.push(BadUnit {
            file: segs
                .iter()
                .find(|s| s.contains(log_offset))
                .map_or_else(|| path.to_path_buf(), |s| s.path.clone()),
            offset: log_offset,
            what: format!(
                "image of page {} (commit {}) fails its checksum",
                r.pgno, r.seq
            ),
        });
    }
    Ok(())
}

/// One segment's frames, as the file holds them (past the recovered end
/// too: a torn tail may leave frames there).
struct SegmentFrames<'a> {
    seg: &'a Segment,
    db_id: u64,
    end: u64,
    file_len: u64,
}

impl FrameSource for SegmentFrames<'_> {
    fn resume(&mut self, pos: u64) -> Option<u64> {
        // Checked: a segment whose header could not be trusted has a window
        // at the very end of the offset space, and nothing to walk.
        let header = FRAME_HEADER_BYTES as u64;
        let in_window = pos >= self.seg.header.log_start
            && pos.checked_add(header).is_some_and(|end| end <= self.end);
        let in_file = in_window && self.seg.file_offset(pos) + header <= self.file_len;
        in_file.then_some(pos)
    }

    fn header_at(&mut self, pos: u64) -> Result<Option<FrameHeader>> {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        self.seg
            .file
            .read_at(&mut header, self.seg.file_offset(pos))
            .map_err(|e| Error::io("read segment", &self.seg.path, e))?;
        Ok(FrameHeader::decode(self.db_id, pos, &header))
    }
}

/// One frame as found in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFrame {
    /// Logical log offset.
    pub log_offset: u64,
    /// "page", "delete", "commit", "marker", ...
    pub kind: &'static str,
    /// The commit it belongs to.
    pub commit_seq: CommitSeq,
    /// Page number (page/delete frames), page count (commit/marker).
    pub pgno: u32,
    /// Payload bytes after the frame header.
    pub payload_len: u32,
    /// Group-commit epoch (commit and marker frames).
    pub epoch: Option<u64>,
}

/// Walks every valid frame of every WAL segment in log order (including
/// frames past the recovered end, which a torn tail may leave), calling
/// `each(segment, frame)`. Returns the frames seen.
pub fn dump(path: impl AsRef<Path>, each: &mut dyn FnMut(&Path, &DumpFrame)) -> Result<u64> {
    let storage: Arc<dyn Storage> = Arc::new(RealStorage);
    let path = path.as_ref();
    let main = open_main(&storage, path)?;
    let h = main.header();
    let replay = recovery::scan(&storage, path, &h, false, None)?;
    let mut frames = 0;
    for seg in &replay.segments {
        let mut src = SegmentFrames {
            seg,
            db_id: h.db_id,
            end: seg.window_end(),
            file_len: seg
                .file
                .len()
                .map_err(|e| Error::io("stat segment", &seg.path, e))?,
        };
        let start = seg.header.log_start.max(h.log_start);
        walk_frames(&mut src, start, |_, fh| {
            let epoch = match fh.kind {
                FrameKind::Commit | FrameKind::Marker => {
                    let mut payload = vec![0u8; fh.payload_len as usize];
                    let at = fh.log_offset + FRAME_HEADER_BYTES as u64;
                    let got = read_segments(&replay.segments, at, &mut payload)?;
                    let commit = capsule::commit_record(fh.kind, &payload);
                    commit.filter(|_| got).map(|c| c.epoch)
                }
                _ => None,
            };
            frames += 1;
            each(
                &seg.path,
                &DumpFrame {
                    log_offset: fh.log_offset,
                    kind: kind_name(fh.kind),
                    commit_seq: fh.commit_seq,
                    pgno: fh.pgno,
                    payload_len: fh.payload_len,
                    epoch,
                },
            );
            Ok(ControlFlow::Continue(()))
        })?;
    }
    Ok(frames)
}

fn kind_name(k: FrameKind) -> &'static str {
    match k {
        FrameKind::Page => "page",
        FrameKind::Delete => "delete",
        FrameKind::Commit => "commit",
        FrameKind::Seal => "seal",
        FrameKind::Marker => "marker",
        FrameKind::Void => "void",
    }
}

const _: () = assert!(SEGMENT_HEADER_BLOCK_BYTES % FRAME_ALIGN_BYTES == 0);
