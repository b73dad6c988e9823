//! The commit path: sequence (the short serialized section, no I/O),
//! write (WAL frames or a NATIVE capsule and marker), install versions,
//! then wait for durability and publish.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::capsule;
use crate::error::{Error, Result};
use crate::lease::Wait;
use crate::mvcc::VersionData;
use crate::options::{CommitMode, Isolation, SyncMode};
use crate::sequence::{Sequenced, Undo};
use crate::stage::{self, Image, Placement, WriteSet};
use crate::types::{CommitSeq, Pgno};
use crate::wal::Stream;

use super::parts::{Engine, LeaseGuard};

/// Commits with more log bytes than this keep their images in the log
/// rather than in memory, so huge commits do not pin their size in RAM.
const INLINE_COMMIT_MAX_BYTES: u64 = 8 << 20;

impl Engine {
    /// Commits `writes`: validated against `snapshot` (None = blind batch)
    /// on the write set, and on `reads` under SERIALIZABLE.
    /// `sync` (None = the database's mode) says what the commit waits for.
    pub fn commit(
        &self,
        snapshot: Option<CommitSeq>,
        writes: WriteSet,
        reads: &[Pgno],
        sync: Option<SyncMode>,
    ) -> Result<CommitSeq> {
        self.check_writable()?;
        self.commit_unchecked(snapshot, writes, reads, sync)
    }

    /// [`Engine::commit`] past the check that this database may be written
    /// by its callers: what a follower applies from its replica.
    pub(super) fn commit_unchecked(
        &self,
        snapshot: Option<CommitSeq>,
        writes: WriteSet,
        reads: &[Pgno],
        sync: Option<SyncMode>,
    ) -> Result<CommitSeq> {
        let started = Instant::now();
        let _span = tracing::debug_span!("commit", pages = writes.len()).entered();
        let sync = sync.unwrap_or(self.opts.sync);
        // Held until the commit's bytes are written (`finish` gives it up
        // then): the next holder continues after every byte of it.
        let mut lease = self.enter_lease(Wait::Busy)?;
        let r = match self.opts.commit_mode {
            CommitMode::Wal => self.commit_wal(snapshot, &writes, reads, sync, &mut lease),
            CommitMode::Native => self.commit_native(snapshot, &writes, reads, sync, &mut lease),
        };
        drop(lease);
        if let Err(Error::Conflict { commit_seq, .. }) = &r {
            if *commit_seq > self.pipe.visible() {
                // The winner is another process's commit, written but not
                // yet visible here (its sync is running, or its process
                // died before it): make it durable so that a retry's
                // snapshot sees it, instead of conflicting again.
                let busy = Duration::from_millis(u64::from(self.opts.busy_timeout_ms));
                let _ = self.pipe.wait_durable(self.logs(), *commit_seq, busy);
                self.publish();
            }
        }
        if r.is_ok() {
            self.pipe
                .metrics
                .commit_us
                .record(started.elapsed().as_micros() as u64);
        }
        r
    }

    /// WAL mode: page images go through the log.
    pub(super) fn commit_wal(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        sync: SyncMode,
        lease: &mut Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        let len = stage::commit_log_len(writes);
        self.log.note_commit(len);
        let (at, undo) = self.sequence(snapshot, writes, reads, len)?;
        // Write: encode into a lane buffer and copy into the reserved range.
        let written = {
            let _span = tracing::trace_span!("write", seq = at.seq, bytes = len).entered();
            let mut lane = self.lanes.acquire();
            let db_id = self.db_id;
            stage::encode(db_id, writes, at, &mut lane, |off, bytes| {
                self.log.write_at(off, bytes)
            })
        };
        if let Err(e) = written {
            return Err(self.abandon(at, undo, len, e, sync));
        }
        let offsets = stage::payload_offsets(writes, at.log_offset);
        self.install(
            writes,
            at.seq,
            Stream::Wal,
            offsets,
            len <= INLINE_COMMIT_MAX_BYTES,
        );
        self.finish(at, len, sync, lease.take())
    }

    /// NATIVE mode: the committer persists its capsule itself; the
    /// serialized section only numbers it and the log gets a small marker.
    pub(super) fn commit_native(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        sync: SyncMode,
        lease: &mut Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        // A cheap early check so a doomed commit does not write a capsule;
        // the sequencer validates again.
        if let Some(snap) = snapshot {
            let checked = self.checked_pages(writes, reads);
            if let Some((pages, newest)) = self.seq.lock().conflicts(snap, checked) {
                return Err(Error::Conflict {
                    pages,
                    commit_seq: newest,
                });
            }
        }
        let cap_len = capsule::capsule_len(writes);
        let (cap_off, digest) = self.persist_capsule(writes, cap_len, sync)?;
        let len = capsule::marker_log_len();
        let (at, undo) = match self.sequence(snapshot, writes, reads, len) {
            Ok(placed) => placed,
            Err(e) => {
                self.capsules.release(cap_off);
                return Err(e);
            }
        };
        let flags = if sync == SyncMode::Full {
            capsule::MARKER_CAPSULE_SYNCED
        } else {
            0
        };
        let marker = capsule::encode_marker(
            self.db_id,
            &at,
            writes.len() as u32,
            cap_off,
            cap_len,
            digest,
            flags,
        );
        if let Err(e) = self.log.write_at(at.log_offset, &marker) {
            self.capsules.release(cap_off);
            return Err(self.abandon(at, undo, len, e, sync));
        }
        self.capsules.assign(cap_off, at.seq);
        let offsets = capsule::image_offsets(writes, cap_off);
        self.install(
            writes,
            at.seq,
            Stream::Capsule,
            offsets,
            cap_len <= INLINE_COMMIT_MAX_BYTES,
        );
        // FSYNC_2 (under FULL): markers durable before success.
        self.finish(at, len, sync, lease.take())
    }

