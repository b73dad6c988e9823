//! The engine's one error type.
//!
//! Every fallible operation returns [`Error`]. The C layer maps it to
//! `lc_status` through [`Error::status`] and the Python layer to its
//! exception tree through the same status, so the mapping lives here once.
//! Messages name the operation and the file or page involved.

use std::fmt;
use std::io;
use std::path::Path;

/// Stable numeric status codes, identical to the C `lc_status` values.
///
/// The numbers are part of the ABI: never renumber or reuse one.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `LC_OK`: the call succeeded.
    Ok = 0,
    /// `LC_NOT_FOUND`: the page was never written, or was deleted.
    NotFound = 1,
    /// `LC_CONFLICT`: first-committer-wins (or read-set) validation failed.
    Conflict = 2,
    /// `LC_BUSY`: another process held what was needed past the busy timeout.
    Busy = 3,
    /// `LC_CORRUPT`: a checksum or format check failed.
    Corrupt = 4,
    /// `LC_IO`: an I/O call failed (a failed sync closes the database to writes).
    Io = 5,
    /// `LC_INVALID_ARGUMENT`: page 0, an oversized image, a bad option value, ...
    InvalidArgument = 6,
    /// `LC_BUFFER_TOO_SMALL`: the caller's buffer is shorter than the image.
    BufferTooSmall = 7,
    /// `LC_CLOSED`: the handle is closed, or the database failed earlier.
    Closed = 8,
    /// `LC_READ_ONLY`: a write through a read-only handle.
    ReadOnly = 9,
    /// `LC_FULL`: out of disk space; nothing partial was left behind.
    Full = 10,
    /// `LC_INTERNAL`: a bug in libcommit (a caught panic).
    Internal = 11,
    /// `LC_FENCED`: another writer took the replica with a newer epoch;
    /// this database refuses commits until it is restored from the replica.
    Fenced = 12,
}

impl Status {
    /// Every status, in numeric order.
    pub const ALL: [Status; 13] = [
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
        Status::Fenced,
    ];

    /// The status with numeric value `code`, if there is one.
    pub fn from_code(code: i64) -> Option<Status> {
        Status::ALL.into_iter().find(|s| *s as i64 == code)
    }

    /// The status's name as C and Python spell it, without the `LC_`
    /// prefix ("NOT_FOUND").
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NotFound => "NOT_FOUND",
            Status::Conflict => "CONFLICT",
            Status::Busy => "BUSY",
            Status::Corrupt => "CORRUPT",
            Status::Io => "IO",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::BufferTooSmall => "BUFFER_TOO_SMALL",
            Status::Closed => "CLOSED",
            Status::ReadOnly => "READ_ONLY",
            Status::Full => "FULL",
            Status::Internal => "INTERNAL",
            Status::Fenced => "FENCED",
        }
    }

    /// A short static description of the status, NUL-terminated for C
    /// (`lc_status_str` hands it out as it is).
    pub fn as_c_str(self) -> &'static std::ffi::CStr {
        match self {
            Status::Ok => c"ok",
            Status::NotFound => c"not found",
            Status::Conflict => c"conflict",
            Status::Busy => c"busy",
            Status::Corrupt => c"corrupt",
            Status::Io => c"I/O error",
            Status::InvalidArgument => c"invalid argument",
            Status::BufferTooSmall => c"buffer too small",
            Status::Closed => c"closed",
            Status::ReadOnly => c"read-only",
            Status::Full => c"disk full",
            Status::Internal => c"internal error",
            Status::Fenced => c"fenced: another writer took the replica",
        }
    }

    /// A short static description of the status.
    pub fn as_str(self) -> &'static str {
        // The texts are ASCII literals above.
        self.as_c_str().to_str().unwrap_or("unknown status")
    }
}

