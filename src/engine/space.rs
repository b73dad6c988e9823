//! Log space: preparing segments ahead of commits, and settling a
//! sequenced commit whose bytes could not be written.

use crate::error::{Error, Result};
use crate::options::SyncMode;
use crate::sequence::Undo;
use crate::stage::{self, Placement};
use crate::types::CommitSeq;
use crate::wal::Log;

use super::parts::Engine;

impl Engine {
    /// Prepares WAL segments up to `end`. Running out of space is an
    /// ordinary error (nothing was sequenced); any other failure - a
    /// write, a sync, a rename, a directory sync - is fail-stop.
    pub(super) fn prepare_log(&self, end: u64) -> Result<()> {
        self.prepare(&self.log, end)
    }

    /// Prepares segments of `log` (the WAL or the capsule stream) up to
    /// `end`, announced to other processes before and after - only when a
    /// segment is actually needed, since every announcement makes the
    /// others list the directory.
    pub(super) fn prepare(&self, log: &Log, end: u64) -> Result<()> {
        if log.prepared_end() >= end {
            return Ok(());
        }
        self.announce_segment();
        let r =
            self.while_alone(|| self.fail_stop_on_io(log.ensure_prepared(end, self.pipe.epoch())));
        self.announce_segment();
        r
    }

    /// A sequenced commit's bytes could not be written. Out of space: a
    /// void frame over its range keeps the log continuous, so later commits
    /// become durable and the database works on once space is freed; the
    /// commit itself fails with Full. The void is first written as padding
    /// and the seq handed back, keeping commit_seq dense; if a later commit
    /// was numbered meanwhile, the void becomes an empty commit with this
    /// seq instead. Until that is settled no later commit can be durable,
    /// so a crash in between loses nothing acknowledged. Any other failure
    /// - or a void that cannot be written either - is fail-stop.
    pub(super) fn abandon(
        &self,
        at: Placement,
        undo: Undo,
        len: u64,
        e: Error,
        sync: SyncMode,
    ) -> Error {
        let payload_len = u32::try_from(len - crate::format::FRAME_HEADER_BYTES as u64);
        let (Error::Full(_), Ok(payload_len)) = (&e, payload_len) else {
            self.pipe.fail(&e);
            return e;
        };
        let write_void = |commit_seq: CommitSeq| {
            let header = stage::void_frame(self.db_id, at.log_offset, commit_seq, payload_len);
            self.log.write_at(at.log_offset, &header)
        };
        if write_void(at.seq - 1).is_err() {
            self.pipe.fail(&e);
            return e;
        }
        if self.seq.lock().abandon(at.seq, undo) {
            return e;
        }
        if write_void(at.seq).is_err() {
            self.pipe.fail(&e);
            return e;
        }
        // Errors of the pipeline reach every waiter; ours is Full.
        let _ = self
            .pipe
            .complete(self.logs(), at.seq, at.log_offset + len, sync);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{CommitMode, Options};
    use crate::stage::WriteSet;
    use crate::types::Pgno;

    /// Every segment announcement makes other processes list the directory
    /// at their next look: a commit that needs no new segment announces
    /// none, in either commit mode.
    #[test]
    fn commits_within_prepared_segments_announce_nothing() {
        for mode in [CommitMode::Wal, CommitMode::Native] {
            let dir = tempfile::tempdir().unwrap();
            let opts = Options {
                commit_mode: mode,
                ..Options::default()
            };
            let engine = Engine::open(&dir.path().join("a.db"), &opts).unwrap();
            let commit = |pgno: Pgno| {
                let mut w = WriteSet::new();
                w.put(engine.spill_policy(), pgno, Some(&[7u8; 64]))
                    .unwrap();
                engine.commit(None, w, &[], None).unwrap();
            };
            commit(1);
            let shm = &engine.lease.as_ref().expect("real storage is shared").shm;
            let before = shm.segment_generation();
            for pgno in 2..20 {
                commit(pgno);
            }
            assert_eq!(shm.segment_generation(), before, "{mode:?}");
            engine.shutdown().unwrap();
        }
    }
}
