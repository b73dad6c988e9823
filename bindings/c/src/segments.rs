//! The per-segment recovery report of `lc_open`: a count, then one entry,
//! path and reason text per index.

use std::os::unix::ffi::OsStrExt;

use libcommit::{DropReason, SegmentReport};

use crate::args::{check_out, write_out};
use crate::boundary::{Failure, FfiResult};
use crate::db::check_read_args;
use crate::state::{lc_db, with_db, DbState};
use crate::types::{lc_segment_report, lc_status};

/// The number of WAL segments the recovery at `lc_open` examined, in log
/// order; `lc_recovery_segment(db, i, ...)` describes segment i for
/// i < `*out`. 0 for a new database or one with an empty log.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_recovery_segment_count(db: *const lc_db, out: *mut usize) -> lc_status {
    with_db("lc_recovery_segment_count", db, |state| {
        check_out(out, "out")?;
        let count = state.db.last_recovery().segments.len();
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, count) };
        Ok(())
    })
}

/// Fills `*out` with what the recovery at `lc_open` found in segment
/// `index` (0-based, in log order): its first epoch, the epochs of the
/// frames kept, frames kept and dropped, and why frames were dropped
/// (LC_DROP_TORN_TAIL is the normal end of a log after a crash).
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`, `index` >=
/// `lc_recovery_segment_count`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_recovery_segment(
    db: *const lc_db,
    index: usize,
    out: *mut lc_segment_report,
) -> lc_status {
    with_db("lc_recovery_segment", db, |state| {
        check_out(out, "out")?;
        let report = with_segment(state, index, |s| lc_segment_report::from(s))?;
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, report) };
        Ok(())
    })
}

/// Copies the file path of segment `index` into `buf` (`cap` bytes) with a
/// terminating NUL.
///
/// On LC_OK, `buf` holds the path and a NUL, and `*out_len` is the path's
/// length without the NUL (strlen). On LC_BUFFER_TOO_SMALL (`cap` is less
/// than the length plus one), `*out_len` is the buffer size needed (the
/// length plus one) and `buf` is untouched: `buf` may be NULL when `cap` is
/// 0, which is how to ask for the size. The path starts with the path given
/// to `lc_open`.
///
/// Returns also LC_INVALID_ARGUMENT (NULL `db`/`out_len`, NULL `buf` with
/// `cap` > 0, `index` out of range), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_recovery_segment_path(
    db: *const lc_db,
    index: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> lc_status {
    with_db("lc_recovery_segment_path", db, |state| {
        check_read_args(buf, cap, out_len)?;
        let path = with_segment(state, index, |s| s.path.as_os_str().as_bytes().to_vec())?;
        // SAFETY: arguments checked above; buf holds cap bytes.
        unsafe { copy_text(&path, buf, cap, out_len) }
    })
}

/// Copies the text of segment `index`'s drop reason into `buf` (`cap`
/// bytes) with a terminating NUL: "" (LC_DROP_NONE), "torn tail",
/// "checksum: <what failed>", "gap: <what is missing>", "io: <error>",
/// "after corruption" or "never synced: <what was cut>". Buffer rules as
/// in `lc_recovery_segment_path`.
///
/// Returns LC_OK, LC_BUFFER_TOO_SMALL, LC_INVALID_ARGUMENT (NULL
/// `db`/`out_len`, NULL `buf` with `cap` > 0, `index` out of range),
/// LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_recovery_segment_detail(
    db: *const lc_db,
    index: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> lc_status {
    with_db("lc_recovery_segment_detail", db, |state| {
        check_read_args(buf, cap, out_len)?;
        let text = with_segment(state, index, |s| reason_text(s.dropped.as_ref()))?;
        // SAFETY: arguments checked above; buf holds cap bytes.
        unsafe { copy_text(text.as_bytes(), buf, cap, out_len) }
    })
}

/// Runs `f` on segment `index` of the open-time recovery report;
/// LC_INVALID_ARGUMENT when there is no such segment.
fn with_segment<T>(
    state: &DbState,
    index: usize,
    f: impl FnOnce(&SegmentReport) -> T,
) -> Result<T, Failure> {
    let report = state.db.last_recovery();
    let count = report.segments.len();
    report
        .segments
        .get(index)
        .map(f)
        .ok_or_else(|| Failure::invalid(format!("index {index}: there are {count} segments")))
}

/// The text of a drop reason ("" when every frame was kept): the engine's
/// own wording.
fn reason_text(reason: Option<&DropReason>) -> String {
    reason.map(DropReason::to_string).unwrap_or_default()
}

/// Copies `text` and a NUL out: LC_BUFFER_TOO_SMALL (with `*out_len` = the
/// size needed, text + NUL) when `cap` is too small, else `*out_len` = the
/// text's length.
///
/// # Safety
/// `check_read_args` accepted the arguments, and `buf` is valid for writing
/// `cap` bytes.
unsafe fn copy_text(text: &[u8], buf: *mut u8, cap: usize, out_len: *mut usize) -> FfiResult {
    let needed = text.len() + 1;
    if needed > cap {
        // SAFETY: out_len was checked non-NULL; it is writable.
        unsafe { write_out(out_len, needed) };
        return Err(Failure::outcome(lc_status::LC_BUFFER_TOO_SMALL));
    }
    // SAFETY: buf holds cap >= text.len() + 1 writable bytes (non-NULL as
    // cap > 0); text is our own memory, so no overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len());
        buf.add(text.len()).write(0);
    }
    // SAFETY: out_len was checked non-NULL; it is writable.
    unsafe { write_out(out_len, text.len()) };
    Ok(())
}
