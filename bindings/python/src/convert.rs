//! Python arguments to engine values. Wrong types raise `TypeError`; values
//! out of range raise `InvalidArgumentError` (a `ValueError`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use libcommit::{CommitMode, Isolation, Options, Pgno, SyncMode};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyList, PyMapping, PyMemoryView, PyString, PyTuple,
};

use crate::errors::{invalid, to_py_err};

/// A page image borrowed from (or copied out of) a Python object. Immutable
/// and `Sync`, so engine calls can read it with the GIL released.
pub(crate) type Data = PyBackedBytes;

/// One batch entry: `None` deletes the page.
pub(crate) type Entry = (Pgno, Option<Data>);

/// An `int` in `0..=u32::MAX`.
pub(crate) fn u32_arg(obj: &Bound<'_, PyAny>, op: &str, name: &str) -> PyResult<u32> {
    let py = obj.py();
    let value = u64_arg(obj, op, name)?;
    u32::try_from(value).map_err(|_| {
        invalid(
            py,
            op,
            format!("{name} {value} is out of range 0..=4294967295"),
        )
    })
}

/// An `int` in `0..=u64::MAX`.
pub(crate) fn u64_arg(obj: &Bound<'_, PyAny>, op: &str, name: &str) -> PyResult<u64> {
    let py = obj.py();
    match obj.extract::<u64>() {
        Ok(value) => Ok(value),
        // Negative or beyond 64 bits: the type is right, the value is not.
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
            Err(invalid(py, op, format!("{name} {obj} is out of range")))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{op}: {name} must be an int, not {}",
            type_name(obj)
        ))),
    }
}

/// A page number: an `int` in `1..=2**32-1`.
pub(crate) fn pgno(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<Pgno> {
    let value = u32_arg(obj, op, "pgno")?;
    if value == 0 {
        return Err(invalid(
            obj.py(),
            op,
            "pgno 0 is invalid (pages are 1..=4294967295)".into(),
        ));
    }
    Ok(value)
}

/// A page image from any object with the buffer protocol (bytes,
/// bytearray, memoryview, array, ...). `bytes` is borrowed without a copy;
/// mutable buffers are copied so that no other thread can change them
/// while the engine reads them without the GIL.
pub(crate) fn data(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<Data> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(PyBackedBytes::from(bytes.clone()));
    }
    if let Ok(array) = obj.cast::<PyByteArray>() {
        return Ok(PyBackedBytes::from(array.clone()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(data_type_error(obj, op));
    }
    let view = PyMemoryView::from(obj).map_err(|_| data_type_error(obj, op))?;
    let bytes = view.call_method0("tobytes")?.cast_into::<PyBytes>()?;
    Ok(PyBackedBytes::from(bytes))
}

fn data_type_error(obj: &Bound<'_, PyAny>, op: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{op}: data must be bytes, bytearray or memoryview (or None to delete), not {}",
        type_name(obj)
    ))
}

/// `None` (delete) or a page image.
fn optional_data(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<Option<Data>> {
    if obj.is_none() {
        Ok(None)
    } else {
        data(obj, op).map(Some)
    }
}

/// The writes of a batch: a mapping `{pgno: data | None}` or an iterable of
/// `(pgno, data | None)` pairs.
pub(crate) fn writes(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<Vec<Entry>> {
    let not_writes = || {
        PyTypeError::new_err(format!(
            "{op}: writes must be a mapping {{pgno: data}} or an iterable of (pgno, data) pairs, not {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(not_writes());
    }
    let items = match obj.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) => obj.clone(),
    };
    let iter = items.try_iter().map_err(|_| not_writes())?;
    let mut entries = Vec::new();
    for item in iter {
        let (key, value) = pair(&item?, op)?;
        entries.push((pgno(&key, op)?, optional_data(&value, op)?));
    }
    Ok(entries)
}

/// A 2-tuple or 2-list.
fn pair<'py>(
    item: &Bound<'py, PyAny>,
    op: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let two = if let Ok(tuple) = item.cast::<PyTuple>() {
        (tuple.len() == 2).then(|| Ok((tuple.get_item(0)?, tuple.get_item(1)?)))
    } else if let Ok(list) = item.cast::<PyList>() {
        (list.len() == 2).then(|| Ok((list.get_item(0)?, list.get_item(1)?)))
    } else {
        None
    };
    two.unwrap_or_else(|| {
        Err(PyTypeError::new_err(format!(
            "{op}: each write must be a (pgno, data) pair, not {}",
            type_name(item)
        )))
    })
}

/// A filesystem path: `str`, `bytes` or `os.PathLike`. Returns the path for
/// the OS and its `str` form (`os.fsdecode`).
pub(crate) fn path(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<(PathBuf, String)> {
    let py = obj.py();
    let os = py.import("os")?;
    let fspath = os.call_method1("fspath", (obj,))?;
    let raw = os
        .call_method1("fsencode", (&fspath,))?
        .cast_into::<PyBytes>()?;
    let text: String = os.call_method1("fsdecode", (&fspath,))?.extract()?;
    let bytes = raw.as_bytes();
    if bytes.is_empty() || bytes.contains(&0) {
        return Err(invalid(
            py,
            op,
            format!("path {text:?} is empty or has a NUL byte"),
        ));
    }
    Ok((PathBuf::from(OsStr::from_bytes(bytes)), text))
}

/// A replica URL: a `str`, checked by the engine ("file:///dir/prefix",
/// "s3://bucket/prefix?endpoint=...").
pub(crate) fn replica_url(obj: &Bound<'_, PyAny>, op: &str, name: &str) -> PyResult<String> {
    let url: String = obj.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{op}: {name} must be a replica URL str (\"file:///dir/prefix\", \"s3://bucket/prefix\"), not {}",
            type_name(obj)
        ))
    })?;
    libcommit::check_replica_url(&url).map_err(|e| to_py_err(obj.py(), op, &e))?;
    Ok(url)
}

