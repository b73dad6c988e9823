//! Which process a handle belongs to, and what a forked child must not
//! keep of its parent.
//!
//! fork(2) copies the parent's descriptors and mappings into the child;
//! they refer to the same open file descriptions, and OFD and flock locks
//! belong to those. So while a child holds a copy, the parent's locks - its
//! shm slot, the writer lease, a spill file's lock - outlive the parent,
//! and a child that used the handle would act with the parent's locks on
//! state only the parent keeps. The rule, as SQLite states it: a handle
//! belongs to the process that opened it; a forked child opens the
//! database again. Two things enforce it:
//!
//! - a fork generation, bumped by a `pthread_atfork` child handler: a
//!   handle compares it with the one it was opened in ([`Owner`]), one
//!   atomic load per call rather than a getpid per call;
//! - a lock-free table of the descriptors that carry locks (and of the
//!   mapping of the one that is mapped): the same child handler points
//!   each at /dev/null and replaces each mapping with anonymous memory, so
//!   the child holds no reference to an open file description of the
//!   parent's that carries locks. The kernel then frees the parent's locks
//!   when the parent dies, whatever its children do.
//!
//! The child handler runs in a copy of a process that may have had other
//! threads (stopped anywhere, holding any lock), so it makes only
//! async-signal-safe system calls (dup3, mmap) and atomic accesses.
//! Opening a lock-carrying file and entering it in the table happen
//! inside [`registering`], which a fork waits out (the prepare handler):
//! no child ever holds a copy that is not in the table.

use std::io;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

/// Lock-carrying descriptors one process can have open at once: one per
/// open database (its shm), one per spilled transaction, the odd lock file.
pub const LOCK_CARRIERS_MAX: usize = 1024;

/// A table entry's descriptor when the entry is free.
const FREE: RawFd = -1;
/// Set in [`GATE`] while a fork is under way; the low bits count the
/// threads inside [`registering`].
const FORKING: u64 = 1 << 63;

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static GATE: AtomicU64 = AtomicU64::new(0);
/// Where the child handler points inherited descriptors (opened once, in
/// [`install`], so the handler needs no descriptor of its own).
static NULL_FD: AtomicI32 = AtomicI32::new(FREE);
static INSTALL: Once = Once::new();

struct Entry {
    fd: AtomicI32,
    map_addr: AtomicUsize,
    map_len: AtomicUsize,
}

static TABLE: [Entry; LOCK_CARRIERS_MAX] = [const {
    Entry {
        fd: AtomicI32::new(FREE),
        map_addr: AtomicUsize::new(0),
        map_len: AtomicUsize::new(0),
    }
}; LOCK_CARRIERS_MAX];

/// How many forks separate this process from the first process of its
/// line that loaded the library (0 in it; a child starts at its parent's
/// value + 1).
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Installs the fork handlers (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: open with a NUL-terminated path and flags only; the
        // descriptor is kept for the life of the process.
        let mut fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            // No /dev/null (a bare chroot): any descriptor that is not a
            // file of ours will do.
            // SAFETY: eventfd takes integer arguments only.
            fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        }
        NULL_FD.store(fd, Ordering::Release);
        // SAFETY: the handlers are plain `extern "C"` functions of this
        // library that live as long as it does; they take no arguments.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            tracing::error!("pthread_atfork failed ({rc}): a forked child is not detected");
        }
    });
}

/// Runs `f` - which opens a lock-carrying descriptor and enters it in the
/// table, or maps one - with forks held off until it is done.
pub fn registering<T>(f: impl FnOnce() -> T) -> T {
    /// Leaves the gate however `f` ends.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            GATE.fetch_sub(1, Ordering::AcqRel);
        }
    }
    install();
    loop {
        let g = GATE.load(Ordering::Acquire);
        if g & FORKING == 0
            && GATE
                .compare_exchange_weak(g, g + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            break;
        }
        std::thread::yield_now();
    }
    let _leave = Leave;
    f()
}

/// A descriptor in the table; [`Carrier::release`] takes it out.
#[derive(Debug)]
pub struct Carrier {
    index: usize,
}

/// Enters `fd` in the table. Call inside [`registering`], right after the
/// descriptor was opened.
pub fn register(fd: RawFd) -> io::Result<Carrier> {
    debug_assert!(
        GATE.load(Ordering::Relaxed) & !FORKING > 0,
        "outside registering"
    );
    for (index, e) in TABLE.iter().enumerate() {
        if e.fd
            .compare_exchange(FREE, fd, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(Carrier { index });
        }
    }
    Err(io::Error::other(format!(
        "more than {LOCK_CARRIERS_MAX} lock-carrying files open in this process"
    )))
}

impl Carrier {
    /// Records the mapping of this descriptor's file (inside
    /// [`registering`], together with the mmap).
    pub fn set_mapping(&self, addr: *const u8, len: usize) {
        let e = &TABLE[self.index];
        e.map_len.store(len, Ordering::Release);
        e.map_addr.store(addr as usize, Ordering::Release);
    }

