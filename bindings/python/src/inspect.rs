//! `libcommit.info` and `libcommit.verify`: read-only inspection of a
//! database's files (the engine's `inspect` module), as plain dicts that
//! `python -m libcommit` prints or dumps as JSON.

use std::path::Path;

use libcommit::inspect::{self, DatabaseInfo, SegmentInfo, VerifyReport};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;
use crate::errors::engine;
use crate::reports::PyRecoveryReport;

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn segment_dict<'py>(py: Python<'py>, s: &SegmentInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", path_text(&s.path))?;
    d.set_item("first_epoch", s.first_epoch)?;
    d.set_item("log_start", s.log_start)?;
    d.set_item("capacity", s.capacity)?;
    d.set_item("resume_offset", s.resume_offset)?;
    d.set_item("file_bytes", s.file_bytes)?;
    Ok(d)
}

fn segment_list<'py>(py: Python<'py>, list: &[SegmentInfo]) -> PyResult<Vec<Bound<'py, PyDict>>> {
    list.iter().map(|s| segment_dict(py, s)).collect()
}

fn info_dict<'py>(py: Python<'py>, info: &DatabaseInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", path_text(&info.path))?;
    d.set_item("page_size", info.page_size)?;
    d.set_item("db_id", info.db_id)?;
    d.set_item("generation", info.generation)?;
    d.set_item("checkpoint_seq", info.checkpoint_seq)?;
    d.set_item("last_commit_seq", info.last_commit_seq)?;
    d.set_item("main_pages", info.main_pages)?;
    d.set_item("main_file_bytes", info.main_file_bytes)?;
    d.set_item("segments", segment_list(py, &info.segments)?)?;
    d.set_item(
        "capsule_segments",
        segment_list(py, &info.capsule_segments)?,
    )?;
    d.set_item(
        "recovery",
        PyRecoveryReport::from(&info.recovery).to_dict(py)?,
    )?;
    d.set_item("corruption", &info.corruption)?;
    Ok(d)
}

fn verify_dict<'py>(
    py: Python<'py>,
    path: &str,
    report: &VerifyReport,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", path)?;
    d.set_item("clean", report.clean())?;
    d.set_item("units_checked", report.units_checked)?;
    d.set_item("bytes_checked", report.bytes_checked)?;
    d.set_item("torn_tail", report.torn_tail)?;
    let bad = report
        .bad
        .iter()
        .map(|b| {
            let u = PyDict::new(py);
            u.set_item("file", path_text(&b.file))?;
            u.set_item("offset", b.offset)?;
            u.set_item("what", &b.what)?;
            Ok(u)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("bad", bad)?;
    Ok(d)
}

/// Describes the database at `path` from its files, without opening it for
/// writing (it may be open elsewhere): page size, checkpoint, the WAL
/// segments still needed, what opening it now would replay ("recovery",
/// with one entry per segment) and, if opening would fail, why
/// ("corruption", else None). Raises CorruptError if the main file is not
/// a database, StorageError if it cannot be read.
#[pyfunction]
pub(crate) fn info<'py>(py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let (path_buf, _) = convert::path(path, "info")?;
    let info = engine(py, "info", || inspect::info(&path_buf))?;
    info_dict(py, &info)
}

/// Checks every checksum of the database at `path`: both main headers, the
/// page map, every checkpointed page, every segment header, every frame
/// and capsule recovery would replay, and every image they name. Returns
/// {"clean": bool, "bad": [{"file", "offset", "what"}, ...], ...}; a torn
/// tail (normal after a crash) is reported as "torn_tail", not as bad.
///
/// `progress`, if given, is called as `progress(done, total)` while pages
/// and images are checked (from the calling thread, with the GIL held); an
/// exception it raises stops further calls and is raised once the check
/// ends.
#[pyfunction]
#[pyo3(signature = (path, *, progress=None))]
pub(crate) fn verify<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (path_buf, path_str) = convert::path(path, "verify")?;
    let progress = progress.filter(|p| !p.is_none(py));
    let mut callback_error: Option<PyErr> = None;
    let report = engine(py, "verify", || {
        inspect::verify(&path_buf, &mut |done, total| {
            if let (Some(callback), None) = (&progress, &callback_error) {
                // The engine holds no lock here: it only reads files.
                callback_error = Python::attach(|py| callback.call1(py, (done, total)).err());
            }
        })
    })?;
    if let Some(error) = callback_error {
        return Err(error);
    }
    verify_dict(py, &path_str, &report)
}
