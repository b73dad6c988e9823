//! `lc_txn`: snapshot transactions.

use std::sync::Arc;

use crate::args::{bytes_arg, check_out, sync_arg, write_out};
use crate::boundary::{boundary, catch, Failure};
use crate::db::{check_image_len, check_read_args, copy_page};
use crate::handle::{box_from_ptr, box_into_ptr};
use crate::state::{lc_db, lc_txn, with_db, with_txn, with_txn_ref, FailOnPanic, TxnState};
use crate::types::{lc_status, lc_sync_arg};

/// Starts a transaction at the latest visible commit.
///
/// On LC_OK, `*out` is a new transaction owned by the caller: use it from
/// one thread at a time and end it with exactly one `lc_txn_commit` or
/// `lc_txn_abort`. It may outlive `lc_close(db)` (its calls then return
/// LC_CLOSED) but must still be ended to free it.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED, LC_BUSY.
#[no_mangle]
pub extern "C" fn lc_begin(db: *mut lc_db, out: *mut *mut lc_txn) -> lc_status {
    with_db("lc_begin", db, |state| {
        check_out(out, "out")?;
        let txn = state.db.begin()?;
        // The transaction holds its own reference to the database state.
        let db = Arc::clone(state);
        let ptr = box_into_ptr::<lc_txn>(TxnState { txn, db });
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, ptr) };
        Ok(())
    })
}

/// The commit_seq the transaction reads at: it sees exactly the commits
/// <= this.
///
/// Returns LC_INVALID_ARGUMENT (NULL `txn` or `out_seq`), LC_CLOSED (its
/// database was closed).
#[no_mangle]
pub extern "C" fn lc_txn_snapshot(txn: *const lc_txn, out_seq: *mut u64) -> lc_status {
    with_txn_ref("lc_txn_snapshot", txn, |state| {
        check_out(out_seq, "out_seq")?;
        // SAFETY: out_seq was checked non-NULL; it is writable.
        unsafe { write_out(out_seq, state.txn.snapshot()) };
        Ok(())
    })
}

/// Reads `pgno` as the transaction sees it: its own write or delete if any,
/// else the image at its snapshot. Buffer rules as in `lc_read`: on LC_OK
/// `*out_len` is the image length; on LC_BUFFER_TOO_SMALL it is the length
/// needed (`buf` may be NULL when `cap` is 0); LC_NOT_FOUND if the page
/// does not exist at the snapshot. Under SERIALIZABLE the page joins the
/// read set that commit validates.
///
/// Returns also LC_INVALID_ARGUMENT (NULL `txn`/`out_len`, NULL `buf` with
/// `cap` > 0, page 0), LC_CORRUPT, LC_IO, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_txn_read(
    txn: *mut lc_txn,
    pgno: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> lc_status {
    with_txn("lc_txn_read", txn, |state| {
        check_read_args(buf, cap, out_len)?;
        let page = state.txn.read(pgno)?;
        // SAFETY: arguments checked above; buf holds cap bytes.
        unsafe { copy_page(page, buf, cap, out_len) }
    })
}

/// Sets `pgno` to the `len` bytes at `data` (copied) within the
/// transaction; others see it after commit. `data` must not be NULL (for an
/// empty image pass any valid pointer with `len` 0).
///
/// Returns LC_INVALID_ARGUMENT (NULL `txn`/`data`, page 0, `len` >
/// page_size), LC_READ_ONLY, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_txn_write(
    txn: *mut lc_txn,
    pgno: u32,
    data: *const u8,
    len: usize,
) -> lc_status {
    with_txn("lc_txn_write", txn, |state| {
        if data.is_null() {
            return Err(Failure::null("data"));
        }
        check_image_len(pgno, len, state.db.db.page_size() as usize)?;
        // SAFETY: the caller promises len readable bytes at data.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        state.txn.write(pgno, data)?;
        Ok(())
    })
}

/// Deletes `pgno` within the transaction.
///
/// Returns LC_INVALID_ARGUMENT (NULL `txn`, page 0), LC_READ_ONLY,
/// LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_txn_delete(txn: *mut lc_txn, pgno: u32) -> lc_status {
    with_txn("lc_txn_delete", txn, |state| {
        state.txn.delete(pgno)?;
        Ok(())
    })
}

/// Sets the durability mode of this transaction's commit, overriding the
/// database's (see `lc_commit_batch_sync`): with LC_SYNC_NORMAL or
/// LC_SYNC_OFF, `lc_txn_commit` returns once the commit is written and
/// `lc_wait_durable` waits for it to be durable; LC_SYNC_FULL makes the
/// commit durable before it returns even in a NORMAL or OFF database. The
/// last call wins.
///
/// Returns LC_INVALID_ARGUMENT (NULL `txn`, `sync` not an `lc_sync` value:
/// the transaction is unchanged), LC_CLOSED (its database was closed).
#[no_mangle]
pub extern "C" fn lc_txn_set_sync(txn: *mut lc_txn, sync: lc_sync_arg) -> lc_status {
    with_txn("lc_txn_set_sync", txn, |state| {
        state.txn.set_sync(sync_arg(sync)?);
        Ok(())
    })
}

/// Validates and commits the transaction, then frees it: `txn` is consumed
/// whatever the status. First-committer-wins: if another commit after the
/// snapshot wrote a page this one writes (or, under SERIALIZABLE, read),
/// nothing is written and LC_CONFLICT is returned.
///
/// `out_commit_seq` may be NULL; on LC_OK it receives the commit's
/// commit_seq (for a transaction that wrote nothing: its snapshot).
///
/// Returns LC_INVALID_ARGUMENT (NULL `txn`), LC_CONFLICT, LC_IO, LC_FULL,
/// LC_READ_ONLY, LC_BUSY, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_txn_commit(txn: *mut lc_txn, out_commit_seq: *mut u64) -> lc_status {
    boundary("lc_txn_commit", || {
        // SAFETY: txn is NULL or a live transaction from lc_begin; the
        // caller gives it up here (it is freed on every path below).
        let state = unsafe { box_from_ptr(txn) }.ok_or_else(|| Failure::null("txn"))?;
        let TxnState { txn, db } = *state;
        db.check_usable()?;
        let _fail_on_panic = FailOnPanic(&db);
        let seq = txn.commit()?;
        // SAFETY: out_commit_seq is NULL (skipped) or writable.
        unsafe { write_out(out_commit_seq, seq) };
        Ok(())
    })
}

/// Discards the transaction and frees it. NULL is a no-op. Valid also
/// after its database was closed.
#[no_mangle]
pub extern "C" fn lc_txn_abort(txn: *mut lc_txn) {
    catch("lc_txn_abort", (), || {
        // SAFETY: txn is NULL or a live transaction from lc_begin; the
        // caller gives it up here.
        if let Some(state) = unsafe { box_from_ptr(txn) } {
            let TxnState { txn, db: _ } = *state;
            txn.abort();
        }
    })
}