    /// Takes the descriptor out of the table. Call once its locks are
    /// released (or no longer matter) and before it is closed: a child
    /// forked in between keeps a copy, which then carries no lock.
    pub fn release(self) {
        let e = &TABLE[self.index];
        e.map_addr.store(0, Ordering::Release);
        e.map_len.store(0, Ordering::Release);
        e.fd.store(FREE, Ordering::Release);
    }
}

/// The process a handle was opened in.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    generation: u64,
    pid: u32,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        install();
        Owner {
            generation: fork_generation(),
            pid: std::process::id(),
        }
    }

    /// True in a child forked (at any depth) from the owner.
    pub fn forked(&self) -> bool {
        fork_generation() != self.generation
    }

    /// The owner's pid (information only: it may mean nothing here).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// A value each process has its own of: a forked child gets a fresh one on
/// first use, and the parent's copy is leaked there - dropping it would
/// act for the parent (its engines, their locks and shared memory). The
/// fresh one keeps a pointer to it, so that leak checkers see it as
/// reachable, which it is meant to be.
#[derive(Debug)]
pub struct PerProcess<T: 'static> {
    current: AtomicPtr<Node<T>>,
}

#[derive(Debug)]
struct Node<T> {
    generation: u64,
    value: T,
    _parent: *mut Node<T>,
}

impl<T: Send + Sync + 'static> PerProcess<T> {
    pub const fn new() -> PerProcess<T> {
        PerProcess {
            current: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's value, made by `init` on its first use here.
    pub fn get(&self, init: impl Fn() -> T) -> &T {
        install();
        let generation = fork_generation();
        loop {
            let p = self.current.load(Ordering::Acquire);
            // SAFETY: non-null pointers here come from Box::into_raw below
            // and are never freed (leaked on purpose), so they stay valid
            // for the life of the process.
            if let Some(node) = unsafe { p.as_ref() } {
                if node.generation == generation {
                    return &node.value;
                }
            }
            let fresh = Box::into_raw(Box::new(Node {
                generation,
                value: init(),
                _parent: p,
            }));
            match self
                .current
                .compare_exchange(p, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: `fresh` is now published and never freed.
                Ok(_) => return unsafe { &(*fresh).value },
                // SAFETY: `fresh` lost the race and was never published.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }
}

/// Before fork (in the forking thread): waits until no thread is between
/// opening a lock-carrying descriptor and entering it in the table.
extern "C" fn prepare() {
    GATE.fetch_or(FORKING, Ordering::AcqRel);
    while GATE.load(Ordering::Acquire) & !FORKING != 0 {
        std::thread::yield_now();
    }
}

/// After fork, in the parent.
extern "C" fn parent() {
    GATE.fetch_and(!FORKING, Ordering::AcqRel);
}

/// After fork, in the child: async-signal-safe calls only.
extern "C" fn child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
    let null = NULL_FD.load(Ordering::Acquire);
    for e in &TABLE {
        let fd = e.fd.load(Ordering::Acquire);
        if fd == FREE {
            continue;
        }
        let (addr, len) = (
            e.map_addr.load(Ordering::Acquire),
            e.map_len.load(Ordering::Acquire),
        );
        if addr != 0 && len != 0 {
            // SAFETY: replaces the pages of a mapping this process owns
            // (copied from the parent) with private zero pages at the same
            // address: the child's stray accesses, if any, stay valid but
            // reach nothing shared, and the mapping's file reference goes.
            unsafe {
                libc::mmap(
                    addr as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
            }
        }
        if null >= 0 {
            // SAFETY: dup3 on two descriptors this process holds; `fd`
            // keeps its number (its owner closes it later) but now names
            // /dev/null, not the parent's open file description.
            unsafe { libc::dup3(null, fd, libc::O_CLOEXEC) };
        }
    }
    GATE.store(0, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_this_process_until_a_fork() {
        let me = Owner::current();
        assert!(!me.forked());
        assert_eq!(me.pid(), std::process::id());
    }

    #[test]
    fn entries_are_taken_and_given_back() {
        let c = registering(|| register(i32::MAX)).unwrap();
        assert_eq!(TABLE[c.index].fd.load(Ordering::Acquire), i32::MAX);
        let index = c.index;
        c.release();
        assert_eq!(TABLE[index].fd.load(Ordering::Acquire), FREE);
    }

    #[test]
    fn per_process_values_are_made_once() {
        static V: PerProcess<u64> = PerProcess::new();
        let a = std::ptr::from_ref::<u64>(V.get(|| 7));
        let b = std::ptr::from_ref::<u64>(V.get(|| 8));
        assert_eq!(a, b);
        assert_eq!(*V.get(|| 9), 7);
    }
}
