//! One WAL segment file: a 4 KiB header block, then a fixed-capacity
//! window of the logical log.
//!
//! Segments are created under a temporary name, filled (zeros) or recycled,
//! synced, and only then renamed to `{path}-wal-seg-{first_epoch:016x}` and
//! the directory synced. So a segment that has its final name always has a
//! valid header and fully allocated space: a commit's fdatasync never has to
//! journal a size or extent change.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{SegmentHeader, SEGMENT_HEADER_BLOCK_BYTES};
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::Page;

/// Which stream a segment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The write-ahead log: page frames, commit records, markers.
    Wal,
    /// NATIVE mode's capsules: write sets persisted by their committers.
    Capsule,
}

impl Stream {
    /// Marker between the database path and the epoch in segment names.
    pub fn infix(self) -> &'static str {
        match self {
            Stream::Wal => "-wal-seg-",
            Stream::Capsule => "-cap-seg-",
        }
    }

    /// Marker of segments being prepared; leftovers are removed on open.
    pub fn tmp_infix(self) -> &'static str {
        match self {
            Stream::Wal => "-wal-tmp-",
            Stream::Capsule => "-cap-tmp-",
        }
    }
}

/// Suffix given to segments that recovery set aside.
pub const CORRUPT_SUFFIX: &str = ".corrupt";
/// Size of the zero-filled writes that prepare a new segment: one
/// write-behind step.
const ZERO_FILL_CHUNK_BYTES: usize = crate::storage::WRITE_BEHIND_STEP_BYTES;

/// An open segment.
pub struct Segment {
    pub path: PathBuf,
    pub file: Box<dyn StorageFile>,
    pub header: SegmentHeader,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Segment {
    /// First logical offset past this segment's window.
    pub fn window_end(&self) -> u64 {
        self.header.log_start + self.header.capacity
    }

    /// True when `log_offset` falls in this segment's window.
    pub fn contains(&self, log_offset: u64) -> bool {
        (self.header.log_start..self.window_end()).contains(&log_offset)
    }

    /// First logical offset past the part of the window the file holds:
    /// the window's end for a segment as prepared (full size), less when
    /// the file was cut short or the header claims more than the file has.
    pub fn held_end(&self) -> std::io::Result<u64> {
        let held = self.file.len()?.saturating_sub(SEGMENT_HEADER_BLOCK_BYTES);
        Ok(self.header.log_start + held.min(self.header.capacity))
    }

    /// The file offset holding `log_offset`.
    pub fn file_offset(&self, log_offset: u64) -> u64 {
        debug_assert!(self.contains(log_offset));
        SEGMENT_HEADER_BLOCK_BYTES + (log_offset - self.header.log_start)
    }
}

/// `{path}-wal-seg-{epoch:016x}` (or `-cap-seg-`).
pub fn segment_path(db_path: &Path, stream: Stream, epoch: u64) -> PathBuf {
    let mut s = db_path.as_os_str().to_owned();
    s.push(format!("{}{epoch:016x}", stream.infix()));
    PathBuf::from(s)
}

/// `{path}-wal-tmp-{n:016x}` (or `-cap-tmp-`).
pub fn tmp_segment_path(db_path: &Path, stream: Stream, n: u64) -> PathBuf {
    let mut s = db_path.as_os_str().to_owned();
    s.push(format!("{}{n:016x}", stream.tmp_infix()));
    PathBuf::from(s)
}

/// What a file beside the database is, judging by its name.
#[derive(Debug, PartialEq, Eq)]
pub enum LogFileName {
    Segment(Stream, u64),
    Tmp(Stream),
    Other,
}

/// Classifies `candidate` relative to the database at `db_path`.
pub fn classify(db_path: &Path, candidate: &Path) -> LogFileName {
    use std::os::unix::ffi::OsStrExt;
    let base = db_path.as_os_str().as_bytes();
    let name = candidate.as_os_str().as_bytes();
    // Compare file names only: list() may return paths spelled differently.
    let base_name = file_name_bytes(base);
    let cand_name = file_name_bytes(name);
    let Some(rest) = cand_name.strip_prefix(base_name) else {
        return LogFileName::Other;
    };
    for stream in [Stream::Wal, Stream::Capsule] {
        if let Some(hex) = rest.strip_prefix(stream.infix().as_bytes()) {
            if hex.len() == 16 && hex.iter().all(|c| c.is_ascii_hexdigit()) {
                let s = std::str::from_utf8(hex).expect("hex digits are ASCII");
                if let Ok(epoch) = u64::from_str_radix(s, 16) {
                    return LogFileName::Segment(stream, epoch);
                }
            }
            return LogFileName::Other;
        }
        if rest.starts_with(stream.tmp_infix().as_bytes()) {
            return LogFileName::Tmp(stream);
        }
    }
    LogFileName::Other
}

fn file_name_bytes(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Opens an existing segment and decodes its header (not yet checked
/// against the database; the caller does that).
pub fn open_segment(storage: &dyn Storage, path: &Path, writable: bool) -> Result<Segment> {
    let mode = if writable {
        OpenMode::ReadWrite
    } else {
        OpenMode::ReadOnly
    };
    let file = storage
        .open(path, mode)
        .map_err(|e| Error::io("open segment", path, e))?;
    let mut block = [0u8; crate::format::SEGMENT_HEADER_BYTES];
    file.read_at(&mut block, 0).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::corrupt(format!(
                "segment {}: shorter than its header",
                path.display()
            ))
        } else {
            Error::io("read segment header", path, e)
        }
    })?;
    let header = SegmentHeader::decode(&block)
        .map_err(|why| Error::corrupt(format!("segment {}: {why}", path.display())))?;
    Ok(Segment {
        path: path.to_path_buf(),
        file,
        header,
    })
}

