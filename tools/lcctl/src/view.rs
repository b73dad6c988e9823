//! Serializable views of the engine's reports, and their human rendering.
//! The engine's types stay free of serde; lcctl owns its JSON shape.

use std::fmt::Write as _;
use std::path::Path;

use libcommit::inspect::SegmentInfo;
use libcommit::{DropReason, RecoveryReport, SegmentReport};
use serde::Serialize;

/// A path as text (lossy for non-UTF-8 names, which only affects display).
pub fn text(path: &Path) -> String {
    path.display().to_string()
}

/// The file name of `path`, for compact human tables.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| text(path), |n| n.to_string_lossy().into_owned())
}

/// Why a segment, or the rest of one, was not replayed.
#[derive(Serialize, Clone, Debug)]
pub struct DropView {
    /// The engine's name for it ([`DropReason::name`]).
    pub reason: &'static str,
    pub detail: Option<String>,
    /// The engine's text for it, as C and Python show it too.
    #[serde(skip)]
    text: String,
}

impl From<&DropReason> for DropView {
    fn from(d: &DropReason) -> DropView {
        DropView {
            reason: d.name(),
            detail: d.detail().map(str::to_string),
            text: d.to_string(),
        }
    }
}

impl DropView {
    pub fn human(&self) -> &str {
        &self.text
    }
}

/// What recovery found (or would find) in one segment.
#[derive(Serialize, Clone, Debug)]
pub struct SegmentReportView {
    pub path: String,
    pub first_epoch: u64,
    /// Lowest and highest epoch among the frames kept (0 when none).
    pub epoch_min: u64,
    pub epoch_max: u64,
    pub frames_kept: u64,
    pub frames_dropped: u64,
    pub dropped: Option<DropView>,
}

impl From<&SegmentReport> for SegmentReportView {
    fn from(s: &SegmentReport) -> SegmentReportView {
        SegmentReportView {
            path: text(&s.path),
            first_epoch: s.first_epoch,
            epoch_min: s.epoch_min,
            epoch_max: s.epoch_max,
            frames_kept: s.frames_kept,
            frames_dropped: s.frames_dropped,
            dropped: s.dropped.as_ref().map(DropView::from),
        }
    }
}

/// A recovery report (on open, offline, or a dry run).
#[derive(Serialize, Clone, Debug)]
pub struct RecoveryView {
    pub segments_recovered: u64,
    pub records_applied: u64,
    pub commits_recovered: u64,
    pub bytes_read: u64,
    pub last_commit_seq: u64,
    pub partial_segments: Vec<String>,
    pub torn_tail: bool,
    pub segments: Vec<SegmentReportView>,
}

impl From<&RecoveryReport> for RecoveryView {
    fn from(r: &RecoveryReport) -> RecoveryView {
        RecoveryView {
            segments_recovered: r.segments_recovered,
            records_applied: r.records_applied,
            commits_recovered: r.commits_recovered,
            bytes_read: r.bytes_read,
            last_commit_seq: r.last_commit_seq,
            partial_segments: r.partial_segments.iter().map(|p| text(p)).collect(),
            torn_tail: r
                .segments
                .iter()
                .any(|s| s.dropped == Some(DropReason::TornTail)),
            segments: r.segments.iter().map(SegmentReportView::from).collect(),
        }
    }
}

impl RecoveryView {
    /// "30 commits (30 records, 49276 bytes) from 1 segment(s), up to commit 60".
    pub fn summary(&self) -> String {
        format!(
            "{} commits ({} records, {} bytes) from {} segment(s), up to commit {}",
            self.commits_recovered,
            self.records_applied,
            self.bytes_read,
            self.segments_recovered,
            self.last_commit_seq
        )
    }

    /// One line per segment, indented.
    pub fn segment_lines(&self, out: &mut String) {
        if self.segments.is_empty() {
            out.push_str("  (no segments)\n");
        }
        for s in &self.segments {
            let epochs = if s.frames_kept == 0 {
                "-".to_string()
            } else {
                format!("{}..={}", s.epoch_min, s.epoch_max)
            };
            let _ = write!(
                out,
                "  {}  epochs {}  frames kept {}, dropped {}",
                file_name(Path::new(&s.path)),
                epochs,
                s.frames_kept,
                s.frames_dropped
            );
            match &s.dropped {
                Some(d) => {
                    let _ = writeln!(out, " ({})", d.human());
                }
                None => out.push('\n'),
            }
        }
    }
}

/// One segment file as found on disk.
#[derive(Serialize, Clone, Debug)]
pub struct SegmentView {
    pub path: String,
    pub first_epoch: u64,
    /// The logical log window [log_start, log_end) this file holds.
    pub log_start: u64,
    pub log_end: u64,
    pub resume_offset: u64,
    pub file_bytes: u64,
}

impl From<&SegmentInfo> for SegmentView {
    fn from(s: &SegmentInfo) -> SegmentView {
        SegmentView {
            path: text(&s.path),
            first_epoch: s.first_epoch,
            log_start: s.log_start,
            log_end: s.log_start + s.capacity,
            resume_offset: s.resume_offset,
            file_bytes: s.file_bytes,
        }
    }
}

impl SegmentView {
    pub fn line(&self) -> String {
        let resume = if self.resume_offset == self.log_start {
            String::new()
        } else {
            format!("  resume at {}", self.resume_offset)
        };
        format!(
            "  {}  first epoch {}  log {}..{}  {} bytes{}\n",
            file_name(Path::new(&self.path)),
            self.first_epoch,
            self.log_start,
            self.log_end,
            self.file_bytes,
            resume
        )
    }
}

/// Renders aligned "key  value" lines.
pub struct Lines(pub String);

impl Lines {
    pub fn new() -> Lines {
        Lines(String::new())
    }

    pub fn kv(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{key:<16} {value}");
    }

    pub fn raw(&mut self, line: &str) {
        self.0.push_str(line);
    }
}
