//! What a scan of the log yields: the replayed records and commit ends,
//! the segments found, and what it cut or found corrupt.

use std::path::PathBuf;

use crate::mvcc::VersionData;
use crate::types::{CommitSeq, Pgno, RecoveryReport};
use crate::wal::Segment;

/// One replayed page record.
pub struct Record {
    pub pgno: Pgno,
    pub seq: CommitSeq,
    pub data: VersionData,
}

/// Where the scan found corruption.
pub struct Corruption {
    /// Index (into `Replay::segments`) of the first segment not replayed.
    pub first_bad: usize,
    /// Where in the WAL the bad frame is, when a frame (not a header or a
    /// missing segment) is what failed.
    pub log_offset: Option<u64>,
    pub reason: String,
}

/// The outcome of scanning a database's log.
pub struct Replay {
    /// Live segments (not wholly before the checkpoint), in log order.
    pub segments: Vec<Segment>,
    /// Segments wholly before the checkpoint: garbage to delete.
    pub stale: Vec<PathBuf>,
    /// Leftover temporary files of an interrupted segment preparation.
    pub tmp: Vec<PathBuf>,
    pub records: Vec<Record>,
    /// Segments of the capsule stream, by log_start.
    pub capsule_segments: Vec<Segment>,
    /// (capsule offset, seq) of each replayed NATIVE commit.
    pub capsules: Vec<(u64, CommitSeq)>,
    /// Just past the last byte of any replayed capsule.
    pub capsules_end: u64,
    /// Some replayed marker names a capsule written without FSYNC_1 (sync
    /// below FULL): a process adopting it must sync capsules before its
    /// next marker sync, or that marker could become durable first.
    pub relaxed_capsules: bool,
    /// (seq, end offset) of each replayed commit.
    pub ends: Vec<(CommitSeq, u64)>,
    pub last_seq: CommitSeq,
    /// Log offset just past the last replayed commit.
    pub end: u64,
    /// Valid frames exist past `end` (an abandoned tail): the next writer
    /// must start a fresh segment rather than overwrite in place.
    pub dirty_tail: bool,
    /// Highest epoch seen in segment names and commit records.
    pub last_epoch: u64,
    pub corruption: Option<Corruption>,
    pub report: RecoveryReport,
}

impl Replay {
    /// Nothing replayed yet: the log continues after commit `last_seq`,
    /// at `end`.
    pub(super) fn after(last_seq: CommitSeq, end: u64, last_epoch: u64) -> Replay {
        Replay {
            segments: Vec::new(),
            stale: Vec::new(),
            tmp: Vec::new(),
            records: Vec::new(),
            capsule_segments: Vec::new(),
            capsules: Vec::new(),
            capsules_end: 0,
            relaxed_capsules: false,
            ends: Vec::new(),
            last_seq,
            end,
            dirty_tail: false,
            last_epoch,
            corruption: None,
            report: RecoveryReport::default(),
        }
    }
}

/// The newest record of each page, sorted by page.
pub fn newest_per_page(records: &[Record]) -> Vec<(Pgno, VersionData)> {
    let mut newest: std::collections::BTreeMap<Pgno, (CommitSeq, &VersionData)> =
        std::collections::BTreeMap::new();
    for r in records {
        let e = newest.entry(r.pgno).or_insert((r.seq, &r.data));
        if r.seq >= e.0 {
            *e = (r.seq, &r.data);
        }
    }
    newest
        .into_iter()
        .map(|(p, (_, d))| (p, d.clone()))
        .collect()
}
