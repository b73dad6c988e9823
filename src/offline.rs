//! Offline recovery: replay a closed database's log into its main file,
//! with every engine kept off it. It sits above the registry (which says
//! whether this process has the database open), so recovery itself
//! imports nothing above it.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::mainfile::{CheckpointPage, MainFile};
use crate::mvcc::VersionData;
use crate::options::RecoveryOptions;
use crate::recovery::{newest_per_page, scan, Replay};
use crate::storage::{parent_dir, Storage};
use crate::types::RecoveryReport;
use crate::wal::{read_image, read_segments, Segment, Stream, CORRUPT_SUFFIX};

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
    settle_segments(&storage, path, &replay, first_bad, options.delete_after)?;
    report.last_commit_seq = replay.last_seq;
    Ok(report)
}

/// After the durable prefix is in the main file: sets aside the segments
/// from the first corrupt one on (renamed with the corrupt suffix), and
/// with `delete_after` removes the replayed and stale ones.
fn settle_segments(
    storage: &Arc<dyn Storage>,
    path: &Path,
    replay: &Replay,
    first_bad: usize,
    delete_after: bool,
) -> Result<()> {
    let segs = &replay.segments;
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
        } else if delete_after {
            storage
                .remove(&seg.path)
                .map_err(|e| Error::io("remove replayed segment", &seg.path, e))?;
            changed_dir = true;
        }
    }
    if delete_after {
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
    Ok(())
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
        read_image(len, crc, |buf| read_segments(segs, log_offset, buf))?.ok_or_else(|| {
            Error::corrupt(format!(
                "{stream:?} stream offset {log_offset}: image missing or failing its checksum"
            ))
        })
    }
}
