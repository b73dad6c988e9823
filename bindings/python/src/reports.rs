//! Read-only Python views of the engine's reports.

use libcommit::{
    CheckpointReport, DropReason, HistogramSnapshot, Metrics, RecoveryReport, SegmentReport,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The text of a drop reason, in the engine's own wording ("torn tail",
/// "checksum: ...", "never synced: ...", ...); `None` when every frame
/// was kept.
pub(crate) fn reason_text(reason: Option<&DropReason>) -> Option<String> {
    reason.map(DropReason::to_string)
}

/// What recovery found in one WAL segment (`RecoveryReport.segments`).
#[pyclass(module = "libcommit", name = "SegmentReport", frozen, get_all)]
#[derive(Clone)]
pub(crate) struct PySegmentReport {
    /// The segment file.
    path: String,
    /// The epoch in the segment's name.
    first_epoch: u64,
    /// Lowest epoch among the frames kept (0 if none).
    epoch_min: u64,
    /// Highest epoch among the frames kept (0 if none).
    epoch_max: u64,
    /// Frames replayed.
    frames_kept: u64,
    /// Frames not replayed.
    frames_dropped: u64,
    /// Why frames were dropped ("torn tail", "checksum: ...", "gap: ...",
    /// "io: ...", "after corruption", "never synced: ..."); None when all
    /// were kept.
    reason: Option<String>,
}

impl From<&SegmentReport> for PySegmentReport {
    fn from(s: &SegmentReport) -> Self {
        PySegmentReport {
            path: s.path.to_string_lossy().into_owned(),
            first_epoch: s.first_epoch,
            epoch_min: s.epoch_min,
            epoch_max: s.epoch_max,
            frames_kept: s.frames_kept,
            frames_dropped: s.frames_dropped,
            reason: reason_text(s.dropped.as_ref()),
        }
    }
}

impl PySegmentReport {
    /// The report as a dict (for `libcommit.info` and JSON).
    pub(crate) fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("path", &self.path)?;
        d.set_item("first_epoch", self.first_epoch)?;
        d.set_item("epoch_min", self.epoch_min)?;
        d.set_item("epoch_max", self.epoch_max)?;
        d.set_item("frames_kept", self.frames_kept)?;
        d.set_item("frames_dropped", self.frames_dropped)?;
        d.set_item("reason", &self.reason)?;
        Ok(d)
    }
}

#[pymethods]
impl PySegmentReport {
    fn __repr__(&self) -> String {
        format!(
            "SegmentReport(path={:?}, first_epoch={}, epoch_min={}, epoch_max={}, \
             frames_kept={}, frames_dropped={}, reason={})",
            self.path,
            self.first_epoch,
            self.epoch_min,
            self.epoch_max,
            self.frames_kept,
            self.frames_dropped,
            self.reason
                .as_ref()
                .map_or_else(|| "None".to_owned(), |r| format!("{r:?}"))
        )
    }
}

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
    /// One entry per segment examined, in log order.
    segments: Vec<PySegmentReport>,
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
            segments: r.segments.iter().map(PySegmentReport::from).collect(),
        }
    }
}

impl PyRecoveryReport {
    /// The report as a dict (for `libcommit.info` and JSON).
    pub(crate) fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("segments_recovered", self.segments_recovered)?;
        d.set_item("records_applied", self.records_applied)?;
        d.set_item("commits_recovered", self.commits_recovered)?;
        d.set_item("bytes_read", self.bytes_read)?;
        d.set_item("last_commit_seq", self.last_commit_seq)?;
        d.set_item("partial_segments", &self.partial_segments)?;
        let segments = self
            .segments
            .iter()
            .map(|s| s.to_dict(py))
            .collect::<PyResult<Vec<_>>>()?;
        d.set_item("segments", segments)?;
        Ok(d)
    }
}

#[pymethods]
impl PyRecoveryReport {
    fn __repr__(&self) -> String {
        format!(
            "RecoveryReport(segments_recovered={}, records_applied={}, commits_recovered={}, \
             bytes_read={}, last_commit_seq={}, partial_segments={:?}, segments=[{} entries])",
            self.segments_recovered,
            self.records_applied,
            self.commits_recovered,
            self.bytes_read,
            self.last_commit_seq,
            self.partial_segments,
            self.segments.len()
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

/// A histogram as a dict: "buckets" (a list of 40 counts; bucket 0 counts
/// zeros, bucket i values in [2**(i-1), 2**i), the last one also larger
/// values), "sum" and "count".
fn histogram<'py>(py: Python<'py>, h: &HistogramSnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("buckets", h.buckets.to_vec())?;
    d.set_item("sum", h.sum)?;
    d.set_item("count", h.count())?;
    Ok(d)
}

/// `Database.metrics()` as a dict.
pub(crate) fn metrics_dict<'py>(py: Python<'py>, m: &Metrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("commit_latency_us", histogram(py, &m.commit_latency_us)?)?;
    d.set_item("group_size", histogram(py, &m.group_size)?)?;
    d.set_item("flush_us", histogram(py, &m.flush_us)?)?;
    d.set_item("oldest_reader_snapshot", m.oldest_reader_snapshot)?;
    d.set_item("oldest_reader_age_commits", m.oldest_reader_age_commits)?;
    d.set_item(
        "oldest_reader_pinned_versions",
        m.oldest_reader_pinned_versions,
    )?;
    Ok(d)
}
