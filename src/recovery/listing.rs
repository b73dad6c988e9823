//! Finding the log on disk: listing segment files, opening and checking
//! their headers, and checking that they continue one another.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::MainHeader;
use crate::storage::{parent_dir, Storage};
use crate::wal::{classify, open_segment, LogFileName, Segment, Stream};

/// WAL segments and capsule segments beside `db_path` (epoch, path),
/// each sorted by epoch, and leftover temporary files.
pub(super) type Listing = (Vec<(u64, PathBuf)>, Vec<(u64, PathBuf)>, Vec<PathBuf>);

pub(super) fn list_log_files(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<Listing> {
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

pub(super) fn open_capsule_segments(
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
                capsule_segments.push(s);
            }
            Err(Error::Io { context, source }) => return Err(Error::Io { context, source }),
            _ => {}
        }
    }
    capsule_segments.sort_by_key(|s| s.header.log_start);

    Ok(capsule_segments)
}

/// The WAL segments of a scan, checked against the database and each other.
pub(super) struct WalSegments {
    /// Live segments in log order (placeholders for unreadable ones).
    pub(super) segments: Vec<Segment>,
    /// Segments wholly before the checkpoint.
    pub(super) stale: Vec<PathBuf>,
    /// First segment not to replay, and why.
    pub(super) corruption: Option<(usize, String)>,
    pub(super) last_epoch: u64,
}

pub(super) fn open_wal_segments(
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

pub(super) fn placeholder(path: PathBuf) -> Segment {
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
pub(super) fn check_continuity(segs: &[Segment], log_start: u64) -> Option<usize> {
    let first = segs.first()?;
    if first.header.log_start > log_start && first.header.resume_offset > log_start {
        return Some(0);
    }
    (1..segs.len()).find(|&i| segs[i].header.log_start != segs[i - 1].window_end())
}
