//! Calls on an open `lc_db`: batches, reads, checkpoint, reports.

use libcommit::{Page, PageWrite, SyncMode};

use crate::args::{bytes_arg, check_out, sync_arg, write_out};
use crate::boundary::{Failure, FfiResult};
use crate::state::{lc_db, with_db, DbState};
use crate::types::{
    lc_checkpoint_report, lc_page_write, lc_recovery_report, lc_stats, lc_status, lc_sync_arg,
};

/// Atomically commits `count` page writes and deletes (`data == NULL`
/// deletes the page). Blind writes never conflict; the later commit wins.
/// One bad entry rejects the whole batch and nothing is written.
///
/// `writes` must not be NULL (even when `count` is 0); the images are
/// copied. `out_commit_seq` may be NULL; on LC_OK it receives the commit's
/// commit_seq.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db`/`writes`, page 0, an image longer
/// than page_size), LC_READ_ONLY, LC_IO, LC_FULL, LC_BUSY, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_commit_batch(
    db: *mut lc_db,
    writes: *const lc_page_write,
    count: usize,
    out_commit_seq: *mut u64,
) -> lc_status {
    with_db("lc_commit_batch", db, |state| {
        commit_batch(state, writes, count, None, out_commit_seq)
    })
}

/// `lc_commit_batch` with its own durability mode, overriding the
/// database's for this commit only. LC_SYNC_FULL returns once the commit is
/// on stable storage. LC_SYNC_NORMAL and LC_SYNC_OFF return once it is
/// written: the commit_seq is then a ticket that `lc_wait_durable` waits on
/// (`lc_durable_seq` tells how far durability has got). In a FULL database
/// a relaxed commit becomes visible to readers when the group flush started
/// for it completes.
///
/// `writes` must not be NULL (even when `count` is 0); the images are
/// copied. `out_seq` may be NULL; on LC_OK it receives the commit's
/// commit_seq.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db`/`writes`, `sync` not an `lc_sync`
/// value, page 0, an image longer than page_size: nothing is written),
/// LC_READ_ONLY, LC_IO, LC_FULL, LC_BUSY, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_commit_batch_sync(
    db: *mut lc_db,
    writes: *const lc_page_write,
    count: usize,
    sync: lc_sync_arg,
    out_seq: *mut u64,
) -> lc_status {
    with_db("lc_commit_batch_sync", db, |state| {
        let sync = sync_arg(sync)?;
        commit_batch(state, writes, count, Some(sync), out_seq)
    })
}

/// The body of `lc_commit_batch` and `lc_commit_batch_sync`: checks the C
/// array, commits it (with `sync` if given), writes `out_seq` on success.
fn commit_batch(
    state: &DbState,
    writes: *const lc_page_write,
    count: usize,
    sync: Option<SyncMode>,
    out_seq: *mut u64,
) -> FfiResult {
    if writes.is_null() {
        return Err(Failure::null("writes"));
    }
    if count > isize::MAX as usize / std::mem::size_of::<lc_page_write>() {
        return Err(Failure::invalid(format!("count {count} is too large")));
    }
    // SAFETY: non-NULL, aligned (the caller's array of lc_page_write),
    // count * size fits isize, and the caller promises count entries.
    let entries = unsafe { std::slice::from_raw_parts(writes, count) };
    let page_size = state.db.page_size() as usize;
    let batch = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| batch_entry(i, entry, page_size))
        .collect::<Result<Vec<PageWrite<'_>>, Failure>>()?;
    let seq = match sync {
        None => state.db.commit_batch(&batch)?,
        Some(sync) => state.db.commit_batch_with_sync(&batch, sync)?,
    };
    // SAFETY: out_seq is NULL (skipped) or writable.
    unsafe { write_out(out_seq, seq) };
    Ok(())
}

/// One C batch entry as an engine batch entry. Images longer than a page
/// are refused here, before a slice of that length is formed.
fn batch_entry(
    index: usize,
    entry: &lc_page_write,
    page_size: usize,
) -> Result<PageWrite<'_>, Failure> {
    if entry.data.is_null() {
        return Ok(PageWrite::delete(entry.pgno));
    }
    check_image_len(entry.pgno, entry.len, page_size)?;
    // SAFETY: the caller promises `len` readable bytes at a non-NULL data,
    // alive for this call.
    let data = unsafe { bytes_arg(entry.data, entry.len, "writes[].data") }
        .map_err(|_| Failure::invalid(format!("writes[{index}]: bad data")))?;
    Ok(PageWrite::put(entry.pgno, data))
}