/// Everything that can go wrong in libcommit.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// First-committer-wins (or read-set) validation failed. `pages` are the
    /// pages that another transaction committed after this one's snapshot;
    /// `commit_seq` is the newest commit that wrote one of them.
    Conflict {
        /// The pages committed by another transaction after the snapshot.
        pages: Vec<u32>,
        /// The newest commit that wrote one of them.
        commit_seq: u64,
    },
    /// Another process holds what this call needs, past the busy timeout.
    Busy(String),
    /// A checksum or format check failed.
    Corrupt(String),
    /// An I/O call failed. After a failed write or sync the database is
    /// closed to writes until it is reopened.
    Io {
        /// The operation and file the call was for.
        context: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The disk is full. Nothing partial was left behind.
    Full(String),
    /// A bad argument: page 0, an oversized image, a bad option value, ...
    InvalidArgument(String),
    /// The handle was closed, or the database failed earlier.
    Closed(String),
    /// A write was attempted on a read-only database.
    ReadOnly(String),
    /// A bug: an invariant did not hold (or a panic was caught).
    Internal(String),
    /// Another writer took this database's replica with a newer epoch:
    /// this one must not commit, or its history would fork.
    Fenced(String),
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The stable status code for this error.
    ///
    /// ```
    /// use libcommit::{Database, Options, Status};
    /// # let dir = tempfile::tempdir()?;
    /// let missing = dir.path().join("no-such-dir").join("app.db");
    /// let err = Database::open(&missing, Options::default()).unwrap_err();
    /// assert_eq!(err.status(), Status::Io);
    /// assert_eq!(err.status() as i32, 5); // LC_IO
    /// println!("{err}"); // names the operation and the file
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> Status {
        match self {
            Error::Conflict { .. } => Status::Conflict,
            Error::Busy(_) => Status::Busy,
            Error::Corrupt(_) => Status::Corrupt,
            Error::Io { .. } => Status::Io,
            Error::Full(_) => Status::Full,
            Error::InvalidArgument(_) => Status::InvalidArgument,
            Error::Closed(_) => Status::Closed,
            Error::ReadOnly(_) => Status::ReadOnly,
            Error::Internal(_) => Status::Internal,
            Error::Fenced(_) => Status::Fenced,
        }
    }

    /// Wraps an I/O error with the operation and file it concerns. ENOSPC
    /// (and EDQUOT) become [`Error::Full`] so callers can tell "free some
    /// space and retry" from a failing device.
    pub fn io(op: &str, path: &Path, source: io::Error) -> Error {
        let context = format!("{op} {}", path.display());
        if is_out_of_space(&source) {
            Error::Full(format!("{context}: {source}"))
        } else {
            Error::Io { context, source }
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Error {
        Error::Corrupt(what.into())
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Error {
        Error::InvalidArgument(what.into())
    }

    /// A copy suitable for reporting the same failure to many waiters
    /// (`io::Error` is not `Clone`).
    #[must_use]
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Conflict { pages, commit_seq } => Error::Conflict {
                pages: pages.clone(),
                commit_seq: *commit_seq,
            },
            Error::Busy(m) => Error::Busy(m.clone()),
            Error::Corrupt(m) => Error::Corrupt(m.clone()),
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Full(m) => Error::Full(m.clone()),
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::Closed(m) => Error::Closed(m.clone()),
            Error::ReadOnly(m) => Error::ReadOnly(m.clone()),
            Error::Internal(m) => Error::Internal(m.clone()),
            Error::Fenced(m) => Error::Fenced(m.clone()),
        }
    }
}

/// True when an I/O error means "no space left" rather than a device fault.
pub(crate) fn is_out_of_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || e.kind() == io::ErrorKind::StorageFull
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Conflict { pages, commit_seq } => write!(
                f,
                "commit: conflict on page(s) {pages:?} written by commit {commit_seq} after this snapshot"
            ),
            Error::Busy(m) => write!(f, "busy: {m}"),
            Error::Corrupt(m) => write!(f, "corrupt: {m}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Full(m) => write!(f, "disk full: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Closed(m) => write!(f, "closed: {m}"),
            Error::ReadOnly(m) => write!(f, "read-only: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
            Error::Fenced(m) => write!(f, "fenced: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
