//! Replication from Python: `open(..., replica=url)`, `restore`, and the
//! status dictionary of `Database.replica_status`.

use libcommit::{Options, ReplicaStatus, RestoreTarget, PUT_LATENCY_BUCKETS_MS};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;
use crate::errors::{engine, to_py_err};

pub(crate) fn with_replica(
    py: Python<'_>,
    mut options: Options,
    url: Option<String>,
) -> PyResult<Options> {
    if let Some(u) = &url {
        libcommit::check_replica_url(u).map_err(|e| to_py_err(py, "open", &e))?;
    }
    options.replica = url;
    Ok(options)
}

/// The snapshot and retention keywords of `open` (None: the default).
pub(crate) struct RetentionArgs {
    pub(crate) snapshot_interval_ms: Option<u64>,
    pub(crate) snapshots: Option<u32>,
    pub(crate) window_ms: Option<u64>,
    pub(crate) grace_ms: Option<u64>,
}

pub(crate) fn with_retention(mut options: Options, a: &RetentionArgs) -> PyResult<Options> {
    if a.snapshots == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "open: replica_retain_snapshots must be at least 1",
        ));
    }
    options.replica_snapshot_interval_ms = a
        .snapshot_interval_ms
        .unwrap_or(options.replica_snapshot_interval_ms);
    options.replica_retain_snapshots = a.snapshots.unwrap_or(options.replica_retain_snapshots);
    options.replica_retain_window_ms = a.window_ms.unwrap_or(options.replica_retain_window_ms);
    options.replica_delete_grace_ms = a.grace_ms.unwrap_or(options.replica_delete_grace_ms);
    Ok(options)
}

pub(crate) fn status_dict<'py>(py: Python<'py>, s: &ReplicaStatus) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", s.state.as_str())?;
    for (k, v) in [
        ("epoch", s.epoch),
        ("shipped_seq", s.shipped_seq),
        ("lag_commits", s.lag_commits),
        ("lag_bytes", s.lag_bytes),
        ("oldest_unshipped_ms", s.oldest_unshipped_ms),
        ("chunks_shipped", s.chunks_shipped),
        ("snapshot_seq", s.snapshot_seq),
        ("snapshots_made", s.snapshots_made),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("last_error", &s.last_error)?;
    let h = PyDict::new(py);
    for (i, count) in s.put_latency_counts.iter().enumerate() {
        let bound = PUT_LATENCY_BUCKETS_MS.get(i).map_or(u64::MAX, |&b| b);
        h.set_item(bound, *count)?;
    }
    d.set_item("put_latency_ms", h)?;
    Ok(d)
}

/// Restores the replica at `url` into a new database at `path`: to the
/// latest commit, exactly to commit `seq`, or to every chunk made at or
/// before `time` (seconds since the Unix epoch, a float). Returns the
/// restored commit_seq. Raises CorruptError naming the object for a gap,
/// a broken hash chain or a bad checksum.
#[pyfunction]
#[pyo3(signature = (url, path, *, seq=None, time=None))]
pub(crate) fn restore(
    py: Python<'_>,
    url: String,
    path: &Bound<'_, PyAny>,
    seq: Option<&Bound<'_, PyAny>>,
    time: Option<f64>,
) -> PyResult<u64> {
    const OP: &str = "restore";
    let (dest, _) = convert::path(path, OP)?;
    let target = match (seq, time) {
        (Some(_), Some(_)) => {
            let e = libcommit::Error::InvalidArgument("give seq or time, not both".into());
            return Err(to_py_err(py, OP, &e));
        }
        (Some(s), None) => RestoreTarget::Seq(convert::u64_arg(s, OP, "seq")?),
        (None, Some(t)) if t.is_finite() && t >= 0.0 => {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let ms = (t * 1000.0) as u64;
            RestoreTarget::TimeMs(ms)
        }
        (None, Some(t)) => {
            let e = libcommit::Error::InvalidArgument(format!("time {t}: not a time"));
            return Err(to_py_err(py, OP, &e));
        }
        (None, None) => RestoreTarget::Latest,
    };
    let r = engine(py, OP, || libcommit::restore(&url, &dest, target))?;
    Ok(r.restored_seq)
}
