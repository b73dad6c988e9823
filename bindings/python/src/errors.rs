//! Engine errors to Python exceptions: the one place that maps them.
//!
//! The exception classes live in the pure-Python module `libcommit._errors`
//! (so they have ordinary constructors, docstrings and stubs); this module
//! picks the class from [`Error::status`] and fills in the attributes.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use libcommit::{Error, Status};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The module that defines the exception tree.
const ERRORS_MODULE: &str = "libcommit._errors";

/// Runs `f` (an engine call) with the GIL released, and converts its error
/// (or a panic, which becomes status INTERNAL) into a libcommit exception
/// whose message reads "`op`: reason".
///
/// `f` must not touch Python: it runs detached from the interpreter.
pub(crate) fn engine<T, F>(py: Python<'_>, op: &str, f: F) -> PyResult<T>
where
    F: FnOnce() -> libcommit::Result<T> + Send,
    T: Send,
{
    let outcome = py.detach(|| panic::catch_unwind(AssertUnwindSafe(f)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(to_py_err(py, op, &error)),
        Err(payload) => Err(to_py_err(py, op, &panic_error(payload))),
    }
}

/// A bad argument detected by the binding itself: raises the same
/// `InvalidArgumentError` (a `ValueError`) as the engine's checks.
pub(crate) fn invalid(py: Python<'_>, op: &str, reason: String) -> PyErr {
    to_py_err(py, op, &Error::InvalidArgument(reason))
}

/// Converts an engine error into the exception of its status.
pub(crate) fn to_py_err(py: Python<'_>, op: &str, error: &Error) -> PyErr {
    let status = error.status();
    let reason = error.to_string();
    // The engine's conflict message already starts with "commit:".
    let message = if reason.starts_with(op) && reason[op.len()..].starts_with(':') {
        reason
    } else {
        format!("{op}: {reason}")
    };
    build(py, status, message, error).unwrap_or_else(|e| e)
}

/// The exception class (in `libcommit._errors`) for a status.
fn class_name(status: Status) -> &'static str {
    match status {
        Status::Conflict => "ConflictError",
        Status::Busy => "BusyError",
        Status::Corrupt => "CorruptError",
        Status::Io | Status::Full => "StorageError",
        Status::InvalidArgument => "InvalidArgumentError",
        Status::Closed => "ClosedError",
        Status::ReadOnly => "ReadOnlyError",
        Status::Fenced => "FencedError",
        Status::Ok | Status::NotFound | Status::BufferTooSmall | Status::Internal => "Error",
    }
}

fn build(py: Python<'_>, status: Status, message: String, error: &Error) -> PyResult<PyErr> {
    let class = py.import(ERRORS_MODULE)?.getattr(class_name(status))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("status", status as i32)?;
    if let Error::Conflict { pages, commit_seq } = error {
        kwargs.set_item("pages", pages.clone())?;
        kwargs.set_item("commit_seq", *commit_seq)?;
    }
    let exception = class.call((message,), Some(&kwargs))?;
    Ok(PyErr::from_value(exception))
}

pub(crate) fn panic_error(payload: Box<dyn Any + Send>) -> Error {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    };
    Error::Internal(format!("engine panicked: {what}"))
}
