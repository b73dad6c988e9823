//! `libcommit.Transaction`: a snapshot plus a write set, committed or
//! aborted once.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use libcommit::{Error, SyncMode, Transaction};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::aio::{Job, Work};
use crate::convert;
use crate::db::{lock, pending, sync_from_u8, sync_name, PyDatabase};
use crate::errors::engine;

/// A snapshot plus a write set. Reads see the snapshot and this
/// transaction's own writes; `commit()` fails with ConflictError if another
/// transaction committed one of the written pages after the snapshot. Use it
/// as a context manager: it commits on normal exit and aborts on an
/// exception.
#[pyclass(module = "libcommit", name = "Transaction", frozen)]
pub(crate) struct PyTransaction {
    /// `None` once committed or aborted. Locked only with the GIL released.
    inner: Mutex<Option<Transaction>>,
    /// The database it came from: `commit_async` awaits durability there.
    db: Py<PyDatabase>,
    /// What its commit waits for (a `SyncMode` as u8): the database's mode
    /// until `set_sync`.
    sync: AtomicU8,
}

fn finished() -> Error {
    Error::Closed("transaction already finished (committed or aborted)".into())
}

impl PyTransaction {
    pub(crate) fn new(txn: Transaction, db: Py<PyDatabase>, sync: SyncMode) -> Self {
        PyTransaction {
            inner: Mutex::new(Some(txn)),
            db,
            sync: AtomicU8::new(sync as u8),
        }
    }

    /// Runs `f` on the live transaction with the GIL released.
    fn with_live<T, F>(&self, py: Python<'_>, op: &str, f: F) -> PyResult<T>
    where
        F: FnOnce(&mut Transaction) -> libcommit::Result<T> + Send,
        T: Send,
    {
        engine(py, op, || match lock(&self.inner).as_mut() {
            Some(txn) => f(txn),
            None => Err(finished()),
        })
    }

    /// Takes the transaction out (it is finished from now on).
    fn take(&self, py: Python<'_>) -> Option<Transaction> {
        py.detach(|| lock(&self.inner).take())
    }

    fn is_live(&self, py: Python<'_>) -> bool {
        py.detach(|| lock(&self.inner).is_some())
    }
}

#[pymethods]
impl PyTransaction {
    /// The commit sequence number this transaction reads at.
    #[getter]
    fn snapshot(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_live(py, "snapshot", |txn| Ok(txn.snapshot()))
    }

    /// Page `pgno` as this transaction sees it, or None if not found.
    fn read<'py>(
        &self,
        py: Python<'py>,
        pgno: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let pgno = convert::pgno(pgno, "read")?;
        let page = self.with_live(py, "read", |txn| txn.read(pgno))?;
        Ok(page.map(|p| PyBytes::new(py, &p)))
    }

    /// Sets page `pgno` to `data` (bytes, bytearray or memoryview; at most
    /// ``page_size`` bytes) when the transaction commits.
    fn write(
        &self,
        py: Python<'_>,
        pgno: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let pgno = convert::pgno(pgno, "write")?;
        let data = convert::data(data, "write")?;
        self.with_live(py, "write", |txn| txn.write(pgno, &data))
    }

    /// Sets the durability mode of this transaction's commit ("full",
    /// "normal" or "off"), overriding the database's; see
    /// ``Database.commit``.
    fn set_sync(&self, py: Python<'_>, mode: &Bound<'_, PyAny>) -> PyResult<()> {
        let mode = convert::sync_mode(mode, "set_sync")?;
        self.with_live(py, "set_sync", |txn| {
            txn.set_sync(mode);
            Ok(())
        })?;
        self.sync.store(mode as u8, Ordering::Relaxed);
        Ok(())
    }

    /// What this transaction's commit waits for ("full", "normal" or
    /// "off"): the database's mode unless ``set_sync`` changed it.
    #[getter]
    fn sync(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.with_live(py, "sync", |_| Ok(()))?;
        Ok(sync_name(sync_from_u8(self.sync.load(Ordering::Relaxed))))
    }

    /// ``await txn.commit_async()``: ``commit`` for asyncio (see
    /// ``Database.commit_async``). The call finishes the transaction: it
    /// cannot be used afterwards, whether the commit is awaited, raises,
    /// or the awaiting task is cancelled.
    fn commit_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut txn = engine(py, "commit", || {
            lock(&self.inner).take().ok_or_else(finished)
        })?;
        let durable = sync_from_u8(self.sync.load(Ordering::Relaxed)) == SyncMode::Full;
        if durable {
            txn.set_sync(SyncMode::Normal);
        }
        let job = Job {
            work: Work::Txn(txn),
            durable,
        };
        pending(py, self.db.clone_ref(py), job)
    }

    /// Deletes page `pgno` when the transaction commits.
    fn delete(&self, py: Python<'_>, pgno: &Bound<'_, PyAny>) -> PyResult<()> {
        let pgno = convert::pgno(pgno, "delete")?;
        self.with_live(py, "delete", |txn| txn.delete(pgno))
    }

    /// Validates and commits; returns the commit sequence number (the
    /// snapshot, for a transaction that wrote nothing). The transaction is
    /// finished afterwards, also when this raises.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        engine(py, "commit", || match lock(&self.inner).take() {
            Some(txn) => txn.commit(),
            None => Err(finished()),
        })
    }

    /// Discards the transaction. Harmless on a finished transaction.
    fn abort(&self, py: Python<'_>) {
        if let Some(txn) = self.take(py) {
            py.detach(|| txn.abort());
        }
    }

    /// Returns the transaction itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits if the block ended normally (and the transaction is still
    /// open), aborts if it raised; exceptions propagate.
    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        if exc_type.is_none() && self.is_live(py) {
            self.commit(py)?;
        } else {
            self.abort(py);
        }
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match py.detach(|| lock(&self.inner).as_ref().map(Transaction::snapshot)) {
            Some(snapshot) => format!("<libcommit.Transaction snapshot={snapshot}>"),
            None => "<libcommit.Transaction finished>".to_owned(),
        }
    }
}
