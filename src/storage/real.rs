//! The real file system: std::fs plus the few libc calls it lacks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::process::{self, Carrier};
use super::{OpenMode, Storage, StorageFile};

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealStorage;

struct RealFile {
    file: File,
    /// Set for a file opened to carry locks: its entry in the table of
    /// descriptors a forked child lets go of (storage/process.rs).
    carrier: Option<Carrier>,
}

fn open_options(mode: OpenMode) -> OpenOptions {
    let mut o = OpenOptions::new();
    match mode {
        OpenMode::ReadOnly => o.read(true),
        OpenMode::ReadWrite => o.read(true).write(true),
        OpenMode::Create => o.read(true).write(true).create(true),
        OpenMode::CreateNew => o.read(true).write(true).create_new(true),
    };
    o
}

fn regular(file: RealFile) -> io::Result<Box<dyn StorageFile>> {
    if !file.file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(Box::new(file))
}

impl Storage for RealStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let file = open_options(mode).open(path)?;
        regular(RealFile {
            file,
            carrier: None,
        })
    }

    fn open_for_locks(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let (file, carrier) = process::registering(|| -> io::Result<_> {
            let file = open_options(mode).open(path)?;
            let carrier = process::register(file.as_raw_fd())?;
            Ok((file, carrier))
        })?;
        regular(RealFile {
            file,
            carrier: Some(carrier),
        })
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn dir_exists(&self, dir: &Path) -> io::Result<bool> {
        match std::fs::metadata(dir) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.path());
        }
        Ok(out)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn boot_tag(&self) -> u32 {
        // The kernel's random boot id changes at every boot.
        match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
            Ok(id) => crc32c::crc32c(id.trim().as_bytes()).max(1),
            Err(_) => 0,
        }
    }

    fn instance_id(&self) -> usize {
        // Every RealStorage is the one real file system.
        0
    }

    fn open_shared(
        &self,
        path: &Path,
        len: usize,
    ) -> io::Result<Option<Box<dyn super::SharedRegion>>> {
        super::shared::MappedRegion::open(path, len).map(|r| Some(Box::new(r) as Box<_>))
    }
}

impl StorageFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let len_off = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        // SAFETY: fallocate only reads its integer arguments; the fd is
        // owned by `self.file` and open for the duration of the call.
        let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, len_off) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // File systems without fallocate: extending the length is the
            // best we can do; space is then claimed by the first write.
            Some(libc::EOPNOTSUPP | libc::ENOSYS) => {
                if self.len()? < len {
                    self.file.set_len(len)?;
                }
                Ok(())
            }
            _ => Err(err),
        }
    }

    fn write_behind(&self) -> io::Result<()> {
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE;
        // SAFETY: sync_file_range only reads its integer arguments; the fd
        // is owned by `self.file` and open for the duration of the call.
        let rc = unsafe { libc::sync_file_range(self.file.as_raw_fd(), 0, 0, flags) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // Not on this file system (or not a regular file): the final
            // sync does all of the work, as without the hint.
            Some(libc::ENOSYS | libc::EOPNOTSUPP | libc::ESPIPE) => Ok(()),
            _ => Err(err),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn try_lock_exclusive(&self) -> io::Result<bool> {
        self.flock(libc::LOCK_EX)
    }

    fn try_lock_shared(&self) -> io::Result<bool> {
        self.flock(libc::LOCK_SH)
    }
}

impl Drop for RealFile {
    fn drop(&mut self) {
        if let Some(carrier) = self.carrier.take() {
            // The lock goes first (it belongs to the open file description,
            // which a child forked before the close below would keep), then
            // the table entry; the descriptor closes after this.
            // SAFETY: flock only takes the fd and flags; the fd is valid
            // until `self.file` is dropped, after this function.
            unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
            carrier.release();
        }
    }
}

impl RealFile {
    /// flock(2) without waiting: Ok(false) when another holder conflicts.
    fn flock(&self, how: libc::c_int) -> io::Result<bool> {
        debug_assert!(
            self.carrier.is_some(),
            "locks only on files opened with open_for_locks: a forked child would keep them"
        );
        // SAFETY: flock only takes the fd and flags; the fd is valid while
        // `self.file` lives.
        let rc = unsafe { libc::flock(self.file.as_raw_fd(), how | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(false)
        } else {
            Err(err)
        }
    }
}
