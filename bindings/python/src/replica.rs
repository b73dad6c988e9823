//! Replication from Python: `open(..., replica=url)`, `restore`,
//! `follow` (a read replica; `Database.promote` is in `db`), and the
//! status dictionary of `Database.replica_status`.

use libcommit::{Database, Options, ReplicaStatus, RestoreTarget, PUT_LATENCY_BUCKETS_MS};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;
use crate::db::PyDatabase;
use crate::errors::{engine, invalid, to_py_err};

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

pub(crate) fn with_retention(
    mut options: Options,
    a: &RetentionArgs,
    op: &str,
) -> PyResult<Options> {
    if a.snapshots == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{op}: replica_retain_snapshots must be at least 1"
        )));
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
        ("applied_seq", s.applied_seq),
        ("behind_commits", s.behind_commits),
        ("behind_ms", s.behind_ms),
        ("apply_lag_ms", s.apply_lag_ms),
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

/// Opens the database at `path` as a read replica of the replica at `url`:
/// restored from it when `path` does not exist, resumed where it stopped
/// when it does. A background thread applies the replica's new commits as
/// they appear (it looks every `poll_ms` milliseconds); the database's own
/// commits raise ReadOnlyError until `promote()`. A database whose history
/// the replica does not continue - it has commits the replica never had (a
/// fork), or the replica was rolled back or restarted - raises FencedError;
/// with resnapshot=True it is replaced by a fresh restore instead. One that
/// never shipped to, was restored from or followed `url` raises
/// InvalidArgumentError (resnapshot=True replaces it too).
///
/// The other keywords are those of `open`: they apply to reading and, once
/// promoted, to committing and shipping.
#[pyfunction]
#[pyo3(
    signature = (
        url, path, *, poll_ms=None, resnapshot=false, sync=None, mode=None,
        isolation=None, lanes=None, max_flush_delay_us=None, busy_timeout_ms=None,
        replica_snapshot_interval_ms=None, replica_retain_snapshots=None,
        replica_retain_window_ms=None, replica_delete_grace_ms=None
    ),
    text_signature = "(url, path, *, poll_ms=100, resnapshot=False, sync='full', mode='wal', \
        isolation='snapshot', lanes=0, max_flush_delay_us=0, busy_timeout_ms=5000, \
        replica_snapshot_interval_ms=3600000, replica_retain_snapshots=2, \
        replica_retain_window_ms=86400000, replica_delete_grace_ms=600000)"
)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn follow<'py>(
    py: Python<'py>,
    url: &Bound<'py, PyAny>,
    path: &Bound<'py, PyAny>,
    poll_ms: Option<&Bound<'py, PyAny>>,
    resnapshot: bool,
    sync: Option<&Bound<'py, PyAny>>,
    mode: Option<&Bound<'py, PyAny>>,
    isolation: Option<&Bound<'py, PyAny>>,
    lanes: Option<&Bound<'py, PyAny>>,
    max_flush_delay_us: Option<&Bound<'py, PyAny>>,
    busy_timeout_ms: Option<&Bound<'py, PyAny>>,
    replica_snapshot_interval_ms: Option<u64>,
    replica_retain_snapshots: Option<u32>,
    replica_retain_window_ms: Option<u64>,
    replica_delete_grace_ms: Option<u64>,
) -> PyResult<PyDatabase> {
    const OP: &str = "follow";
    let url = convert::replica_url(url, OP, "url")?;
    let (path_buf, path_text) = convert::path(path, OP)?;
    let options = convert::OpenArgs {
        page_size: None,
        sync,
        mode,
        isolation,
        lanes,
        max_flush_delay_us,
        busy_timeout_ms,
        read_only: false,
    }
    .options(py, OP)?;
    let mut options = with_retention(
        options,
        &RetentionArgs {
            snapshot_interval_ms: replica_snapshot_interval_ms,
            snapshots: replica_retain_snapshots,
            window_ms: replica_retain_window_ms,
            grace_ms: replica_delete_grace_ms,
        },
        OP,
    )?;
    if let Some(obj) = poll_ms {
        options.replica_poll_ms = convert::u64_arg(obj, OP, "poll_ms")?;
        if options.replica_poll_ms == 0 {
            return Err(invalid(py, OP, "poll_ms must be at least 1".into()));
        }
    }
    options.replica_resnapshot = resnapshot;
    let sync = options.sync;
    let db = engine(py, OP, || Database::open_follower(&url, &path_buf, options))?;
    Ok(PyDatabase::new(db, path_text, sync))
}
