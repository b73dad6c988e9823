//! The panic boundary, the thread's last error message, and the checks
//! every exported function makes on its arguments.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use libcommit::Status;

use crate::types::lc_status;

/// Why a call did not return `LC_OK`.
#[derive(Debug)]
pub(crate) struct Failure {
    status: lc_status,
    /// `None` for outcomes that are not failures (NOT_FOUND,
    /// BUFFER_TOO_SMALL): they leave the last error message alone.
    message: Option<String>,
}

impl Failure {
    /// A bad argument (NULL pointer, out-of-range value, ...).
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            status: lc_status::LC_INVALID_ARGUMENT,
            message: Some(format!("invalid argument: {}", message.into())),
        }
    }

    /// A NULL pointer where one is required.
    pub(crate) fn null(argument: &str) -> Failure {
        Failure::invalid(format!("{argument} is NULL"))
    }

    /// The handle cannot be used any more.
    pub(crate) fn closed(message: impl Into<String>) -> Failure {
        Failure {
            status: lc_status::LC_CLOSED,
            message: Some(format!("closed: {}", message.into())),
        }
    }

    /// An outcome reported by status alone, without an error message.
    pub(crate) fn outcome(status: lc_status) -> Failure {
        Failure {
            status,
            message: None,
        }
    }
}

impl From<libcommit::Error> for Failure {
    fn from(error: libcommit::Error) -> Failure {
        Failure {
            status: status_of(error.status()),
            message: Some(error.to_string()),
        }
    }
}

/// What the body of an exported function returns.
pub(crate) type FfiResult = Result<(), Failure>;

/// The engine's status as the C enum (same numbers; the match keeps the
/// two lists in step).
pub(crate) fn status_of(status: Status) -> lc_status {
    match status {
        Status::Ok => lc_status::LC_OK,
        Status::NotFound => lc_status::LC_NOT_FOUND,
        Status::Conflict => lc_status::LC_CONFLICT,
        Status::Busy => lc_status::LC_BUSY,
        Status::Corrupt => lc_status::LC_CORRUPT,
        Status::Io => lc_status::LC_IO,
        Status::InvalidArgument => lc_status::LC_INVALID_ARGUMENT,
        Status::BufferTooSmall => lc_status::LC_BUFFER_TOO_SMALL,
        Status::Closed => lc_status::LC_CLOSED,
        Status::ReadOnly => lc_status::LC_READ_ONLY,
        Status::Full => lc_status::LC_FULL,
        Status::Internal => lc_status::LC_INTERNAL,
        Status::Fenced => lc_status::LC_FENCED,
    }
}

thread_local! {
    /// This thread's last error message; "" until a call fails.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `"{operation}: {message}"` as this thread's last error.
fn set_last_error(operation: &str, message: &str) {
    let text = format!("{operation}: {message}").replace('\0', "\\0");
    let text = CString::new(text).unwrap_or_default();
    // try_with: during thread teardown the slot may be gone; the message is
    // then lost, which is better than a panic.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// This thread's last error message. The pointer stays valid until the
/// next failing call on this thread.
pub(crate) fn last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

/// Runs `body` and returns its value, or `fallback` if it panicked. Every
/// exported function runs inside this (most through [`boundary`]), so no
/// panic crosses into C.
pub(crate) fn catch<T>(operation: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let message = format!("internal error: panic: {}", panic_message(&*payload));
            // Dropping the payload could itself panic; leak it instead.
            std::mem::forget(payload);
            set_last_error(operation, &message);
            fallback
        }
    }
}

/// The panic boundary of a fallible exported function: maps the body's
/// result to a status, records the error message, and turns a panic into
/// `LC_INTERNAL`.
pub(crate) fn boundary(operation: &'static str, body: impl FnOnce() -> FfiResult) -> lc_status {
    catch(operation, lc_status::LC_INTERNAL, || match body() {
        Ok(()) => lc_status::LC_OK,
        Err(failure) => {
            if let Some(message) = &failure.message {
                set_last_error(operation, message);
            }
            failure.status
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error_text() -> String {
        // SAFETY: last_error returns a NUL-terminated string owned by this
        // thread's slot, valid until the next failing call.
        unsafe { CStr::from_ptr(last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn panic_becomes_internal_with_message() {
        assert_eq!(last_error_text(), "");
        let status = boundary("lc_test", || panic!("boom"));
        assert_eq!(status, lc_status::LC_INTERNAL);
        assert_eq!(last_error_text(), "lc_test: internal error: panic: boom");
        assert_eq!(catch("lc_test_value", 7, || -> i32 { panic!("again") }), 7);
        assert!(last_error_text().contains("again"));
    }

    #[test]
    fn outcomes_leave_the_message_alone() {
        let status = boundary("lc_first", || Err(Failure::invalid("x is NULL")));
        assert_eq!(status, lc_status::LC_INVALID_ARGUMENT);
        assert_eq!(last_error_text(), "lc_first: invalid argument: x is NULL");
        let status = boundary("lc_second", || {
            Err(Failure::outcome(lc_status::LC_NOT_FOUND))
        });
        assert_eq!(status, lc_status::LC_NOT_FOUND);
        assert_eq!(last_error_text(), "lc_first: invalid argument: x is NULL");
        assert_eq!(boundary("lc_third", || Ok(())), lc_status::LC_OK);
        assert_eq!(last_error_text(), "lc_first: invalid argument: x is NULL");
    }

    #[test]
    fn interior_nul_is_escaped() {
        let status = boundary("lc_nul", || Err(Failure::closed("a\0b")));
        assert_eq!(status, lc_status::LC_CLOSED);
        assert_eq!(last_error_text(), "lc_nul: closed: a\\0b");
    }
}
