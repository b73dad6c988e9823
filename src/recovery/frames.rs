//! Replaying frames: each commit applied only when its frames and commit
//! record all verify, in commit_seq order; and the evidence that decides
//! whether the first frame that does not verify is a torn tail or
//! corruption.

use std::ops::ControlFlow;

use crate::capsule::{self, MarkerPayload};
use crate::error::Result;
use crate::format::{chain_frame_crc, CommitPayload, FrameHeader, FrameKind, FRAME_HEADER_BYTES};
use crate::mvcc::VersionData;
use crate::types::CommitSeq;
use crate::wal::{read_segments, walk_frames, Stream};

use super::replay::{Record, Replay};
use super::scanner::{Outcome, Scanner};

impl Scanner<'_> {
    pub(super) fn replay(
        &mut self,
        start: u64,
        checkpoint_seq: CommitSeq,
        out: &mut Replay,
    ) -> Outcome {
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
        let mut w = Walk {
            pos: start,
            commit_start: start,
            expected: checkpoint_seq + 1,
            pending: Vec::new(),
            frames_crc: 0,
            capsule_damaged: false,
        };
        let stop = loop {
            if self.stop_after.is_some_and(|t| w.expected > t) {
                // Reached the target; nothing past it is looked at.
                return Ok(Outcome::reached(w.pos));
            }
            match self.step(&mut w, out)? {
                Step::Next => {}
                Step::Stop(why) => break why,
            }
        };
        self.outcome(w, stop, out)
    }

    /// Looks at the frame at `w.pos` and applies, collects or refuses it.
    fn step(&mut self, w: &mut Walk, out: &mut Replay) -> Result<Step> {
        let Some(p) = self.normalize(w.pos) else {
            let torn = (!w.pending.is_empty()).then(|| "log ends inside a commit".to_string());
            return Ok(Step::Stop(Stop::End(torn)));
        };
        if p != w.pos && !w.pending.is_empty() {
            return Ok(Step::stop("commit runs into abandoned log space".into()));
        }
        if p != w.pos {
            w.commit_start = p;
        }
        w.pos = p;
        let pos = p;
        let Some((h, hcrc)) = self.frame_at(pos)? else {
            return Ok(Step::stop(format!("no valid frame at log offset {pos}")));
        };
        if let Some(limit) = self
            .durable_limit
            .filter(|_| self.past_durable_limit(pos + h.frame_len()))
        {
            return Ok(Step::Stop(Stop::DurableLimit(format!(
                "commit {} runs past log offset {limit}, the end of what was durable when a sync failed",
                w.expected
            ))));
        }
        if h.commit_seq != w.expected && !matches!(h.kind, FrameKind::Seal | FrameKind::Void) {
            return Ok(Step::stop(format!(
                "frame of commit {} where {} was due",
                h.commit_seq, w.expected
            )));
        }
        if h.kind == FrameKind::Void {
            return Ok(self.on_void(w, &h, out));
        }
        if h.kind == FrameKind::Page && h.payload_len > self.page_size {
            return Ok(Step::stop(format!(
                "page {} image larger than a page",
                h.pgno
            )));
        }
        let Some(payload) = self.payload_ok(&h)? else {
            return Ok(Step::stop(format!(
                "payload checksum mismatch at log offset {pos}"
            )));
        };
        let seg_i = self.index_of(pos).unwrap_or(0);
        match h.kind {
            FrameKind::Void => unreachable!("handled above"),
            FrameKind::Seal => Ok(self.on_seal(w, &h, seg_i, out)),
            FrameKind::Marker => self.on_marker(w, &h, &payload, seg_i, out),
            FrameKind::Page | FrameKind::Delete => {
                on_page(w, &h, hcrc, seg_i);
                Ok(Step::Next)
            }
            FrameKind::Commit => Ok(self.on_commit(w, &h, &payload, seg_i, out)),
        }
    }

    /// A void: padding over a failed commit whose seq was handed on, or an
    /// empty commit standing in for one whose write failed.
    fn on_void(&mut self, w: &mut Walk, h: &FrameHeader, out: &mut Replay) -> Step {
        let pos = w.pos;
        if !w.pending.is_empty() {
            return Step::stop(format!("misplaced void at log offset {pos}"));
        }
        let seg_i = self.index_of(pos).unwrap_or(0);
        let end = pos + h.frame_len();
        if h.commit_seq + 1 != w.expected {
            if h.commit_seq != w.expected {
                return Step::stop(format!(
                    "void of commit {} where {} was due",
                    h.commit_seq, w.expected
                ));
            }
            self.keep(seg_i, None);
            w.applied(h.commit_seq, end, None, out);
            return Step::Next;
        }
        self.keep(seg_i, None);
        w.pos = end;
        w.commit_start = end;
        out.end = end;
        Step::Next
    }

    /// A seal vouches for what came before; it sits between commits.
    fn on_seal(&mut self, w: &mut Walk, h: &FrameHeader, seg_i: usize, out: &mut Replay) -> Step {
        if !w.pending.is_empty() || h.commit_seq + 1 != w.expected {
            return Step::stop(format!("misplaced seal at log offset {}", w.pos));
        }
        self.keep(seg_i, None);
        w.pos += h.frame_len();
        w.commit_start = w.pos;
        out.end = w.pos;
        Step::Next
    }

    /// A NATIVE commit: its marker names a capsule, applied only when the
    /// whole capsule verifies against the marker's digest.
    fn on_marker(
        &mut self,
        w: &mut Walk,
        h: &FrameHeader,
        payload: &[u8],
        seg_i: usize,
        out: &mut Replay,
    ) -> Result<Step> {
        let pos = w.pos;
        let marker = MarkerPayload::decode(payload)
            .filter(|m| w.pending.is_empty() && m.commit.first_frame_offset == pos);
        let Some(m) = marker else {
            return Ok(Step::stop(format!("bad marker at log offset {pos}")));
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
            // The marker was written only after its capsule was synced: a
            // capsule that does not verify was damaged.
            w.capsule_damaged = m.capsule_synced();
            return Ok(Step::stop(format!(
                "capsule of commit {} at capsule offset {} fails verification",
                h.commit_seq, m.capsule_offset
            )));
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
        self.keep(seg_i, Some(m.commit.epoch));
        out.capsules.push((m.capsule_offset, h.commit_seq));
        out.relaxed_capsules |= !m.capsule_synced();
        out.capsules_end = out.capsules_end.max(m.capsule_offset + m.capsule_len);
        w.applied(h.commit_seq, pos + h.frame_len(), Some(m.commit.epoch), out);
        Ok(Step::Next)
    }

    /// A WAL commit record: applies the frames collected since the last
    /// commit, if they are exactly the ones it names.
    fn on_commit(
        &mut self,
        w: &mut Walk,
        h: &FrameHeader,
        payload: &[u8],
        seg_i: usize,
        out: &mut Replay,
    ) -> Step {
        let Some(c) = CommitPayload::decode(payload) else {
            return Step::stop(format!("bad commit record at log offset {}", w.pos));
        };
        if c.first_frame_offset != w.commit_start
            || h.pgno as usize != w.pending.len()
            || c.frames_crc != w.frames_crc
        {
            return Step::stop(format!("commit {} does not match its frames", h.commit_seq));
        }
        for (rec, si) in w.pending.drain(..) {
            self.keep(si, Some(c.epoch));
            out.records.push(rec);
            out.report.records_applied += 1;
        }
        self.keep(seg_i, Some(c.epoch));
        w.frames_crc = 0;
        w.applied(h.commit_seq, w.pos + h.frame_len(), Some(c.epoch), out);
        Step::Next
    }

    /// Judges where the replay stopped: a torn tail (cut), a cut at a
    /// failed sync's limit, or corruption (a later record vouches for
    /// what is missing).
    fn outcome(&mut self, w: Walk, stop: Stop, out: &Replay) -> Result<Outcome> {
        let dropped_frames = w.pending.len() as u64;
        let stop_reason = match stop {
            Stop::DurableLimit(why) => {
                // Nothing past the limit can vouch for anything: durability
                // claimed after the failed sync may rest on dropped pages.
                // The frames there stay, voided by the restart segment.
                return Ok(Outcome {
                    stop_pos: w.pos,
                    stop_reason: Some(why),
                    dropped_frames,
                    corrupt: false,
                    valid_after_end: true,
                    never_synced: Some("a sync of the log failed in this boot".into()),
                });
            }
            Stop::End(why) => why,
            Stop::Bad(why) => Some(why),
        };
        let evidence = if self.judge_tail {
            self.evidence_after(out.end, w.expected)?
        } else {
            Evidence::default()
        };
        let never_synced = (!evidence.durable && evidence.written_in_boot).then(|| {
            format!(
                "commit {} was written in this boot but never synced, and its bytes are gone (lost without a reboot)",
                w.expected
            )
        });
        Ok(Outcome {
            stop_pos: w.pos,
            stop_reason,
            dropped_frames,
            corrupt: evidence.durable || w.capsule_damaged,
            valid_after_end: evidence.any_valid,
            never_synced,
        })
    }

    /// Counts a kept frame of segment `i`; commit records and markers
    /// also widen its epoch range (seals and voids carry no epoch).
    pub(super) fn keep(&mut self, i: usize, epoch: Option<u64>) {
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
    pub(super) fn evidence_after(&mut self, end: u64, missing: CommitSeq) -> Result<Evidence> {
        let mut ev = Evidence::default();
        let boot_tag = self.boot_tag;
        walk_frames(self, end, |s, h| {
            if s.durable_limit.is_some_and(|limit| h.log_offset >= limit) {
                return Ok(ControlFlow::Break(()));
            }
            ev.any_valid = true;
            if h.kind == FrameKind::Seal && h.commit_seq >= missing {
                ev.durable = true;
                return Ok(ControlFlow::Break(()));
            }
            if !matches!(h.kind, FrameKind::Commit | FrameKind::Marker) {
                return Ok(ControlFlow::Continue(()));
            }
            let record = s
                .payload_ok(h)?
                .and_then(|p| capsule::commit_record(h.kind, &p));
            if let Some(c) = record {
                if c.vouches_for(missing, boot_tag) {
                    ev.durable = true;
                    return Ok(ControlFlow::Break(()));
                }
                ev.written_in_boot |= c.saw_written_in_boot(missing, boot_tag);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(ev)
    }
}

/// What the frames past the end of a replayed prefix say about the first
/// commit missing there.
#[derive(Default)]
pub(super) struct Evidence {
    /// A later commit (or a seal) proves it was synced: corruption.
    pub(super) durable: bool,
    /// A later commit saw it written in this boot (not proof: unsynced
    /// bytes can vanish within a boot), so the cut names that.
    pub(super) written_in_boot: bool,
    /// Any valid frame lies past the end.
    pub(super) any_valid: bool,
}

/// Where a replay is: the next frame, and the commit being collected.
struct Walk {
    pos: u64,
    /// Where the commit being collected began.
    commit_start: u64,
    /// The seq the next commit must have.
    expected: CommitSeq,
    /// Page and delete frames of that commit, with their segment index.
    pending: Vec<(Record, usize)>,
    /// The chained CRC of their headers.
    frames_crc: u32,
    /// A capsule synced before its marker fails verification.
    capsule_damaged: bool,
}

impl Walk {
    /// Commit `seq`, ending at `end` (written in `epoch`, which voids do
    /// not carry), is applied: the next one follows.
    fn applied(&mut self, seq: CommitSeq, end: u64, epoch: Option<u64>, out: &mut Replay) {
        assert_eq!(seq, self.expected, "commit_seq must stay dense");
        debug_assert!(end > self.pos, "log offsets rise strictly");
        if let Some(epoch) = epoch {
            out.last_epoch = out.last_epoch.max(epoch);
        }
        out.report.commits_recovered += 1;
        out.ends.push((seq, end));
        out.last_seq = seq;
        out.end = end;
        self.expected += 1;
        self.commit_start = end;
        self.pos = end;
    }
}

/// A page or delete frame: collected until its commit record comes.
fn on_page(w: &mut Walk, h: &FrameHeader, hcrc: u32, seg_i: usize) {
    w.frames_crc = chain_frame_crc(w.frames_crc, hcrc);
    let data = if h.kind == FrameKind::Page {
        VersionData::Logged {
            stream: Stream::Wal,
            log_offset: w.pos + FRAME_HEADER_BYTES as u64,
            len: h.payload_len,
            crc: h.payload_crc,
        }
    } else {
        VersionData::Deleted
    };
    w.pending.push((
        Record {
            pgno: h.pgno,
            seq: h.commit_seq,
            data,
        },
        seg_i,
    ));
    w.pos += h.frame_len();
}

/// What one frame did to the replay.
enum Step {
    Next,
    Stop(Stop),
}

impl Step {
    fn stop(why: String) -> Step {
        Step::Stop(Stop::Bad(why))
    }
}

/// Why a replay stopped.
enum Stop {
    /// The valid log ends (with a reason when it ends inside a commit).
    End(Option<String>),
    /// A frame that does not verify, or does not fit where it is.
    Bad(String),
    /// The next commit runs past what a failed sync left durable.
    DurableLimit(String),
}
