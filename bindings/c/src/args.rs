//! Argument conversion: every pointer, length and enum value a C caller
//! hands in is checked and converted here, once, before the engine sees
//! it; a bad one becomes LC_INVALID_ARGUMENT with a message naming it.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libcommit::SyncMode;

use crate::boundary::{Failure, FfiResult};
use crate::types::{lc_sync_arg, sync_from_arg};

/// Checks that an out-parameter is not NULL.
pub(crate) fn check_out<T>(ptr: *mut T, argument: &str) -> FfiResult {
    if ptr.is_null() {
        return Err(Failure::null(argument));
    }
    Ok(())
}

/// Writes an out-parameter that [`check_out`] accepted (or that may be
/// NULL: then nothing is written).
///
/// # Safety
/// `ptr` is NULL or valid for writing one `T`.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL and, per this function's contract, writable.
        unsafe { ptr.write(value) };
    }
}

/// Borrows a C byte string as a path (bytes as the OS takes them).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid
/// during `'a`.
pub(crate) unsafe fn path_arg<'a>(ptr: *const c_char, argument: &str) -> Result<&'a Path, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(argument));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.is_empty() {
        return Err(Failure::invalid(format!("{argument} is empty")));
    }
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// Borrows `len` bytes at `data` (`data` must not be NULL).
///
/// # Safety
/// `data` is NULL or valid for reading `len` bytes during `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    data: *const u8,
    len: usize,
    argument: &str,
) -> Result<&'a [u8], Failure> {
    if data.is_null() {
        return Err(Failure::null(argument));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{argument}: length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, u8 needs no alignment, len <= isize::MAX, and the
    // caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// An `lc_sync` argument as the engine's mode; LC_INVALID_ARGUMENT for a
/// value that is not an `lc_sync`.
pub(crate) fn sync_arg(value: lc_sync_arg) -> Result<SyncMode, Failure> {
    sync_from_arg(value)
        .ok_or_else(|| Failure::invalid(format!("sync {value}: not an lc_sync value")))
}
