//! Snapshot reads: registering a reader and finding a page's image at
//! its snapshot (in memory, in the log, or in the main file).

use crate::error::{Error, Result};
use crate::mvcc::VersionData;
use crate::types::{CommitSeq, Page, Pgno};
use crate::wal::{self, Stream};

use super::parts::{Catcher, Engine, ReaderGuard};

/// Attempts to re-read a log-resident version that a checkpoint may have
/// moved into the main file meanwhile.
const LOGGED_READ_ATTEMPTS: usize = 3;
/// Attempts of a reader to catch up and pin a snapshot while other
/// processes checkpoint past it.
const BEGIN_ATTEMPTS: usize = 16;

impl Engine {
    /// Registers a reader at the latest visible commit - in any process:
    /// commits other processes published are caught up on first.
    pub fn begin_read(&self) -> Result<ReaderGuard> {
        let Some(lease) = &self.lease else {
            return Ok(ReaderGuard {
                token: self.readers.register(|| self.pipe.visible()),
            });
        };
        let mut last_err = None;
        for _ in 0..BEGIN_ATTEMPTS {
            if let Err(e) = self.catch_up(Catcher::Reader) {
                // A checkpoint elsewhere may have retired what we were
                // reading: look again.
                last_err = Some(e);
                continue;
            }
            // The slot now shows our snapshot (the table's hook, SeqCst);
            // a checkpoint that read the slots before that has published
            // its target first, so we see it here and start over.
            let token = self.readers.register(|| self.pipe.visible());
            if lease.shm.checkpoint_target() <= token.snapshot() {
                return Ok(ReaderGuard { token });
            }
        }
        Err(last_err.unwrap_or_else(|| {
            Error::Busy(format!(
                "{}: checkpoints in other processes kept overtaking this reader",
                self.path.display()
            ))
        }))
    }

    /// The image of `pgno` at `snapshot`.
    pub fn read_at(&self, pgno: Pgno, snapshot: CommitSeq) -> Result<Option<Page>> {
        for _ in 0..LOGGED_READ_ATTEMPTS {
            match self.versions.get(pgno, snapshot) {
                None => return self.main.read(pgno),
                Some((_, VersionData::Inline(p))) => return Ok(Some(p)),
                Some((_, VersionData::Deleted)) => return Ok(None),
                Some((
                    seq,
                    VersionData::Logged {
                        stream,
                        log_offset,
                        len,
                        crc,
                    },
                )) => {
                    match self.read_logged(stream, log_offset, len, crc) {
                        Ok(p) => return Ok(Some(p)),
                        // A checkpoint may have moved this version into the
                        // main file and retired its segment meanwhile.
                        Err(e) => {
                            if matches!(self.versions.get(pgno, snapshot), Some((s, _)) if s == seq)
                            {
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
        Err(Error::Internal(format!(
            "page {pgno}: version kept moving during read"
        )))
    }

    pub(super) fn read_logged(
        &self,
        stream: Stream,
        log_offset: u64,
        len: u32,
        crc: u32,
    ) -> Result<Page> {
        let log = match stream {
            Stream::Wal => &self.log,
            Stream::Capsule => &self.capsules.log,
        };
        let read = |buf: &mut [u8]| log.read_at(log_offset, buf).map(|()| true);
        wal::read_image(len, crc, read)?.ok_or_else(|| {
            Error::corrupt(format!(
                "{}: log image at offset {log_offset} fails its checksum",
                self.path.display()
            ))
        })
    }
}
