//! The durable watermark: `lc_durable_seq`, `lc_wait_durable`.

use std::time::Duration;

use crate::args::{check_out, write_out};
use crate::state::{lc_db, with_db};
use crate::types::lc_status;

/// The durable watermark: every commit with commit_seq <= `*out` is on
/// stable storage, covered by a sync that succeeded (in a database opened
/// with LC_SYNC_OFF it moves only when something asks for a sync:
/// `lc_wait_durable`, a LC_SYNC_FULL transaction). 0 when nothing is
/// durable yet.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_durable_seq(db: *const lc_db, out: *mut u64) -> lc_status {
    with_db("lc_durable_seq", db, |state| {
        check_out(out, "out")?;
        let seq = state.db.durable_seq()?;
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, seq) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds until commit `seq` is durable (a
/// ticket from `lc_commit_batch_sync`, or `lc_txn_commit` after
/// `lc_txn_set_sync`). Starts the group flush itself when none is running.
///
/// On LC_OK, `*out_durable` is true once `seq` is durable and false when
/// the timeout passed first (an outcome, not a failure). `timeout_ms` 0
/// only checks. Blocks the calling thread; other threads may use `db`
/// meanwhile (but not `lc_close` it).
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out_durable`; `seq` greater
/// than the last commit_seq handed out), LC_IO (a sync failed: the
/// database is closed to writes), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_wait_durable(
    db: *mut lc_db,
    seq: u64,
    timeout_ms: u32,
    out_durable: *mut bool,
) -> lc_status {
    with_db("lc_wait_durable", db, |state| {
        check_out(out_durable, "out_durable")?;
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let durable = state.db.wait_durable(seq, timeout)?;
        // SAFETY: out_durable was checked non-NULL; it is writable.
        unsafe { write_out(out_durable, durable) };
        Ok(())
    })
}
