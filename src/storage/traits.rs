//! The storage interface: the calls every file access of the engine goes
//! through, and the rules implementations follow (see the module doc).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only; the file must exist.
    ReadOnly,
    /// Read-write; the file must exist.
    ReadWrite,
    /// Read-write; created (empty) when missing.
    Create,
    /// Read-write; must not exist yet.
    CreateNew,
}

/// Bytes written between [`StorageFile::write_behind`] calls in long
/// writes: what a commit's sync may find queued ahead of it at most.
pub const WRITE_BEHIND_STEP_BYTES: usize = 512 << 10;

/// A file system as the engine sees it.
pub trait Storage: Send + Sync + 'static {
    /// Opens `path` as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Opens `path` as a file that will carry advisory locks
    /// ([`StorageFile::try_lock_exclusive`]); only files opened this way
    /// may be locked. The real storage enters the descriptor in the table
    /// whose entries a forked child lets go of, so that a lock never
    /// outlives its process through a child's copy (storage/process.rs).
    fn open_for_locks(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        self.open(path, mode)
    }
    /// True when `path` names an existing file.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// True when `dir` is an existing directory.
    fn dir_exists(&self, dir: &Path) -> io::Result<bool>;
    /// Removes the file at `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// The names of the files in `dir` (full paths, any order).
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// A nonzero tag of the current machine boot, or 0 if unknown. Commit
    /// records carry it, so recovery can say that a commit it cut had been
    /// written in this boot but never synced (never evidence of
    /// durability: unsynced data can vanish without a reboot), and a
    /// failed sync recorded in `{path}-shm` is honoured only in its boot.
    /// A simulated storage changes it at power loss.
    fn boot_tag(&self) -> u32 {
        0
    }

    /// Identifies the file system this instance stands for: two instances
    /// with the same id see the same files. Defaults to the instance's
    /// address (every simulated file system is its own world).
    fn instance_id(&self) -> usize {
        std::ptr::from_ref::<Self>(self).cast::<u8>() as usize
    }

    /// Maps `path` (created and sized to `len` bytes when needed) as memory
    /// shared with every process that maps it, with byte-range locks that
    /// the kernel releases when their holder dies. `None` when this storage
    /// cannot be shared between processes: the engine then keeps the
    /// database to itself (one process at a time).
    fn open_shared(&self, _path: &Path, _len: usize) -> io::Result<Option<Box<dyn SharedRegion>>> {
        Ok(None)
    }
}

/// Memory shared between processes, plus advisory locks on single bytes of
/// its file. Locks belong to this region (its open file description): two
/// regions on one file conflict even within one process.
pub trait SharedRegion: Send + Sync {
    /// The region as 64-bit words; all access is atomic.
    fn words(&self) -> &[AtomicU64];
    /// Locks byte `byte` without waiting (shared or exclusive); false when
    /// another holder conflicts. Converts a lock this region already holds.
    fn try_lock(&self, byte: u64, exclusive: bool) -> io::Result<bool>;
    /// Releases this region's lock on `byte`.
    fn unlock(&self, byte: u64) -> io::Result<()>;
    /// True when another region (in any process) holds a lock on `byte`.
    fn locked_by_other(&self, byte: u64) -> io::Result<bool>;
    /// Sleeps while the low 32 bits of word `word` equal `expected`, at most
    /// `timeout` (futex); may return early.
    fn wait(&self, word: usize, expected: u32, timeout: Duration);
    /// Wakes every process sleeping in [`SharedRegion::wait`] on `word`.
    fn wake(&self, word: usize);
}

/// An open file.
#[allow(clippy::len_without_is_empty)] // a file's length is not a collection's
pub trait StorageFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk space for `[0, len)` without changing what reads
    /// return (fallocate); extends the length to at least `len`. Fails with
    /// ENOSPC when the space is not there.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Paces a long write: waits for the write-out an earlier call started,
    /// then starts writing out what is dirty now (Linux sync_file_range,
    /// WAIT_BEFORE | WRITE, whole file). Not a durability barrier - a sync
    /// still follows - but called every few MiB it hands a checkpoint or a
    /// segment fill to the device in steps, instead of one burst at the
    /// final sync that every commit's sync would queue behind. An error is
    /// a write error and must be treated as a failed sync (the kernel
    /// reports it once).
    fn write_behind(&self) -> io::Result<()> {
        Ok(())
    }
    /// Makes written data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes written data and metadata durable (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// Takes an exclusive advisory lock without waiting; false if another
    /// holder has it. Released when the file is closed.
    fn try_lock_exclusive(&self) -> io::Result<bool>;
    /// Takes a shared advisory lock without waiting; false if an exclusive
    /// holder has it. Defaults to the exclusive lock (stricter, never
    /// wrong).
    fn try_lock_shared(&self) -> io::Result<bool> {
        self.try_lock_exclusive()
    }
}

/// The directory a database file lives in ("." for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
