//! `Database` and `Transaction`.
//!
//! Every engine call runs through [`engine`], which releases the GIL. The
//! transaction's mutex is only ever taken inside such a call, so no lock of
//! ours is held while Python code runs, and a thread holding the GIL never
//! waits on it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use libcommit::{Database, PageWrite, ReplicaState, Stats, SyncMode};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

use crate::aio::{AsyncState, Job, Work};
use crate::convert;
use crate::errors::{engine, panic_error, to_py_err};
use crate::reports::{metrics_dict, PyCheckpointReport, PyRecoveryReport};
use crate::txn::PyTransaction;

/// How long one wait of `wait_durable` lasts with the GIL released before
/// it checks for signals (Ctrl-C) and waits again.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// The pure-Python half of the asyncio methods: they return its coroutines.
const AIO_MODULE: &str = "libcommit._aio";

pub(crate) fn sync_name(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Full => "full",
        SyncMode::Normal => "normal",
        SyncMode::Off => "off",
    }
}

pub(crate) fn sync_from_u8(raw: u8) -> SyncMode {
    match raw {
        x if x == SyncMode::Normal as u8 => SyncMode::Normal,
        x if x == SyncMode::Off as u8 => SyncMode::Off,
        _ => SyncMode::Full,
    }
}

/// Calls `libcommit._aio.<name>(*args)`.
fn aio<'py, A>(py: Python<'py>, name: &str, args: A) -> PyResult<Bound<'py, PyAny>>
where
    A: pyo3::call::PyCallArgs<'py>,
{
    py.import(AIO_MODULE)?.getattr(name)?.call1(args)
}

/// The coroutine of a `commit_async`: it queues `job` when it starts (a
/// coroutine never awaited commits nothing).
pub(crate) fn pending<'py>(
    py: Python<'py>,
    db: Py<PyDatabase>,
    job: Job,
) -> PyResult<Bound<'py, PyAny>> {
    let pending = Py::new(
        py,
        PendingCommit {
            db,
            job: Mutex::new(Some(job)),
        },
    )?;
    aio(py, "_commit", (pending,))
}

/// An open database. Use it as a context manager (`with libcommit.open(p)
/// as db:`) to close it on exit. One object may be shared by many threads:
/// their commits are made durable together (group commit). It belongs to
/// the process that opened it: in a child made by `os.fork()` every use
/// raises ClosedError (open the database again in the child).
#[pyclass(module = "libcommit", name = "Database", frozen)]
pub(crate) struct PyDatabase {
    db: Database,
    path: String,
    /// The mode this handle was opened with: what `commit` waits for.
    sync: SyncMode,
    /// The asyncio threads' state, made on first use.
    aio: PyOnceLock<Py<AsyncState>>,
}

impl PyDatabase {
    pub(crate) fn new(db: Database, path: String, sync: SyncMode) -> Self {
        PyDatabase {
            db,
            path,
            sync,
            aio: PyOnceLock::new(),
        }
    }

    fn async_state<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, AsyncState>> {
        let state = self.aio.get_or_try_init(py, || {
            let state = Py::new(py, AsyncState::new(self.db.clone()))?;
            // So that exit can stop its idle threads at once.
            aio(py, "_track", (&state,))?;
            Ok::<_, PyErr>(state)
        })?;
        Ok(state.bind(py))
    }

    /// Fails as the database's other methods do once it is closed (or used
    /// in a forked child). Cheap: no engine call, the GIL stays held.
    fn check_open(&self, py: Python<'_>, op: &str) -> PyResult<()> {
        self.db
            .durable_seq()
            .map(|_| ())
            .map_err(|e| to_py_err(py, op, &e))
    }
}

/// A commit made by `commit_async`, queued when its coroutine starts.
// Not added to the module: nothing outside the package makes one.
#[pyclass(module = "libcommit._native", name = "_PendingCommit", frozen)]
pub(crate) struct PendingCommit {
    db: Py<PyDatabase>,
    job: Mutex<Option<Job>>,
}