    /// Writes the capsule of `writes` (`cap_len` bytes) into the capsule
    /// stream at a range it reserves, made durable first under FULL
    /// (FSYNC_1: capsules durable before any marker names them). No seq
    /// is taken yet, so any failure leaves nothing partial: the range is
    /// released and its bytes are garbage. Returns where it went and its
    /// digest.
    fn persist_capsule(
        &self,
        writes: &WriteSet,
        cap_len: u64,
        sync: SyncMode,
    ) -> Result<(u64, [u8; 32])> {
        let cap_off = self.capsules.claim(cap_len);
        self.capsules.log.note_commit(cap_len);
        let persisted = (|| {
            // An out-of-space error here is not fail-stop.
            self.prepare(&self.capsules.log, cap_off + cap_len)?;
            let digest = {
                let mut lane = self.lanes.acquire();
                // A failed write is fail-stop (as in WAL mode); running out
                // of space is not: no seq was taken.
                self.fail_stop_on_io(capsule::encode(
                    self.db_id,
                    writes,
                    cap_off,
                    &mut lane,
                    |off, bytes| self.capsules.log.write_at(off, bytes),
                ))?
            };
            if sync == SyncMode::Full {
                self.capsules
                    .make_durable()
                    .inspect_err(|e| self.pipe.fail_sync(e))?;
            } else {
                self.capsules.mark_relaxed();
            }
            Ok(digest)
        })();
        match persisted {
            Ok(digest) => Ok((cap_off, digest)),
            Err(e) => {
                self.capsules.release(cap_off);
                Err(e)
            }
        }
    }

    pub(super) fn checked_pages<'a>(
        &self,
        writes: &'a WriteSet,
        reads: &'a [Pgno],
    ) -> impl Iterator<Item = Pgno> + 'a {
        let validate_reads = self.opts.isolation == Isolation::Serializable;
        writes
            .keys()
            .copied()
            .chain(reads.iter().copied().filter(move |_| validate_reads))
    }

    /// Sequence: the short serialized section. No I/O, no page bytes.
    pub(super) fn sequence(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        len: u64,
    ) -> Result<(Placement, Undo)> {
        let _span = tracing::trace_span!("sequence", pages = writes.len()).entered();
        loop {
            let outcome = {
                let mut sq = self.seq.lock();
                let checked = self.checked_pages(writes, reads);
                match sq.sequence(
                    snapshot,
                    checked,
                    writes.keys(),
                    len,
                    self.log.prepared_end(),
                ) {
                    Sequenced::Placed {
                        seq,
                        log_offset,
                        undo,
                    } => Ok((
                        Placement {
                            seq,
                            log_offset,
                            epoch: self.pipe.epoch(),
                            durable_hint: self.pipe.durable(),
                            written_hint: self.pipe.written(),
                            boot_tag: self.boot_tag,
                            acks_written: self.opts.sync != SyncMode::Full,
                        },
                        undo,
                    )),
                    other => Err(other),
                }
            };
            match outcome {
                Ok(at) => return Ok(at),
                Err(Sequenced::Conflict { pages, newest }) => {
                    return Err(Error::Conflict {
                        pages,
                        commit_seq: newest,
                    });
                }
                Err(Sequenced::NeedSpace { end }) => {
                    self.prepare_log(end)?;
                }
                Err(Sequenced::Placed { .. }) => unreachable!("handled above"),
            }
        }
    }

    /// Publishes the commit's versions (invisible until the pipeline says
    /// so). Large commits (spilled ones always are) keep images in the log.
    pub(super) fn install(
        &self,
        writes: &WriteSet,
        seq: CommitSeq,
        stream: Stream,
        offsets: impl Iterator<Item = u64>,
        inline: bool,
    ) {
        let _span = tracing::trace_span!("publish", seq).entered();
        for ((&pgno, w), image_at) in writes.iter().zip(offsets) {
            let data = match w {
                None => VersionData::Deleted,
                Some(s) => match &s.image {
                    Image::Mem(p) if inline => VersionData::Inline(p.clone()),
                    _ => VersionData::Logged {
                        stream,
                        log_offset: image_at,
                        len: s.len,
                        crc: s.crc,
                    },
                },
            };
            self.versions.install(pgno, seq, data);
        }
    }

    /// Make durable and visible (as `sync` asks), then nudge background
    /// work. A commit relaxed below a FULL database's mode is made durable
    /// (and so visible) by the worker's next flush, started now.
    /// The commit's bytes are written: the writer lease (if any) goes
    /// now - the next holder appends while this commit's group syncs.
    pub(super) fn finish(
        &self,
        at: Placement,
        len: u64,
        sync: SyncMode,
        lease: Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        self.bytes_logged.fetch_add(len, Ordering::Relaxed);
        {
            let _span = tracing::trace_span!("durable", seq = at.seq).entered();
            self.pipe.mark_written(at.seq, at.log_offset + len);
            drop(lease);
            self.pipe.wait_done(self.logs(), at.seq, sync)?;
        }
        self.publish();
        if self.opts.sync == SyncMode::Full && sync != SyncMode::Full {
            self.worker.request_flush();
        }
        self.maybe_wake_worker(at.log_offset + len);
        Ok(at.seq)
    }
}
