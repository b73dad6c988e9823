//! `lc_open` and `lc_close`.

use std::ffi::c_char;
use std::sync::Arc;

use libcommit::{Database, Options};

use crate::args::{check_out, path_arg, write_out};
use crate::boundary::boundary;
use crate::handle::{arc_from_ptr, arc_into_ptr, box_ref};
use crate::state::{lc_db, lc_options, DbState};
use crate::types::lc_status;

/// Opens (or creates) the database at `path` and replays its write-ahead
/// log; `lc_last_recovery` then tells what was replayed.
///
/// `path` is a NUL-terminated byte string, as the OS takes it. `opts` may
/// be NULL for the defaults; it is copied and stays the caller's. On LC_OK,
/// `*out` is a new handle, shared by any number of threads, that the
/// caller must pass to `lc_close` exactly once.
///
/// Returns LC_INVALID_ARGUMENT (NULL or empty `path`, NULL `out`, a bad
/// option), LC_CORRUPT (a file that is not a database, or a corrupt log:
/// the files are left as they were; see `lc_recover`), LC_IO (e.g. a
/// missing directory, a read-only open of a database that does not exist),
/// LC_BUSY (another process is opening and recovering it, or holds the
/// writer lease, past busy_timeout; processes share a database otherwise),
/// LC_FULL (no disk space for a file it must create or allocate, such as
/// `{path}-shm`, whose name the message gives).
#[no_mangle]
pub extern "C" fn lc_open(
    path: *const c_char,
    opts: *const lc_options,
    out: *mut *mut lc_db,
) -> lc_status {
    boundary("lc_open", || {
        check_out(out, "out")?;
        // SAFETY: path is NULL or a NUL-terminated string valid for this call.
        let path = unsafe { path_arg(path, "path") }?;
        // SAFETY: opts is NULL or a live object from lc_options_new that no
        // other thread mutates during this call.
        let options = unsafe { box_ref::<lc_options>(opts) }
            .cloned()
            .unwrap_or_else(Options::default);
        let db = Database::open(path, options)?;
        let ptr = arc_into_ptr::<lc_db>(Arc::new(DbState::new(db)));
        // SAFETY: out was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(out, ptr) };
        Ok(())
    })
}

/// Closes the handle: waits for the commits in flight on it, then releases
/// the database (the engine may checkpoint). Frees `db` whatever the
/// status: do not use it again. NULL is LC_OK.
///
/// Transactions still open on this handle stay valid to free
/// (`lc_txn_abort`), but their other calls return LC_CLOSED.
///
/// Returns LC_OK, or the error of the final shutdown (LC_IO, LC_FULL, ...)
/// with `db` freed all the same.
#[no_mangle]
pub extern "C" fn lc_close(db: *mut lc_db) -> lc_status {
    boundary("lc_close", || {
        // SAFETY: db is NULL or a handle from lc_open not closed before; the
        // caller gives up its reference here. Calls already running on other
        // threads hold their own reference, so the memory outlives them.
        let Some(state) = (unsafe { arc_from_ptr(db) }) else {
            return Ok(());
        };
        state.db.close()?;
        Ok(())
    })
}
