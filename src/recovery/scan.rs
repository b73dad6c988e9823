//! Recovery: find the durable prefix of the log and replay it.
//!
//! The scan lists the segments, verifies their headers and continuity,
//! then reads frames from where the last checkpoint left off, applying
//! each commit whose frames and commit record all verify, in commit_seq
//! order. It stops at the first frame that does not verify. What follows
//! decides what that was: if a later valid commit record carries a
//! `durable_hint` covering the missing commit, that commit had been synced
//! and acknowledged, so the bad frame is corruption; otherwise the log
//! simply ends there, torn by a crash (a normal event, cut silently).
//!
//! Replayed images stay in the log ([`VersionData::Logged`]); recovery
//! holds only their locations, so memory does not grow with the log.

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::format::MainHeader;
use crate::prefetch::{self};
use crate::storage::Storage;
use crate::types::{CommitSeq, DropReason, SegmentReport};
use crate::wal::Segment;

use super::listing::{list_log_files, open_capsule_segments, open_wal_segments, WalSegments};
use super::replay::{Corruption, Replay};
use super::scanner::{Outcome, Scanner};

/// Catching up reads a little past what other processes appended since
/// the last look: smaller reads.
const CATCH_UP_CHUNK_BYTES: usize = 64 << 10;

/// Scans the log of the database whose main header is `main`.
/// `durable_limit`: a sync failed in this boot (recorded by the process
/// it failed in) and only the log before this offset is known durable -
/// commits ending past it are not replayed, whatever they look like now.
pub fn scan(
    storage: &Arc<dyn Storage>,
    db_path: &Path,
    main: &MainHeader,
    writable: bool,
    durable_limit: Option<u64>,
) -> Result<Replay> {
    let _span = tracing::debug_span!("recovery", path = %db_path.display()).entered();
    let (named, capsule_named, tmp) = list_log_files(storage, db_path)?;
    let capsule_segments = open_capsule_segments(storage, capsule_named, main, writable)?;
    let WalSegments {
        segments,
        stale,
        mut corruption,
        last_epoch,
    } = open_wal_segments(storage, named, main, writable)?;
    let scan_upto = corruption.as_ref().map_or(segments.len(), |(i, _)| *i);
    let mut replay = Replay {
        stale,
        tmp,
        ..Replay::after(main.checkpoint_seq, main.log_start, last_epoch)
    };
    let mut scanner = Scanner::new(
        segments[..scan_upto].iter().collect(),
        capsule_segments.iter().collect(),
        main.db_id,
        main.page_size,
        storage.boot_tag(),
    );
    scanner.durable_limit = durable_limit;
    let outcome = replay_reading_ahead(&mut scanner, main, &mut replay);
    let stop_seg = scanner.index_of(outcome.stop_pos);
    let mut seg_reports = segment_reports(&segments, &scanner, &outcome, stop_seg);
    let frame_corruption = outcome.corrupt && corruption.is_none();
    if frame_corruption {
        corruption = Some((
            stop_seg.unwrap_or(0),
            format!(
                "{}, followed by later commits that vouch for it",
                outcome.stop_reason.clone().unwrap_or_default(),
            ),
        ));
    }
    if let Some((i, why)) = &corruption {
        for (j, r) in seg_reports.iter_mut().enumerate().skip(*i) {
            if r.dropped.is_none() || j > *i {
                r.dropped = Some(if j == *i {
                    DropReason::Checksum(why.clone())
                } else {
                    DropReason::AfterCorruption
                });
            }
        }
        replay.report.partial_segments = segments[*i..].iter().map(|s| s.path.clone()).collect();
        replay.corruption = Some(Corruption {
            first_bad: *i,
            log_offset: frame_corruption.then_some(outcome.stop_pos),
            reason: why.clone(),
        });
    }
    replay.dirty_tail = outcome.valid_after_end;
    replay.report.segments_recovered = scanner.kept.iter().filter(|k| k.frames > 0).count() as u64;
    replay.report.bytes_read = scanner.bytes_read;
    replay.report.last_commit_seq =
        if replay.report.commits_recovered > 0 || main.checkpoint_seq > 0 {
            replay.last_seq
        } else {
            0
        };
    replay.report.segments = seg_reports;
    replay.segments = segments;
    replay.capsule_segments = capsule_segments;
    Ok(replay)
}