/// LC_INVALID_ARGUMENT for an image longer than the page size.
pub(crate) fn check_image_len(pgno: u32, len: usize, page_size: usize) -> FfiResult {
    if len > page_size {
        return Err(Failure::invalid(format!(
            "page {pgno}: image of {len} bytes exceeds page_size {page_size}"
        )));
    }
    Ok(())
}

/// Checks the buffer arguments of a read before anything is looked up.
pub(crate) fn check_read_args(buf: *mut u8, cap: usize, out_len: *mut usize) -> FfiResult {
    check_out(out_len, "out_len")?;
    if buf.is_null() && cap != 0 {
        return Err(Failure::invalid("buf is NULL but cap is not 0"));
    }
    Ok(())
}

/// Copies a page image out: LC_NOT_FOUND for `None`, LC_BUFFER_TOO_SMALL
/// (with `*out_len` = the image length) when `cap` is too small.
///
/// # Safety
/// `check_read_args` accepted the arguments, and `buf` is valid for writing
/// `cap` bytes.
pub(crate) unsafe fn copy_page(
    page: Option<Page>,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> FfiResult {
    let Some(page) = page else {
        return Err(Failure::outcome(lc_status::LC_NOT_FOUND));
    };
    let len = page.len();
    if len > cap {
        // SAFETY: out_len was checked non-NULL; it is writable.
        unsafe { write_out(out_len, len) };
        return Err(Failure::outcome(lc_status::LC_BUFFER_TOO_SMALL));
    }
    if len > 0 {
        // SAFETY: buf holds at least cap >= len writable bytes (and is not
        // NULL since cap > 0); the page is engine memory, so no overlap.
        unsafe { std::ptr::copy_nonoverlapping(page.as_ptr(), buf, len) };
    }
    // SAFETY: out_len was checked non-NULL; it is writable.
    unsafe { write_out(out_len, len) };
    Ok(())
}

/// Reads the latest committed image of `pgno` into `buf` (`cap` bytes).
///
/// On LC_OK, `*out_len` is the image length (0 for an empty page) and the
/// image is in `buf`. On LC_BUFFER_TOO_SMALL, `*out_len` is the length
/// needed and `buf` is untouched: `buf` may be NULL when `cap` is 0, which
/// is how to ask for the length. LC_NOT_FOUND: never written, or deleted.
///
/// Returns also LC_INVALID_ARGUMENT (NULL `db`/`out_len`, NULL `buf` with
/// `cap` > 0, page 0), LC_CORRUPT, LC_IO, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_read(
    db: *mut lc_db,
    pgno: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> lc_status {
    with_db("lc_read", db, |state| {
        check_read_args(buf, cap, out_len)?;
        let page = state.db.read(pgno)?;
        // SAFETY: arguments checked above; buf holds cap bytes.
        unsafe { copy_page(page, buf, cap, out_len) }
    })
}

/// Copies every committed page not yet in the main file into it, syncs,
/// and removes the log segments no longer needed. Never passes what an
/// open transaction still reads.
///
/// `out` may be NULL; on LC_OK it receives what was done.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db`), LC_READ_ONLY, LC_IO, LC_FULL,
/// LC_BUSY, LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_checkpoint(db: *mut lc_db, out: *mut lc_checkpoint_report) -> lc_status {
    with_db("lc_checkpoint", db, |state| {
        let report = state.db.checkpoint()?;
        // SAFETY: out is NULL (skipped) or writable.
        unsafe { write_out(out, lc_checkpoint_report::from(&report)) };
        Ok(())
    })
}

/// Fills `*out` with what `lc_open` replayed from the log for this database.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_last_recovery(db: *const lc_db, out: *mut lc_recovery_report) -> lc_status {
    with_db("lc_last_recovery", db, |state| {
        check_out(out, "out")?;
        let report = state.db.last_recovery();
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, lc_recovery_report::from(&report)) };
        Ok(())
    })
}

/// Fills `*out` with counters of this handle (`commits`, `conflicts`) and
/// watermarks of the database (the other fields).
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_stats_get(db: *const lc_db, out: *mut lc_stats) -> lc_status {
    with_db("lc_stats_get", db, |state| {
        check_out(out, "out")?;
        let stats = state.db.stats()?;
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, lc_stats::from(&stats)) };
        Ok(())
    })
}

/// The page size of the database in bytes (an extension to the API).
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_page_size(db: *const lc_db, out: *mut u32) -> lc_status {
    with_db("lc_page_size", db, |state| {
        check_out(out, "out")?;
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, state.db.page_size()) };
        Ok(())
    })
}