/// One of `choices` (case-insensitive).
fn choice<'c, T: Copy>(
    obj: &Bound<'_, PyAny>,
    op: &str,
    name: &str,
    choices: &'c [(&'c str, T)],
) -> PyResult<T> {
    let text: String = obj.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{op}: {name} must be a str, not {}",
            type_name(obj)
        ))
    })?;
    let wanted = text.to_ascii_lowercase();
    if let Some((_, value)) = choices.iter().find(|(key, _)| *key == wanted) {
        return Ok(*value);
    }
    let names: Vec<String> = choices.iter().map(|(key, _)| format!("{key:?}")).collect();
    Err(invalid(
        obj.py(),
        op,
        format!("{name} {text:?}: expected one of {}", names.join(", ")),
    ))
}

/// A durability mode: "full", "normal" or "off".
pub(crate) fn sync_mode(obj: &Bound<'_, PyAny>, op: &str) -> PyResult<SyncMode> {
    let choices = [
        ("full", SyncMode::Full),
        ("normal", SyncMode::Normal),
        ("off", SyncMode::Off),
    ];
    choice(obj, op, "sync", &choices)
}

/// A timeout in seconds (int or float, >= 0), or `None` for no limit.
pub(crate) fn timeout(obj: Option<&Bound<'_, PyAny>>, op: &str) -> PyResult<Option<Duration>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{op}: timeout must be a number of seconds, not bool"
        )));
    }
    let seconds: f64 = obj.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{op}: timeout must be a number of seconds or None, not {}",
            type_name(obj)
        ))
    })?;
    Duration::try_from_secs_f64(seconds).map(Some).map_err(|_| {
        invalid(
            obj.py(),
            op,
            format!("timeout {seconds}: must be a finite number of seconds >= 0"),
        )
    })
}

/// The keyword arguments of `libcommit.open` (and of `libcommit.follow`,
/// which leaves out `page_size` and `read_only`), before validation;
/// `None` (left out) keeps the engine's default.
pub(crate) struct OpenArgs<'a, 'py> {
    pub page_size: Option<&'a Bound<'py, PyAny>>,
    pub sync: Option<&'a Bound<'py, PyAny>>,
    pub mode: Option<&'a Bound<'py, PyAny>>,
    pub isolation: Option<&'a Bound<'py, PyAny>>,
    pub lanes: Option<&'a Bound<'py, PyAny>>,
    pub max_flush_delay_us: Option<&'a Bound<'py, PyAny>>,
    pub busy_timeout_ms: Option<&'a Bound<'py, PyAny>>,
    pub read_only: bool,
}

impl OpenArgs<'_, '_> {
    /// Validated engine options; each bad value raises at once, its
    /// message starting with `op` (the function called).
    pub(crate) fn options(&self, py: Python<'_>, op: &str) -> PyResult<Options> {
        let engine_err = |e: libcommit::Error| to_py_err(py, op, &e);
        let mut options = Options::default();
        if let Some(obj) = self.page_size {
            let value = u32_arg(obj, op, "page_size")?;
            options.set_page_size(value).map_err(engine_err)?;
        }
        if let Some(obj) = self.sync {
            options.sync = sync_mode(obj, op)?;
        }
        if let Some(obj) = self.mode {
            let choices = [("wal", CommitMode::Wal), ("native", CommitMode::Native)];
            options.commit_mode = choice(obj, op, "mode", &choices)?;
        }
        if let Some(obj) = self.isolation {
            let choices = [
                ("snapshot", Isolation::Snapshot),
                ("serializable", Isolation::Serializable),
            ];
            options.isolation = choice(obj, op, "isolation", &choices)?;
        }
        if let Some(obj) = self.lanes {
            let value = u32_arg(obj, op, "lanes")?;
            options.set_lanes(value).map_err(engine_err)?;
        }
        if let Some(obj) = self.max_flush_delay_us {
            let value = u32_arg(obj, op, "max_flush_delay_us")?;
            options.set_max_flush_delay_us(value).map_err(engine_err)?;
        }
        if let Some(obj) = self.busy_timeout_ms {
            options.busy_timeout_ms = u32_arg(obj, op, "busy_timeout_ms")?;
        }
        options.read_only = self.read_only;
        Ok(options)
    }
}

/// The name of an object's type, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