/// Replays the log from the checkpoint while a second thread reads ahead.
fn replay_reading_ahead(scanner: &mut Scanner<'_>, main: &MainHeader, out: &mut Replay) -> Outcome {
    std::thread::scope(|s| {
        let (tx, rx) = prefetch::channel();
        let (segs, valid_end) = (scanner.segs.clone(), scanner.valid_end.clone());
        let (start, chunk) = (main.log_start, scanner.chunk);
        s.spawn(move || prefetch::read_ahead(&segs, &valid_end, start, chunk, tx));
        scanner.prefetch = Some(rx);
        let outcome = scanner.replay(main.log_start, main.checkpoint_seq, out);
        // Hangs up on the reader, which then stops.
        scanner.prefetch = None;
        outcome
    })
}

/// What the scan kept and dropped in each segment, and why it stopped.
fn segment_reports(
    segments: &[Segment],
    scanner: &Scanner<'_>,
    outcome: &Outcome,
    stop_seg: Option<usize>,
) -> Vec<SegmentReport> {
    let mut reports: Vec<SegmentReport> = segments
        .iter()
        .map(|s| SegmentReport {
            path: s.path.clone(),
            first_epoch: s.header.first_epoch,
            epoch_min: 0,
            epoch_max: 0,
            frames_kept: 0,
            frames_dropped: 0,
            dropped: None,
        })
        .collect();
    for (r, kept) in reports.iter_mut().zip(&scanner.kept) {
        r.frames_kept = kept.frames;
        r.epoch_min = kept.epoch_min;
        r.epoch_max = kept.epoch_max;
    }
    if let (Some(i), Some(why)) = (stop_seg, outcome.stop_reason.as_ref()) {
        let reason = if outcome.corrupt {
            Some(DropReason::Checksum(why.clone()))
        } else if let Some(lost) = &outcome.never_synced {
            Some(DropReason::NeverSynced(format!("{why}: {lost}")))
        } else {
            (outcome.dropped_frames > 0).then_some(DropReason::TornTail)
        };
        if let Some(reason) = reason {
            reports[i].frames_dropped = outcome.dropped_frames;
            reports[i].dropped = Some(reason);
        }
    }
    reports
}

/// Replays what was appended to the log after `start`, where commit
/// `last_seq` ended: another process's commits, caught up on. With
/// `stop_after`, stops once that commit is replayed and looks no further
/// (a writer may be appending past it right now); without, reads to the
/// end, and when `writer_died` judges what lies past it, as recovery does.
/// Segments are those that may hold `start` onwards, in log order.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub fn scan_tail(
    segs: &[Arc<Segment>],
    capsules: &[Arc<Segment>],
    main: &MainHeader,
    boot_tag: u32,
    start: u64,
    last_seq: CommitSeq,
    stop_after: Option<CommitSeq>,
    writer_died: bool,
) -> Replay {
    let mut replay = Replay::after(last_seq, start, 0);
    let mut scanner = Scanner::new(
        segs.iter().map(|s| &**s).collect(),
        capsules.iter().map(|s| &**s).collect(),
        main.db_id,
        main.page_size,
        boot_tag,
    );
    scanner.stop_after = stop_after;
    scanner.judge_tail = writer_died;
    scanner.chunk = CATCH_UP_CHUNK_BYTES;
    let outcome = scanner.replay(start, last_seq, &mut replay);
    if outcome.corrupt {
        replay.corruption = Some(Corruption {
            first_bad: scanner.index_of(outcome.stop_pos).unwrap_or(0),
            log_offset: Some(outcome.stop_pos),
            reason: outcome.stop_reason.unwrap_or_default(),
        });
    }
    replay.dirty_tail = outcome.valid_after_end;
    replay
}
