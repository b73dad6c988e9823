//! Read-only Python views of the engine's reports.

use libcommit::{CheckpointReport, RecoveryReport};
use pyo3::prelude::*;

/// What recovery did: on open (`Database.last_recovery`) or offline
/// (`libcommit.recover`).
#[pyclass(module = "libcommit", name = "RecoveryReport", frozen, get_all)]
pub(crate) struct PyRecoveryReport {
    /// WAL segments replayed.
    segments_recovered: u64,
    /// Page records (writes and deletes) replayed.
    records_applied: u64,
    /// Commits replayed.
    commits_recovered: u64,
    /// Log bytes read.
    bytes_read: u64,
    /// The last commit recovered (0 if none).
    last_commit_seq: u64,
    /// Segments not replayed (corrupt, or after the first corrupt one).
    partial_segments: Vec<String>,
}

impl From<&RecoveryReport> for PyRecoveryReport {
    fn from(r: &RecoveryReport) -> Self {
        PyRecoveryReport {
            segments_recovered: r.segments_recovered,
            records_applied: r.records_applied,
            commits_recovered: r.commits_recovered,
            bytes_read: r.bytes_read,
            last_commit_seq: r.last_commit_seq,
            partial_segments: r
                .partial_segments
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        }
    }
}

#[pymethods]
impl PyRecoveryReport {
    fn __repr__(&self) -> String {
        format!(
            "RecoveryReport(segments_recovered={}, records_applied={}, commits_recovered={}, \
             bytes_read={}, last_commit_seq={}, partial_segments={:?})",
            self.segments_recovered,
            self.records_applied,
            self.commits_recovered,
            self.bytes_read,
            self.last_commit_seq,
            self.partial_segments
        )
    }
}

/// What a checkpoint did.
#[pyclass(module = "libcommit", name = "CheckpointReport", frozen, get_all)]
pub(crate) struct PyCheckpointReport {
    /// Pages copied into the main file.
    pages_written: u64,
    /// WAL segments deleted.
    segments_removed: u64,
    /// Every commit <= this is now in the main file.
    checkpoint_seq: u64,
}

impl From<CheckpointReport> for PyCheckpointReport {
    fn from(r: CheckpointReport) -> Self {
        PyCheckpointReport {
            pages_written: r.pages_written,
            segments_removed: r.segments_removed,
            checkpoint_seq: r.checkpoint_seq,
        }
    }
}

#[pymethods]
impl PyCheckpointReport {
    fn __repr__(&self) -> String {
        format!(
            "CheckpointReport(pages_written={}, segments_removed={}, checkpoint_seq={})",
            self.pages_written, self.segments_removed, self.checkpoint_seq
        )
    }
}
