//! PyO3 module `libcommit._native`: the Python binding of the libcommit
//! engine. The public package `libcommit` re-exports it; the exception
//! classes live in `libcommit._errors` and are mapped in [`errors`].
//!
//! Every engine call releases the GIL (see [`errors::engine`]), so Python
//! threads committing at once share group-commit syncs.

mod aio;
mod convert;
mod db;
mod errors;
mod inspect;
mod replica;
mod reports;
mod txn;

use libcommit::{Database, RecoveryOptions};
use pyo3::prelude::*;

use crate::db::PyDatabase;
use crate::errors::engine;
use crate::reports::{PyCheckpointReport, PyRecoveryReport, PySegmentReport};
use crate::txn::PyTransaction;

/// Opens the database at `path` (str, bytes or os.PathLike), creating it if
/// missing (unless read-only), and replays its write-ahead log.
///
/// sync: "full" (a commit returns once durable), "normal" (survives a
/// process crash) or "off". mode: "wal" or "native". isolation: "snapshot"
/// or "serializable". lanes: staging lanes, 0 = one per core.
/// max_flush_delay_us: how long a group-commit leader waits for more
/// commits. busy_timeout_ms: how long to wait for another process's lock.
/// replica: a URL ("file:///dir/prefix", "s3://bucket/prefix?endpoint=...")
/// every durable commit is shipped to. replica_snapshot_interval_ms: least
/// time between snapshots of the main file (0 = after every checkpoint).
/// replica_retain_snapshots, replica_retain_window_ms: the replica keeps
/// the newest N snapshots and those younger than the window (and every
/// chunk after the oldest kept); replica_delete_grace_ms: older objects go
/// this long after they stopped being needed. To follow a replica (a read
/// replica) instead, see `follow`.
#[pyfunction]
#[pyo3(
    name = "open",
    signature = (
        path, *, page_size=None, sync=None, mode=None, isolation=None, lanes=None,
        max_flush_delay_us=None, busy_timeout_ms=None, read_only=false, replica=None,
        replica_snapshot_interval_ms=None, replica_retain_snapshots=None,
        replica_retain_window_ms=None, replica_delete_grace_ms=None
    ),
    text_signature = "(path, *, page_size=4096, sync='full', mode='wal', isolation='snapshot', \
        lanes=0, max_flush_delay_us=0, busy_timeout_ms=5000, read_only=False, replica=None, \
        replica_snapshot_interval_ms=3600000, replica_retain_snapshots=2, \
        replica_retain_window_ms=86400000, replica_delete_grace_ms=600000)"
)]
#[allow(clippy::too_many_arguments)]
fn open_database<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    page_size: Option<&Bound<'py, PyAny>>,
    sync: Option<&Bound<'py, PyAny>>,
    mode: Option<&Bound<'py, PyAny>>,
    isolation: Option<&Bound<'py, PyAny>>,
    lanes: Option<&Bound<'py, PyAny>>,
    max_flush_delay_us: Option<&Bound<'py, PyAny>>,
    busy_timeout_ms: Option<&Bound<'py, PyAny>>,
    read_only: bool,
    replica: Option<String>,
    replica_snapshot_interval_ms: Option<u64>,
    replica_retain_snapshots: Option<u32>,
    replica_retain_window_ms: Option<u64>,
    replica_delete_grace_ms: Option<u64>,
) -> PyResult<PyDatabase> {
    let (path_buf, path_text) = convert::path(path, "open")?;
    let options = convert::OpenArgs {
        page_size,
        sync,
        mode,
        isolation,
        lanes,
        max_flush_delay_us,
        busy_timeout_ms,
        read_only,
    }
    .options(py, "open")?;
    let options = replica::with_replica(py, options, replica)?;
    let options = replica::with_retention(
        options,
        &replica::RetentionArgs {
            snapshot_interval_ms: replica_snapshot_interval_ms,
            snapshots: replica_retain_snapshots,
            window_ms: replica_retain_window_ms,
            grace_ms: replica_delete_grace_ms,
        },
        "open",
    )?;
    let sync = options.sync;
    let db = engine(py, "open", || Database::open(&path_buf, options))?;
    Ok(PyDatabase::new(db, path_text, sync))
}

/// Recovers the closed database at `path` offline: replays its write-ahead
/// log into the main file and reports what it found. skip_corrupt: keep the
/// durable prefix instead of raising CorruptError (segments not replayed
/// are renamed to "{segment}.corrupt"). delete_after: delete the replayed
/// segments once their pages are in the main file.
#[pyfunction]
#[pyo3(signature = (path, *, skip_corrupt=false, delete_after=false))]
fn recover(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    skip_corrupt: bool,
    delete_after: bool,
) -> PyResult<PyRecoveryReport> {
    let (path_buf, _) = convert::path(path, "recover")?;
    let options = RecoveryOptions {
        skip_corrupt,
        delete_after,
        ..RecoveryOptions::default()
    };
    let report = engine(py, "recover", || libcommit::recover(&path_buf, options))?;
    Ok((&report).into())
}

/// libcommit: an embeddable commit engine - durable, concurrent,
/// recoverable page commits.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", libcommit::VERSION)?;
    // The engine's status list, which `libcommit.Status` must match.
    let statuses: Vec<(i32, &str, &str)> = libcommit::Status::ALL
        .iter()
        .map(|s| (*s as i32, s.name(), s.as_str()))
        .collect();
    m.add("STATUSES", statuses)?;
    m.add_function(wrap_pyfunction!(open_database, m)?)?;
    m.add_function(wrap_pyfunction!(recover, m)?)?;
    m.add_function(wrap_pyfunction!(replica::restore, m)?)?;
    m.add_function(wrap_pyfunction!(replica::follow, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::info, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::verify, m)?)?;
    m.add_class::<PyDatabase>()?;
    m.add_class::<PyTransaction>()?;
    m.add_class::<PyRecoveryReport>()?;
    m.add_class::<PySegmentReport>()?;
    m.add_class::<PyCheckpointReport>()?;
    Ok(())
}
