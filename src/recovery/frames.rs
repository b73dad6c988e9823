//! Replaying frames: each commit applied only when its frames and commit
//! record all verify, in commit_seq order; and the evidence that decides
//! whether the first frame that does not verify is a torn tail or
//! corruption.

use crate::capsule::{self, MarkerPayload};
use crate::error::Result;
use crate::format::{
    chain_frame_crc, CommitPayload, FrameKind, FRAME_ALIGN_BYTES, FRAME_HEADER_BYTES,
};
use crate::mvcc::VersionData;
use crate::types::CommitSeq;
use crate::wal::{read_segments, Stream};

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

    pub(super) fn replay_inner(
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
pub(super) struct Evidence {
    /// A later commit (or a seal) proves it was synced: corruption.
    pub(super) durable: bool,
    /// A later commit saw it written in this boot (not proof: unsynced
    /// bytes can vanish within a boot), so the cut names that.
    pub(super) written_in_boot: bool,
    /// Any valid frame lies past the end.
    pub(super) any_valid: bool,
}
