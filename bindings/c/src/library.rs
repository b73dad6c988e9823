//! Library-wide functions: version, status strings, last error.

use std::ffi::c_char;

use crate::boundary::{catch, last_error};
use libcommit::Status;

use crate::types::{lc_status_arg, VERSION_NUL};

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
        Status::from_code(i64::from(status))
            .map_or(c"unknown status", Status::as_c_str)
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
    use std::ffi::CStr;

    #[test]
    fn every_status_has_its_number_and_text() {
        for status in Status::ALL {
            let c = status_of(status);
            assert_eq!(c as i32, status as i32);
            // SAFETY: lc_status_str returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(lc_status_str(c as lc_status_arg)) };
            assert_eq!(text.to_str().unwrap(), status.as_str());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(lc_status_str(Status::ALL.len() as lc_status_arg)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status");
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
