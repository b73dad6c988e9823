//! Spill files: where a large write set keeps its page images.
//!
//! Once a transaction's images pass the spill threshold, further images go
//! to a private file beside the database (`{path}-spill-{pid:x}-{n:x}`)
//! instead of memory, each with its CRC32C, so a transaction of any size
//! commits with bounded memory. The file is removed when the write set is
//! dropped; leftovers of dead processes are removed on open.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::storage::{OpenMode, Storage, StorageFile};

/// Marker between the database path and the owner in spill file names.
pub const SPILL_INFIX: &str = "-spill-";

/// A private, append-only file of page images.
pub struct SpillFile {
    path: PathBuf,
    file: Box<dyn StorageFile>,
    storage: Arc<dyn Storage>,
    tail: Mutex<u64>,
}

impl SpillFile {
    /// Creates a new spill file for the database at `db_path`.
    pub fn create(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<SpillFile> {
        // Unique within the process; the pid makes it unique across them.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut name = db_path.as_os_str().to_owned();
        name.push(format!("{SPILL_INFIX}{:x}-{n:x}", std::process::id()));
        let path = PathBuf::from(name);
        let file = storage
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io("create spill file", &path, e))?;
        Ok(SpillFile {
            path,
            file,
            storage: Arc::clone(storage),
            tail: Mutex::new(0),
        })
    }

    /// Appends `image`; returns its offset.
    pub fn append(&self, image: &[u8]) -> Result<u64> {
        let mut tail = self.tail.lock();
        let at = *tail;
        self.file
            .write_at(image, at)
            .map_err(|e| Error::io("write spill file", &self.path, e))?;
        *tail += image.len() as u64;
        Ok(at)
    }

    /// Reads back `len` bytes at `offset` into `out`, checked against `crc`.
    pub fn read_into(&self, offset: u64, crc: u32, out: &mut [u8]) -> Result<()> {
        self.file
            .read_at(out, offset)
            .map_err(|e| Error::io("read spill file", &self.path, e))?;
        if crate::format::crc32c(out) != crc {
            return Err(Error::corrupt(format!(
                "{}: image at offset {offset} fails its checksum",
                self.path.display()
            )));
        }
        Ok(())
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Nothing to report to: a leftover is removed at the next open.
        let _ = self.storage.remove(&self.path);
    }
}

/// The pid in a spill file's name, if `candidate` is one of `db_path`'s.
pub fn spill_owner(db_path: &Path, candidate: &Path) -> Option<u32> {
    let base = db_path.file_name()?.to_str()?;
    let name = candidate.file_name()?.to_str()?;
    let rest = name.strip_prefix(base)?.strip_prefix(SPILL_INFIX)?;
    let (pid, _) = rest.split_once('-')?;
    u32::from_str_radix(pid, 16).ok()
}

/// True when process `pid` exists (a spill file of a live process is in use).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for the process; no signal is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
