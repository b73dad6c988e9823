//! `lc_metrics_get`: histograms and reader figures, in a struct versioned
//! by its size.

use crate::args::check_out;
use crate::boundary::Failure;
use crate::state::{lc_db, with_db};
use crate::types::{lc_metrics, lc_status, LC_METRICS_SIZE_MIN};

/// Fills `*out` with the commit latency, group size and flush time
/// histograms and with how far the oldest reader lags and what it pins.
///
/// Set `out->size = sizeof(lc_metrics)` first. The library fills the first
/// min(out->size, its own sizeof(lc_metrics)) bytes and stores that number
/// in `out->size`: a program built against an older, smaller lc_metrics
/// gets the fields it knows, and a newer, larger one can tell which fields
/// this library filled. Nothing is written unless LC_OK is returned.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`, `out->size` smaller
/// than 8), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_metrics_get(db: *const lc_db, out: *mut lc_metrics) -> lc_status {
    with_db("lc_metrics_get", db, |state| {
        check_out(out, "out")?;
        // SAFETY: out is non-NULL and, per the contract, points to a struct
        // of at least `size` bytes that starts with the u32 `size` (aligned
        // like lc_metrics); only that first field is read.
        let size = unsafe { out.cast::<u32>().read() } as usize;
        if size < LC_METRICS_SIZE_MIN {
            return Err(Failure::invalid(format!(
                "out->size {size} is too small: set it to sizeof(lc_metrics)"
            )));
        }
        let metrics = state.db.metrics()?;
        let filled = size.min(std::mem::size_of::<lc_metrics>());
        let value = lc_metrics::new(&metrics, filled as u32);
        // SAFETY: the caller's struct holds `size` >= `filled` writable
        // bytes; lc_metrics has no padding (asserted in types), so all
        // `filled` bytes copied from `value` are initialised; the local and
        // the caller's memory do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                std::ptr::from_ref(&value).cast::<u8>(),
                out.cast::<u8>(),
                filled,
            );
        }
        Ok(())
    })
}
