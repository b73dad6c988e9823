//! The opaque handle types and the Rust state behind them.

#![allow(non_camel_case_types)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libcommit::{Database, Options, Transaction};

use crate::boundary::{boundary, Failure, FfiResult};
use crate::handle::{arc_clone, box_mut, box_ref, Castable, OwnershipArc, OwnershipBox};
use crate::types::lc_status;

/// An open database. Thread-safe: share one handle across threads. Created
/// by `lc_open`, freed by `lc_close`.
#[derive(Debug)]
pub struct lc_db {
    _private: [u8; 0],
}

/// A transaction: a snapshot plus a write set. Use from one thread at a
/// time. Created by `lc_begin`, consumed by `lc_txn_commit` or `lc_txn_abort`.
#[derive(Debug)]
pub struct lc_txn {
    _private: [u8; 0],
}

/// Options for `lc_open`. Created by `lc_options_new`, freed by
/// `lc_options_free`; `lc_open` copies what it needs.
#[derive(Debug)]
pub struct lc_options {
    _private: [u8; 0],
}

/// What an `lc_db` points to.
pub(crate) struct DbState {
    pub(crate) db: Database,
    /// Set when a panic unwound out of a call on this database: its state
    /// may be inconsistent, so every later call reports LC_CLOSED.
    failed: AtomicBool,
}

impl DbState {
    pub(crate) fn new(db: Database) -> DbState {
        DbState {
            db,
            failed: AtomicBool::new(false),
        }
    }

    /// LC_CLOSED if the handle was closed or failed earlier.
    pub(crate) fn check_usable(&self) -> FfiResult {
        if self.failed.load(Ordering::Acquire) {
            return Err(Failure::closed(format!(
                "database {} failed earlier (a panic was caught); close and reopen it",
                self.db.path().display()
            )));
        }
        if self.db.is_closed() {
            return Err(Failure::closed(format!(
                "database {} is closed",
                self.db.path().display()
            )));
        }
        Ok(())
    }
}

/// What an `lc_txn` points to. It holds its own reference to the database
/// state, so it stays memory-safe after `lc_close` frees the `lc_db`
/// (its calls then return LC_CLOSED).
pub(crate) struct TxnState {
    pub(crate) txn: Transaction,
    pub(crate) db: Arc<DbState>,
}

impl Castable for lc_db {
    type Ownership = OwnershipArc;
    type RustType = DbState;
}

impl Castable for lc_txn {
    type Ownership = OwnershipBox;
    type RustType = TxnState;
}

impl Castable for lc_options {
    type Ownership = OwnershipBox;
    type RustType = Options;
}

/// Marks the database failed if dropped while a panic unwinds.
pub(crate) struct FailOnPanic<'a>(pub(crate) &'a DbState);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::Release);
        }
    }
}

/// Runs a call on a database inside the panic boundary, holding a
/// reference to it for the duration of the call.
pub(crate) fn with_db(
    operation: &'static str,
    db: *const lc_db,
    body: impl FnOnce(&Arc<DbState>) -> FfiResult,
) -> lc_status {
    boundary(operation, || {
        // SAFETY: the caller passes NULL or a handle from lc_open that it
        // has not passed to lc_close.
        let state = unsafe { arc_clone(db) }.ok_or_else(|| Failure::null("db"))?;
        state.check_usable()?;
        let _fail_on_panic = FailOnPanic(&state);
        body(&state)
    })
}

/// Runs a call on a live transaction inside the panic boundary.
pub(crate) fn with_txn(
    operation: &'static str,
    txn: *mut lc_txn,
    body: impl FnOnce(&mut TxnState) -> FfiResult,
) -> lc_status {
    boundary(operation, || {
        // SAFETY: the caller passes NULL or a transaction from lc_begin that
        // was not committed or aborted and that no other thread is using.
        let state = unsafe { box_mut(txn) }.ok_or_else(|| Failure::null("txn"))?;
        let db = Arc::clone(&state.db);
        db.check_usable()?;
        let _fail_on_panic = FailOnPanic(&db);
        body(state)
    })
}

/// Runs a read-only call on a live transaction inside the panic boundary.
pub(crate) fn with_txn_ref(
    operation: &'static str,
    txn: *const lc_txn,
    body: impl FnOnce(&TxnState) -> FfiResult,
) -> lc_status {
    boundary(operation, || {
        // SAFETY: as in with_txn; a shared borrow suffices here.
        let state = unsafe { box_ref(txn) }.ok_or_else(|| Failure::null("txn"))?;
        state.db.check_usable()?;
        let _fail_on_panic = FailOnPanic(&state.db);
        body(state)
    })
}

/// Runs a call on an options object inside the panic boundary.
pub(crate) fn with_options(
    operation: &'static str,
    opts: *mut lc_options,
    body: impl FnOnce(&mut Options) -> FfiResult,
) -> lc_status {
    boundary(operation, || {
        // SAFETY: the caller passes NULL or an object from lc_options_new
        // that it has not freed and that no other thread is using.
        let options = unsafe { box_mut(opts) }.ok_or_else(|| Failure::null("opts"))?;
        body(options)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::lc_read;
    use crate::open::{lc_close, lc_open};

    #[test]
    fn panic_in_a_call_fails_the_database() {
        let dir = std::env::temp_dir().join(format!("lc-c-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = std::ffi::CString::new(dir.join("poison.db").to_str().unwrap()).unwrap();
        let mut db: *mut lc_db = std::ptr::null_mut();
        assert_eq!(
            lc_open(path.as_ptr(), std::ptr::null(), &mut db),
            lc_status::LC_OK
        );
        let status = with_db("lc_test", db, |_| panic!("engine bug"));
        assert_eq!(status, lc_status::LC_INTERNAL);
        let mut len = 0usize;
        let status = lc_read(db, 1, std::ptr::null_mut(), 0, &mut len);
        assert_eq!(status, lc_status::LC_CLOSED);
        assert_eq!(lc_close(db), lc_status::LC_OK);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