#[pymethods]
impl PendingCommit {
    /// Queues the commit; returns the future of its sequence number.
    fn _submit(&self, py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let db = self.db.get();
        db.check_open(py, "commit")?;
        let job = lock(&self.job)
            .take()
            .ok_or_else(|| crate::errors::invalid(py, "commit", "already submitted".into()))?;
        let future = event_loop.call_method0("create_future")?.unbind();
        AsyncState::submit(
            db.async_state(py)?,
            job,
            future.clone_ref(py),
            event_loop.clone().unbind(),
        )?;
        Ok(future)
    }
}

#[pymethods]
impl PyDatabase {
    /// Starts a transaction reading at the latest commit.
    fn begin(slf: &Bound<'_, Self>) -> PyResult<PyTransaction> {
        let this = slf.get();
        let txn = engine(slf.py(), "begin", || this.db.begin())?;
        Ok(PyTransaction::new(txn, slf.clone().unbind(), this.sync))
    }

    /// The durability mode the database was opened with ("full", "normal"
    /// or "off"): what ``commit`` waits for unless told otherwise.
    #[getter]
    fn sync(&self) -> &'static str {
        sync_name(self.sync)
    }

    /// ``await db.commit_async(writes)``: ``commit`` for asyncio, taking
    /// the same arguments (copied at the call). A worker thread writes the
    /// commit; under sync "full" the task then awaits durability on the
    /// event loop, sharing syncs with every commit written meanwhile.
    /// Cancelling the task stops the wait, never the commit (see
    /// ``libcommit._aio``).
    #[pyo3(signature = (writes, *, sync=None))]
    fn commit_async<'py>(
        slf: &Bound<'py, Self>,
        writes: &Bound<'py, PyAny>,
        sync: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sync = sync
            .filter(|s| !s.is_none())
            .map(|s| convert::sync_mode(s, "commit"))
            .transpose()?;
        let writes = convert::writes(writes, "commit")?;
        let durable = sync.unwrap_or(slf.get().sync) == SyncMode::Full;
        let sync = if durable {
            Some(SyncMode::Normal)
        } else {
            sync
        };
        let job = Job {
            work: Work::Batch { writes, sync },
            durable,
        };
        pending(slf.py(), slf.clone().unbind(), job)
    }

    /// ``await db.wait_durable_async(seq)``: ``wait_durable`` for asyncio,
    /// without a thread per waiter. True once commit `seq` is durable,
    /// False if `timeout` seconds passed first.
    #[pyo3(signature = (seq, timeout=None))]
    fn wait_durable_async<'py>(
        slf: &Bound<'py, Self>,
        seq: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let seq = convert::u64_arg(seq, "wait_durable_async", "seq")?;
        let timeout = convert::timeout(timeout, "wait_durable_async")?.map(|t| t.as_secs_f64());
        aio(py, "_wait_durable", (slf, seq, timeout))
    }

    /// For `wait_durable_async`: None if `seq` is durable already, else a
    /// future of `event_loop` that becomes True once it is.
    fn _durable_future(
        &self,
        py: Python<'_>,
        seq: u64,
        event_loop: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let durable = self
            .db
            .durable_seq()
            .map_err(|e| to_py_err(py, "wait_durable_async", &e))?;
        if durable >= seq {
            return Ok(None);
        }
        let future = event_loop.call_method0("create_future")?.unbind();
        AsyncState::wait(
            self.async_state(py)?,
            seq,
            future.clone_ref(py),
            event_loop.clone().unbind(),
        )?;
        Ok(Some(future))
    }

    /// Atomically applies `writes` - a mapping ``{pgno: data}`` or an
    /// iterable of ``(pgno, data)`` pairs, where ``data`` is a bytes-like
    /// object, or None to delete the page - and returns the commit's
    /// sequence number. Blind writes never conflict; one bad entry rejects
    /// the whole batch.
    ///
    /// ``sync`` ("full", "normal" or "off") overrides the database's mode
    /// for this commit: with "normal" or "off" it returns once the commit
    /// is written, and the sequence number is a ticket for
    /// ``wait_durable``.
    #[pyo3(signature = (writes, *, sync=None))]
    fn commit(
        &self,
        py: Python<'_>,
        writes: &Bound<'_, PyAny>,
        sync: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let sync = sync
            .filter(|s| !s.is_none())
            .map(|s| convert::sync_mode(s, "commit"))
            .transpose()?;
        let entries = convert::writes(writes, "commit")?;
        let batch: Vec<PageWrite<'_>> = entries
            .iter()
            .map(|(pgno, data)| PageWrite {
                pgno: *pgno,
                data: data.as_deref(),
            })
            .collect();
        engine(py, "commit", || match sync {
            None => self.db.commit_batch(&batch),
            Some(sync) => self.db.commit_batch_with_sync(&batch, sync),
        })
    }

    /// The durable watermark: every commit with a sequence number <= this
    /// is on stable storage, covered by a sync that succeeded (with
    /// sync="off" it moves only when a sync is asked for: wait_durable).
    fn durable_seq(&self, py: Python<'_>) -> PyResult<u64> {
        engine(py, "durable_seq", || self.db.durable_seq())
    }

    /// The replica's status, a dict: state ("off", "standby", "shipping",
    /// "backoff", "fenced", "needs-snapshot"; a follower: "following", or
    /// "forked" once the replica holds another history), epoch, shipped_seq,
    /// lag_commits, lag_bytes, oldest_unshipped_ms (the current RPO),
    /// chunks_shipped, snapshot_seq, snapshots_made, last_error,
    /// put_latency_ms (bucket bound -> count); for a follower applied_seq
    /// (every commit up to it is applied here), behind_commits and behind_ms
    /// (commits in the replica not applied yet, and the age of the oldest),
    /// apply_lag_ms (from the newest applied chunk's making to its commits
    /// being visible here).
    fn replica_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = engine(py, "replica_status", || self.db.replica_status())?;
        crate::replica::status_dict(py, &s)
    }

    /// Waits until commit `seq` is in the replica: True once it is, False
    /// if `timeout` seconds (None: no limit) passed first or the shipper
    /// cannot get there (fenced, needs a snapshot).
    #[pyo3(signature = (seq, timeout=None))]
    fn wait_replicated(
        &self,
        py: Python<'_>,
        seq: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        const OP: &str = "wait_replicated";
        let seq = convert::u64_arg(seq, OP, "seq")?;
        wait_sliced(py, OP, timeout, |slice| {
            if self.db.wait_replicated(seq, slice)? {
                return Ok(Some(true));
            }
            // A shipper that can no longer get there answers false at once;
            // waiting out the caller's timeout would hide that.
            let state = self.db.replica_status()?.state;
            Ok(matches!(
                state,
                ReplicaState::Fenced
                    | ReplicaState::NeedsSnapshot
                    | ReplicaState::Off
                    | ReplicaState::Forked
            )
            .then_some(false))
        })
    }

    /// Promotes this read replica (see ``libcommit.follow``) to the writer:
    /// it applies everything the replica holds, takes the replica with a
    /// new epoch - an old writer that comes back is fenced - and from then
    /// on commits and ships its own commits. Returns the new epoch. Works
    /// on any handle of the database, in any process; the process that
    /// follows does the work. Raises InvalidArgumentError for a database
    /// that does not follow a replica, FencedError when the follower
    /// stopped (a fork) or the replica was taken by another, BusyError when
    /// the follower did not answer within a minute. Releases the GIL while
    /// it waits and stays interruptible: KeyboardInterrupt stops the wait,
    /// not the promotion asked for.
    fn promote(&self, py: Python<'_>) -> PyResult<u64> {
        const OP: &str = "promote";
        self.check_open(py, OP)?;
        let db = self.db.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("libcommit-promote".into())
            .spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| db.promote()));
                let _ = tx.send(outcome.unwrap_or_else(|p| Err(panic_error(p))));
            })
            .map_err(|e| {
                let e = libcommit::Error::Internal(format!("start its thread: {e}"));
                to_py_err(py, OP, &e)
            })?;
        let mut epoch = 0;
        let answer = &mut epoch;
        wait_sliced(py, OP, None, move |slice| match rx.recv_timeout(slice) {
            Ok(outcome) => {
                *answer = outcome?;
                Ok(Some(true))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(libcommit::Error::Internal(
                "its thread ended without an answer".into(),
            )),
        })?;
        Ok(epoch)
    }

    /// Waits until commit `seq` is durable: True once it is, False if
    /// `timeout` seconds (None: no limit) passed first. Releases the GIL
    /// while it waits and stays interruptible (KeyboardInterrupt). Raises
    /// InvalidArgumentError for a `seq` not handed out yet.
    #[pyo3(signature = (seq, timeout=None))]
    fn wait_durable(
        &self,
        py: Python<'_>,
        seq: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        const OP: &str = "wait_durable";
        let seq = convert::u64_arg(seq, OP, "seq")?;
        wait_sliced(py, OP, timeout, |slice| {
            Ok(self.db.wait_durable(seq, slice)?.then_some(true))
        })
    }

    /// Histograms and how far the oldest reader lags: a dict with
    /// "commit_latency_us", "group_size" and "flush_us" (each a dict of
    /// "buckets" - a list of 40 power-of-two bucket counts - "sum" and
    /// "count"), "oldest_reader_snapshot" (None without readers),
    /// "oldest_reader_age_commits" and "oldest_reader_pinned_versions".
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = engine(py, "metrics", || self.db.metrics())?;
        metrics_dict(py, &m)
    }

    /// The latest committed image of page `pgno`, or None if the page was
    /// never written or was deleted.
    fn read<'py>(
        &self,
        py: Python<'py>,
        pgno: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let pgno = convert::pgno(pgno, "read")?;
        let page = engine(py, "read", || self.db.read(pgno))?;
        Ok(page.map(|p| PyBytes::new(py, &p)))
    }

    /// Copies every committed page into the main file and removes the log
    /// segments no longer needed.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<PyCheckpointReport> {
        let report = engine(py, "checkpoint", || self.db.checkpoint())?;
        Ok(report.into())
    }

    /// Counters and watermarks, by the names of the C ``lc_stats`` fields.
    /// ``commits`` and ``conflicts`` count this handle's since it was opened.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s: Stats = engine(py, "stats", || self.db.stats())?;
        let dict = PyDict::new(py);
        for (name, value) in [
            ("commits", s.commits),
            ("conflicts", s.conflicts),
            ("syncs", s.syncs),
            ("bytes_logged", s.bytes_logged),
            ("last_commit_seq", s.last_commit_seq),
            ("durable_commit_seq", s.durable_commit_seq),
            ("checkpoint_seq", s.checkpoint_seq),
            ("active_readers", s.active_readers),
            ("retained_versions", s.retained_versions),
        ] {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// What recovery replayed when the database was opened.
    #[getter]
    fn last_recovery(&self) -> PyRecoveryReport {
        (&self.db.last_recovery()).into()
    }

    /// Closes the database after its in-flight commits finish. Its
    /// transactions can no longer be used. Closing twice is harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        engine(py, "close", || self.db.close())
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.db.is_closed()
    }

    /// The path the database was opened with.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The page size in bytes (the largest page image).
    #[getter]
    fn page_size(&self) -> u32 {
        self.db.page_size()
    }

    /// Returns the database itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the database; exceptions propagate.
    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let _ = (exc_type, exc_value, traceback);
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.db.is_closed() {
            "closed"
        } else {
            "open"
        };
        format!("<libcommit.Database {:?} {state}>", self.path)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside an engine call poisons the mutex; the transaction is
    // still in a defined state (the engine reported the panic), so go on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits in slices of [`WAIT_SLICE`] so Ctrl-C reaches Python: `step`
/// waits one slice and answers `Some(done)` when the wait is over; False
/// once `timeout` seconds (None: no limit) have passed.
fn wait_sliced(
    py: Python<'_>,
    op: &'static str,
    timeout: Option<&Bound<'_, PyAny>>,
    mut step: impl FnMut(Duration) -> libcommit::Result<Option<bool>> + Send,
) -> PyResult<bool> {
    let deadline = convert::timeout(timeout, op)?.map(|t| (Instant::now(), t));
    loop {
        let slice = match deadline {
            None => WAIT_SLICE,
            Some((start, limit)) => limit.saturating_sub(start.elapsed()).min(WAIT_SLICE),
        };
        if let Some(done) = engine(py, op, || step(slice))? {
            return Ok(done);
        }
        if deadline.is_some_and(|(start, limit)| start.elapsed() >= limit) {
            return Ok(false);
        }
        py.check_signals()?;
    }
}
