//! Spill files: where a large write set keeps its page images.
//!
//! Once a transaction's images pass the spill threshold, further images go
//! to a private file beside the database (`{path}-spill-{pid:x}-{n:x}`)
//! instead of memory, each with its CRC32C, so a transaction of any size
//! commits with bounded memory. The file is removed when the write set is
//! dropped; leftovers of dead processes are removed on open.
//!
//! Who owns a spill file is told by the kernel, not by the pid in its
//! name (which in another PID namespace names nobody here, or someone
//! else): the owner holds an exclusive lock on it for its whole life,
//! and a cleaner removes only files whose lock it can take. The race
//! between creating a file and locking it is benign: a cleaner that takes
//! the lock first removes the name, and the owner, finding the lock taken
//! (or, if the cleaner was quicker still, the name gone), starts over
//! under a new name; once the owner holds the lock, no cleaner removes the
//! name until the owner is gone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::mutex::Mutex;

use crate::error::{Error, Result};
use crate::storage::process::Owner;
use crate::storage::{parent_dir, OpenMode, Storage, StorageFile};

/// Marker between the database path and the owner in spill file names.
pub const SPILL_INFIX: &str = "-spill-";
/// Names tried before creating a spill file gives up: a name is taken only
/// by a process of the same pid (in another PID namespace) or a cleaner
/// that got in between create and lock, each time.
const CREATE_ATTEMPTS: usize = 16;

/// A private, append-only file of page images.
pub struct SpillFile {
    path: PathBuf,
    file: Box<dyn StorageFile>,
    storage: Arc<dyn Storage>,
    tail: Mutex<u64>,
    /// A forked child must leave the parent's file alone.
    owner: Owner,
}

impl SpillFile {
    /// Creates a new spill file for the database at `db_path`, locked
    /// exclusively for its life.
    pub fn create(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<SpillFile> {
        // Unique within the process; the pid makes it unique across the
        // processes of one PID namespace, and a collision with another
        // namespace's only costs a retry.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut last_err = None;
        for _ in 0..CREATE_ATTEMPTS {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let mut name = db_path.as_os_str().to_owned();
            name.push(format!("{SPILL_INFIX}{:x}-{n:x}", std::process::id()));
            let path = PathBuf::from(name);
            let file = match storage.open_for_locks(&path, OpenMode::CreateNew) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(Error::io("create spill file", &path, e)),
            };
            let locked = file
                .try_lock_exclusive()
                .map_err(|e| Error::io("lock spill file", &path, e))?;
            // A cleaner got in between create and lock: it holds the lock
            // and removes the name, or already has.
            if !locked
                || !storage
                    .exists(&path)
                    .map_err(|e| Error::io("look up spill file", &path, e))?
            {
                continue;
            }
            return Ok(SpillFile {
                path,
                file,
                storage: Arc::clone(storage),
                tail: Mutex::new(0),
                owner: Owner::current(),
            });
        }
        Err(Error::io(
            "create spill file",
            db_path,
            last_err.unwrap_or_else(|| std::io::Error::other("every name tried was taken")),
        ))
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
        if self.owner.forked() {
            // The parent's file, still in use there.
            return;
        }
        // The name goes while the lock is held, so no cleaner races us.
        // Nothing to report to: a leftover is removed at the next open.
        let _ = self.storage.remove(&self.path);
    }
}

/// True when `candidate` is one of `db_path`'s spill files.
fn is_spill_file(db_path: &Path, candidate: &Path) -> bool {
    let (Some(base), Some(name)) = (
        db_path.file_name().and_then(|n| n.to_str()),
        candidate.file_name().and_then(|n| n.to_str()),
    ) else {
        return false;
    };
    name.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with(SPILL_INFIX))
}

/// Removes the spill files of `db_path` that no live process holds (their
/// owners died); true when it removed any.
pub fn remove_abandoned(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<bool> {
    let dir = parent_dir(db_path);
    let listing = storage
        .list(&dir)
        .map_err(|e| Error::io("list directory", &dir, e))?;
    let mut removed = false;
    for path in listing.iter().filter(|p| is_spill_file(db_path, p)) {
        let file = match storage.open_for_locks(path, OpenMode::ReadOnly) {
            Ok(f) => f,
            // Its owner removed it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open spill file", path, e)),
        };
        if !file
            .try_lock_exclusive()
            .map_err(|e| Error::io("lock spill file", path, e))?
        {
            // Its owner lives.
            continue;
        }
        // Removed under our lock, then closed: an owner that created it
        // and has not locked it yet finds the lock taken and starts over.
        match storage.remove(path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove abandoned spill file", path, e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RealStorage;

    #[test]
    fn only_spill_files_nobody_holds_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let storage: Arc<dyn Storage> = Arc::new(RealStorage);
        let live = SpillFile::create(&storage, &db).unwrap();
        let mut dead = db.as_os_str().to_owned();
        dead.push(format!("{SPILL_INFIX}7fffffff-0"));
        let dead = PathBuf::from(dead);
        std::fs::write(&dead, b"left by a dead process").unwrap();
        let other = dir.path().join("a.dbx-spill-1-0");
        std::fs::write(&other, b"another database's").unwrap();
        assert!(remove_abandoned(&storage, &db).unwrap());
        assert!(live.path.exists(), "a held spill file was removed");
        assert!(!dead.exists(), "an abandoned spill file was kept");
        assert!(other.exists(), "another database's file was removed");
        assert!(!remove_abandoned(&storage, &db).unwrap());
        let path = live.path.clone();
        drop(live);
        assert!(!path.exists());
    }
}
