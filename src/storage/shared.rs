//! The real [`SharedRegion`]: a file mapped MAP_SHARED (memmap2), open
//! file description locks (F_OFD_SETLK) on single bytes of it, and futex
//! waits on its words.
//!
//! OFD locks rather than flock or POSIX locks: flock has no byte ranges,
//! and POSIX record locks belong to the process, so closing any descriptor
//! of the file would silently drop them. OFD locks belong to the open file
//! description and die with it - with the process, on any death.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use memmap2::MmapMut;

use super::SharedRegion;

/// Bytes of one word of the region.
const WORD_BYTES: usize = std::mem::size_of::<u64>();
/// Mode of a newly created region file (before the umask).
const REGION_FILE_MODE: u32 = 0o644;

pub struct MappedRegion {
    file: File,
    map: MmapMut,
}

impl MappedRegion {
    pub fn open(path: &Path, len: usize) -> io::Result<MappedRegion> {
        assert!(
            len % WORD_BYTES == 0 && len > 0,
            "region length in whole words"
        );
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(REGION_FILE_MODE)
            .open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        if file.metadata()?.len() < len as u64 {
            // Racing creators extend to the same length: harmless.
            file.set_len(len as u64)?;
        }
        // SAFETY: the mapping is MAP_SHARED over a regular file we keep
        // open and never shrink; other processes change its bytes, which is
        // why every access goes through atomics (`words`), never through
        // plain references to the bytes.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file)? };
        Ok(MappedRegion { file, map })
    }

    fn ofd_lock(
        &self,
        cmd: libc::c_int,
        kind: libc::c_short,
        byte: u64,
    ) -> io::Result<libc::flock> {
        // SAFETY: an all-zero flock is a valid value of this plain C struct.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = libc::off_t::try_from(byte)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "lock byte too large"))?;
        fl.l_len = 1;
        // OFD locks require l_pid = 0 (zeroed above).
        // SAFETY: fcntl with an F_OFD_* command reads and writes the flock
        // we pass by pointer; the fd is valid while `self.file` lives.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), cmd, &mut fl) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(fl)
    }

    fn word_addr(&self, word: usize) -> *const u32 {
        // The futex word is the low half of the 64-bit word (little-endian).
        let words = self.words();
        &words[word] as *const AtomicU64 as *const u32
    }
}

impl SharedRegion for MappedRegion {
    fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_ptr();
        debug_assert!(ptr as usize % std::mem::align_of::<AtomicU64>() == 0);
        // SAFETY: the mapping is page-aligned, `len` is a whole number of
        // words (checked at open), it lives as long as `self`, and
        // AtomicU64 has the size and alignment of u64; all accesses through
        // the slice are atomic, so concurrent changes by other processes
        // are not data races.
        unsafe { std::slice::from_raw_parts(ptr as *const AtomicU64, self.map.len() / WORD_BYTES) }
    }

    fn try_lock(&self, byte: u64, exclusive: bool) -> io::Result<bool> {
        let kind = if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        };
        match self.ofd_lock(libc::F_OFD_SETLK, kind as libc::c_short, byte) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn unlock(&self, byte: u64) -> io::Result<()> {
        self.ofd_lock(libc::F_OFD_SETLK, libc::F_UNLCK as libc::c_short, byte)
            .map(|_| ())
    }

    fn locked_by_other(&self, byte: u64) -> io::Result<bool> {
        // F_OFD_GETLK reports a lock that would conflict with an exclusive
        // one of ours; our own locks never conflict with us.
        let fl = self.ofd_lock(libc::F_OFD_GETLK, libc::F_WRLCK as libc::c_short, byte)?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    fn wait(&self, word: usize, expected: u32, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: FUTEX_WAIT (shared, not PRIVATE: the word is in a
        // MAP_SHARED mapping other processes wake) reads the aligned u32 at
        // the address, which stays mapped for the call; the timespec
        // outlives the call. Spurious returns (EAGAIN, EINTR, timeout) are
        // fine: callers re-check what they wait for.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word_addr(word),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    fn wake(&self, word: usize) {
        // SAFETY: FUTEX_WAKE only uses the address as a key; it stays
        // mapped for the call.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word_addr(word),
                libc::FUTEX_WAKE,
                i32::MAX,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}
