//! `lc_recover`: offline recovery of a closed database.

use std::ffi::c_char;

use libcommit::RecoveryOptions;

use crate::args::{path_arg, write_out};
use crate::boundary::{boundary, Failure};
use crate::types::{
    lc_recovery_report, lc_status, LC_RECOVER_ALL, LC_RECOVER_DELETE_AFTER, LC_RECOVER_SKIP_CORRUPT,
};

/// Offline recovery of the closed database at `path`: replays its log into
/// the main file and reports what it found.
///
/// `flags` is 0 or a combination of LC_RECOVER_SKIP_CORRUPT (keep the
/// durable prefix; segments not replayed are renamed to
/// `{segment}.corrupt`) and LC_RECOVER_DELETE_AFTER (delete replayed
/// segments). `out` may be NULL; on LC_OK it receives the report.
///
/// Returns LC_INVALID_ARGUMENT (NULL or empty `path`, unknown flag bits),
/// LC_CORRUPT (without SKIP_CORRUPT: nothing is changed), LC_BUSY (the
/// database is open, in this process or another), LC_IO, LC_FULL.
#[no_mangle]
pub extern "C" fn lc_recover(
    path: *const c_char,
    flags: u32,
    out: *mut lc_recovery_report,
) -> lc_status {
    boundary("lc_recover", || {
        if flags & !LC_RECOVER_ALL != 0 {
            return Err(Failure::invalid(format!("flags {flags:#x}: unknown bits")));
        }
        // SAFETY: path is NULL or a NUL-terminated string valid for this call.
        let path = unsafe { path_arg(path, "path") }?;
        let options = RecoveryOptions {
            skip_corrupt: flags & LC_RECOVER_SKIP_CORRUPT != 0,
            delete_after: flags & LC_RECOVER_DELETE_AFTER != 0,
            ..RecoveryOptions::default()
        };
        let report = libcommit::recover(path, options)?;
        // SAFETY: out is NULL (skipped) or writable.
        unsafe { write_out(out, lc_recovery_report::from(&report)) };
        Ok(())
    })
}
