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
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use memmap2::MmapMut;

use super::process::{self, Carrier};
use super::SharedRegion;

/// Bytes of one word of the region.
const WORD_BYTES: usize = std::mem::size_of::<u64>();
/// Mode of a newly created region file (before the umask).
const REGION_FILE_MODE: u32 = 0o644;
/// Locked (waiting) by a process extending the file with zeros where the
/// file system has no fallocate; far past any byte a region's user locks.
const ALLOCATE_LOCK_BYTE: u64 = 1 << 40;

pub struct MappedRegion {
    map: MmapMut,
    /// Dropped after `map`: the mapping goes before the descriptor.
    file: RegionFile,
}

/// The region's file, entered in the table of descriptors a forked child
/// lets go of (storage/process.rs) for as long as it is open.
struct RegionFile {
    file: File,
    carrier: Option<Carrier>,
}

impl RegionFile {
    /// Drops every lock this open file description holds, then takes it
    /// out of the fork table: a child forked after this may keep a copy,
    /// which then carries no lock. The mapping and descriptor go later.
    fn let_go(&mut self) {
        if let Some(carrier) = self.carrier.take() {
            let _ = ofd_lock(&self.file, libc::F_OFD_SETLK, libc::F_UNLCK, 0, 0);
            carrier.release();
        }
    }
}

impl Drop for RegionFile {
    fn drop(&mut self) {
        self.let_go();
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // Out of the table before the munmap: the child handler must never
        // map over an address range that may since have been reused.
        self.file.let_go();
    }
}

impl MappedRegion {
    /// Maps `path` (created when missing), first giving it `len` bytes of
    /// real disk space: a write through a mapping that finds no space is
    /// a SIGBUS, so a full disk must show here, as ENOSPC.
    pub fn open(path: &Path, len: usize) -> io::Result<MappedRegion> {
        assert!(
            len % WORD_BYTES == 0 && len > 0,
            "region length in whole words"
        );
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .create(true)
            .mode(REGION_FILE_MODE);
        let file = process::registering(|| -> io::Result<RegionFile> {
            let file = options.open(path)?;
            let carrier = process::register(file.as_raw_fd())?;
            Ok(RegionFile {
                file,
                carrier: Some(carrier),
            })
        })?;
        if !file.file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        allocate(&file.file, len)?;
        let map = process::registering(|| -> io::Result<MmapMut> {
            // SAFETY: the mapping is MAP_SHARED over a regular file we keep
            // open and never shrink; other processes change its bytes,
            // which is why every access goes through atomics (`words`),
            // never through plain references to the bytes.
            let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file.file)? };
            if let Some(c) = &file.carrier {
                c.set_mapping(map.as_ptr(), map.len());
            }
            Ok(map)
        })?;
        Ok(MappedRegion { map, file })
    }

    fn ofd_lock(&self, cmd: libc::c_int, kind: libc::c_int, byte: u64) -> io::Result<libc::flock> {
        ofd_lock(&self.file.file, cmd, kind, byte, 1)
    }

    fn word_addr(&self, word: usize) -> *const u32 {
        // The futex word is the low half of the 64-bit word (little-endian).
        let words = self.words();
        (&raw const words[word]).cast::<u32>()
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
        #[allow(clippy::cast_ptr_alignment)] // page-aligned, asserted above
        let words = ptr.cast::<AtomicU64>();
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(words, self.map.len() / WORD_BYTES) }
    }

    fn try_lock(&self, byte: u64, exclusive: bool) -> io::Result<bool> {
        let kind = if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        };
        match self.ofd_lock(libc::F_OFD_SETLK, kind, byte) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn unlock(&self, byte: u64) -> io::Result<()> {
        self.ofd_lock(libc::F_OFD_SETLK, libc::F_UNLCK, byte)
            .map(|_| ())
    }

    fn locked_by_other(&self, byte: u64) -> io::Result<bool> {
        // F_OFD_GETLK reports a lock that would conflict with an exclusive
        // one of ours; our own locks never conflict with us.
        let fl = self.ofd_lock(libc::F_OFD_GETLK, libc::F_WRLCK, byte)?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    fn wait(&self, word: usize, expected: u32, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
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
                &raw const ts,
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

/// An open-file-description lock call on `len` bytes at `start` (0 = to
/// the end and beyond).
fn ofd_lock(
    file: &File,
    cmd: libc::c_int,
    kind: libc::c_int,
    start: u64,
    len: u64,
) -> io::Result<libc::flock> {
    // SAFETY: an all-zero flock is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let range = |v: u64| {
        libc::off_t::try_from(v)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "lock range too large"))
    };
    fl.l_start = range(start)?;
    fl.l_len = range(len)?;
    // OFD locks require l_pid = 0 (zeroed above).
    // SAFETY: fcntl with an F_OFD_* command reads and writes the flock we
    // pass by pointer; the fd is valid while `file` lives.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl)
}

/// Gives `file` `len` bytes of allocated space (fallocate: existing bytes
/// stay as they are, so this is safe while others use the file). Not
/// posix_fallocate: where the file system has no fallocate, glibc emulates
/// it by writing a zero into every block it reads as zero - racing other
/// processes' stores through their mappings (glibc's own comment calls it
/// racy); our fallback writes only past the end, under a lock.
fn allocate(file: &File, len: usize) -> io::Result<()> {
    let len_off = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
    // SAFETY: fallocate only reads its integer arguments; the fd is valid
    // while `file` lives.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len_off) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::ENOSYS) => zero_fill(file, len as u64),
        _ => Err(err),
    }
}

/// Without fallocate: writes zeros from the end of the file up to `len`,
/// under a lock, so that two openers never both write - one could zero
/// what another, already mapped, had written there. (An existing file of
/// the full length is trusted to be allocated.)
fn zero_fill(file: &File, len: u64) -> io::Result<()> {
    ofd_lock(
        file,
        libc::F_OFD_SETLKW,
        libc::F_WRLCK,
        ALLOCATE_LOCK_BYTE,
        1,
    )?;
    let filled = file.metadata().and_then(|m| match m.len() {
        have if have < len => file.write_all_at(&vec![0; (len - have) as usize], have),
        _ => Ok(()),
    });
    let _ = ofd_lock(
        file,
        libc::F_OFD_SETLK,
        libc::F_UNLCK,
        ALLOCATE_LOCK_BYTE,
        1,
    );
    filled
}