/// How a new segment gets its space.
pub enum Source {
    /// Create a new file and allocate its space; zero-fill it too when
    /// `zero_fill`, so that later overwrites need no extent conversion.
    Fresh { zero_fill: bool },
    /// Reuse a retired segment's file (already full size). Its stale frames
    /// never validate: they carry their old log offsets.
    Recycled(Segment),
}

/// Creates (or recycles) a segment under `final_path`: temp name, header,
/// space, sync, rename, directory sync. The syncs happen in every sync
/// mode: a segment whose name survives a power loss must have its header
/// (under sync OFF too, where the commits in it may be lost but a torn
/// header would make the log unreadable), and they are rare.
pub fn prepare_segment(
    storage: &dyn Storage,
    tmp_path: &Path,
    final_path: &Path,
    header: SegmentHeader,
    source: Source,
) -> Result<Segment> {
    let dir = crate::storage::parent_dir(final_path);
    let total = SEGMENT_HEADER_BLOCK_BYTES + header.capacity;
    let file = match source {
        Source::Recycled(old) => {
            storage
                .rename(&old.path, tmp_path)
                .map_err(|e| Error::io("rename retired segment", &old.path, e))?;
            old.file
        }
        Source::Fresh { zero_fill } => {
            let file = storage
                .open(tmp_path, OpenMode::Create)
                .map_err(|e| Error::io("create segment", tmp_path, e))?;
            let fill = || -> std::io::Result<()> {
                file.set_len(0)?;
                file.allocate(total)?;
                let zeros = vec![0u8; ZERO_FILL_CHUNK_BYTES];
                let mut off = SEGMENT_HEADER_BLOCK_BYTES;
                while zero_fill && off < total {
                    let n = (total - off).min(ZERO_FILL_CHUNK_BYTES as u64) as usize;
                    file.write_at(&zeros[..n], off)?;
                    file.write_behind()?;
                    off += n as u64;
                }
                Ok(())
            };
            if let Err(e) = fill() {
                drop(file);
                let _ = storage.remove(tmp_path);
                return Err(Error::io("fill new segment", tmp_path, e));
            }
            file
        }
    };
    let mut block = vec![0u8; SEGMENT_HEADER_BLOCK_BYTES as usize];
    block[..crate::format::SEGMENT_HEADER_BYTES].copy_from_slice(&header.encode());
    file.write_at(&block, 0)
        .map_err(|e| Error::io("write segment header", tmp_path, e))?;
    file.sync_all()
        .map_err(|e| Error::io("sync new segment", tmp_path, e))?;
    // A segment's name is its first epoch, handed out once: an existing
    // file means two writers (processes) disagree about the log, and
    // renaming over it would silently unlink the other's appends.
    let taken = storage
        .exists(final_path)
        .map_err(|e| Error::io("look for segment", final_path, e))?;
    if taken {
        let _ = storage.remove(tmp_path);
        return Err(Error::Internal(format!(
            "segment {} already exists: the log was extended by someone this writer did not see",
            final_path.display()
        )));
    }
    storage
        .rename(tmp_path, final_path)
        .map_err(|e| Error::io("rename new segment", final_path, e))?;
    storage
        .sync_dir(&dir)
        .map_err(|e| Error::io("sync directory", &dir, e))?;
    Ok(Segment {
        path: final_path.to_path_buf(),
        file,
        header,
    })
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

/// The one verified read of a logged image: `len` bytes filled by `read`
/// (false: not all of them are there), kept only if their CRC32C is `crc`.
/// None when the image is missing or fails its checksum.
pub fn read_image(
    len: u32,
    crc: u32,
    read: impl FnOnce(&mut [u8]) -> Result<bool>,
) -> Result<Option<Page>> {
    let mut buf = vec![0u8; len as usize];
    if !read(&mut buf)? || crate::format::crc32c(&buf) != crc {
        return Ok(None);
    }
    Ok(Some(Page::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let db = Path::new("/tmp/x/my.db");
        let p = segment_path(db, Stream::Wal, 0x2a);
        assert!(p
            .to_str()
            .unwrap()
            .ends_with("my.db-wal-seg-000000000000002a"));
        assert_eq!(classify(db, &p), LogFileName::Segment(Stream::Wal, 0x2a));
        let c = segment_path(db, Stream::Capsule, 7);
        assert_eq!(classify(db, &c), LogFileName::Segment(Stream::Capsule, 7));
        assert_eq!(
            classify(db, &tmp_segment_path(db, Stream::Wal, 1)),
            LogFileName::Tmp(Stream::Wal)
        );
        assert_eq!(classify(db, Path::new("/tmp/x/my.db")), LogFileName::Other);
        assert_eq!(
            classify(db, Path::new("/tmp/x/my.db-wal-seg-zz")),
            LogFileName::Other
        );
        let corrupt = PathBuf::from(format!("{}{CORRUPT_SUFFIX}", p.display()));
        assert_eq!(classify(db, &corrupt), LogFileName::Other);
    }
}
