//! Library-wide functions: version, status strings, last error.

use std::ffi::{c_char, CStr};

use crate::boundary::{catch, last_error};
use crate::types::{lc_status, lc_status_arg, VERSION_NUL};

/// Every status, in numeric order.
const STATUSES: [lc_status; 12] = [
    lc_status::LC_OK,
    lc_status::LC_NOT_FOUND,
    lc_status::LC_CONFLICT,
    lc_status::LC_BUSY,
    lc_status::LC_CORRUPT,
    lc_status::LC_IO,
    lc_status::LC_INVALID_ARGUMENT,
    lc_status::LC_BUFFER_TOO_SMALL,
    lc_status::LC_CLOSED,
    lc_status::LC_READ_ONLY,
    lc_status::LC_FULL,
    lc_status::LC_INTERNAL,
];

/// The text of a status (the engine's `Status::as_str`, NUL-terminated;
/// a unit test keeps them equal).
fn status_text(status: lc_status) -> &'static CStr {
    match status {
        lc_status::LC_OK => c"ok",
        lc_status::LC_NOT_FOUND => c"not found",
        lc_status::LC_CONFLICT => c"conflict",
        lc_status::LC_BUSY => c"busy",
        lc_status::LC_CORRUPT => c"corrupt",
        lc_status::LC_IO => c"I/O error",
        lc_status::LC_INVALID_ARGUMENT => c"invalid argument",
        lc_status::LC_BUFFER_TOO_SMALL => c"buffer too small",
        lc_status::LC_CLOSED => c"closed",
        lc_status::LC_READ_ONLY => c"read-only",
        lc_status::LC_FULL => c"disk full",
        lc_status::LC_INTERNAL => c"internal error",
    }
}

/// The library version, "MAJOR.MINOR.PATCH": a static string, never NULL.
///
/// Equals the engine crate's version. Compare it with `LC_VERSION_MAJOR`
/// etc. to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn lc_version() -> *const c_char {
    catch("lc_version", c"".as_ptr(), || VERSION_NUL.as_ptr().cast())
}

/// A short description of `status`: a static string, never NULL.
///
/// A value that is not an `lc_status` gives "unknown status".
#[no_mangle]
pub extern "C" fn lc_status_str(status: lc_status_arg) -> *const c_char {
    catch("lc_status_str", c"unknown status".as_ptr(), || {
        STATUSES
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(c"unknown status", |s| status_text(*s))
            .as_ptr()
    })
}

/// This thread's last error message, "" if no call on this thread has
/// failed. Never NULL.
///
/// Every call that fails sets it ("<function>: <reason>"); LC_NOT_FOUND
/// and LC_BUFFER_TOO_SMALL are outcomes and leave it unchanged, and so does
/// a call that succeeds. The string belongs to the library and stays valid
/// until the next failing call on this thread (or the thread's exit):
/// copy it to keep it.
#[no_mangle]
pub extern "C" fn lc_last_error() -> *const c_char {
    catch("lc_last_error", c"".as_ptr(), last_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::status_of;
    use libcommit::Status;

    #[test]
    fn status_text_matches_engine() {
        let all = [
            Status::Ok,
            Status::NotFound,
            Status::Conflict,
            Status::Busy,
            Status::Corrupt,
            Status::Io,
            Status::InvalidArgument,
            Status::BufferTooSmall,
            Status::Closed,
            Status::ReadOnly,
            Status::Full,
            Status::Internal,
        ];
        for (i, status) in all.into_iter().enumerate() {
            let c = status_of(status);
            assert_eq!(c as i32, status as i32);
            assert_eq!(STATUSES[i], c);
            assert_eq!(status_text(c).to_str().unwrap(), status.as_str());
        }
    }

    #[test]
    fn version_is_engine_version() {
        // SAFETY: lc_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(lc_version()) };
        assert_eq!(v.to_str().unwrap(), libcommit::VERSION);
    }

    #[test]
    fn unknown_status() {
        // SAFETY: lc_status_str returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(lc_status_str(99)) };
        assert_eq!(s.to_str().unwrap(), "unknown status");
    }
}
