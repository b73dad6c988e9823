//! Checkpoints: moving committed pages into the main file, never past a
//! live reader of any process, then retiring the log they make unneeded.

use crate::error::{Error, Result};
use crate::lease::Wait;
use crate::mainfile::CheckpointPage;
use crate::mvcc::VersionData;
use crate::options::SyncMode;
use crate::types::CheckpointReport;

use super::parts::Engine;

impl Engine {
    /// Moves every commit up to the oldest reader's snapshot into the main
    /// file and retires the segments that then hold nothing needed.
    pub fn checkpoint(&self) -> Result<CheckpointReport> {
        self.check_writable()?;
        let _lease = self.enter_lease(Wait::Busy)?;
        self.checkpoint_leased()
    }

    /// The checkpoint of a process that already holds the lease (or needs
    /// none).
    pub(super) fn checkpoint_leased(&self) -> Result<CheckpointReport> {
        let _only_one = self.checkpoint_lock.lock();
        self.check_writable()?;
        let result = self.checkpoint_locked();
        if let Err(e @ Error::Io { .. }) = &result {
            // The main file may be half-written and a sync may have failed:
            // fail-stop rather than guess what reached the disk.
            self.pipe.fail(e);
        }
        result
    }

    pub(super) fn checkpoint_locked(&self) -> Result<CheckpointReport> {
        let _span = tracing::debug_span!("checkpoint").entered();
        if self.opts.sync == SyncMode::Normal {
            // The log must be durable before pages reach the main file.
            self.pipe.flush_all(self.logs())?;
        }
        let old = self.main.header();
        let mut target = self.readers.oldest_or(|| self.pipe.visible());
        if let Some(l) = &self.lease {
            // Never past a live reader of another process: announce the
            // target, then read their snapshots (a reader publishes its
            // snapshot, then reads the target - one of us sees the other).
            l.shm.set_checkpoint_target(target);
            if let Some(theirs) = l.shm.oldest_other_snapshot(l.slot) {
                target = target.min(theirs).max(old.checkpoint_seq);
                l.shm.set_checkpoint_target(target);
            }
        }
        if target <= old.checkpoint_seq {
            return Ok(CheckpointReport {
                pages_written: 0,
                segments_removed: self.log.retire_before(old.log_start)?,
                checkpoint_seq: old.checkpoint_seq,
            });
        }
        let log_start = self.pipe.end_of(target).ok_or_else(|| {
            Error::Internal(format!("no log position recorded for commit {target}"))
        })?;
        let pages = self.versions.newest_upto(target);
        let pages_written = self.main.checkpoint(
            pages.into_iter().map(|(pgno, _, data)| {
                Ok((
                    pgno,
                    match data {
                        VersionData::Inline(p) => CheckpointPage::Write(p),
                        VersionData::Deleted => CheckpointPage::Delete,
                        VersionData::Logged {
                            stream,
                            log_offset,
                            len,
                            crc,
                        } => CheckpointPage::Write(self.read_logged(stream, log_offset, len, crc)?),
                    },
                ))
            }),
            target,
            log_start,
        )?;
        if let Some(l) = &self.lease {
            l.shm
                .publish_checkpoint(target, self.main.header().generation);
        }
        self.versions.gc(target);
        let oldest = self.readers.oldest_or(|| self.pipe.visible());
        self.seq.lock().prune(oldest);
        self.pipe.trim_ends(target);
        let segments_removed = self.while_alone(|| -> Result<u64> {
            Ok(self.log.retire_before(log_start)? + self.capsules.checkpointed(target)?)
        })?;
        Ok(CheckpointReport {
            pages_written,
            segments_removed,
            checkpoint_seq: target,
        })
    }
}
