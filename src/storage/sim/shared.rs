//! Simulated shared memory: `{path}-shm` as [`SharedRegion`] sees it,
//! with byte locks that behave like open-file-description locks (they
//! belong to one mapping, conflict even within one process, and die with
//! it, with its process, or with the boot) and futex-like waits.
//!
//! A killed process cannot write anything any more, shared memory
//! included: at its death each of its mappings freezes a private copy of
//! the words, and every later access through it - by threads of the dead
//! engine that are still unwinding - touches only that copy.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::super::SharedRegion;
use super::config::eio;
use super::state::{RegionLock, State};

/// How long a wait on a dead mapping sleeps (nobody will ever wake it).
const DEAD_WAIT_MAX: Duration = Duration::from_millis(1);

/// The memory behind one shared path, outliving its mappings.
pub(super) struct RegionMem {
    words: Box<[AtomicU64]>,
    futex: Mutex<()>,
    cv: Condvar,
}

impl RegionMem {
    pub(super) fn new(words: usize) -> RegionMem {
        RegionMem {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            futex: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// A copy with the same words (for a forked disk).
    pub(super) fn deep_copy(&self) -> RegionMem {
        let copy = RegionMem::new(self.words.len());
        for (to, from) in copy.words.iter().zip(self.words.iter()) {
            to.store(from.load(Ordering::SeqCst), Ordering::Relaxed);
        }
        copy
    }

    pub(super) fn len(&self) -> usize {
        self.words.len() * std::mem::size_of::<u64>()
    }

    /// Disk space the file behind it takes.
    pub(super) fn bytes(&self) -> u64 {
        self.len() as u64
    }
}

/// Whether one mapping's process still lives; its frozen view if not.
pub(super) struct RegionLife {
    dead: AtomicBool,
    frozen: Box<[AtomicU64]>,
}

impl RegionLife {
    fn new(words: usize) -> RegionLife {
        RegionLife {
            dead: AtomicBool::new(false),
            frozen: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The mapping's process is gone: from now on it sees (and writes)
    /// only a copy of the words as they were.
    pub(super) fn die(&self, mem: &RegionMem) {
        for (to, from) in self.frozen.iter().zip(mem.words.iter()) {
            to.store(from.load(Ordering::SeqCst), Ordering::Relaxed);
        }
        self.dead.store(true, Ordering::SeqCst);
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// One mapping of a shared path by one simulated process.
pub(super) struct SimRegion {
    state: Arc<Mutex<State>>,
    id: u64,
    path: PathBuf,
    mem: Arc<RegionMem>,
    life: Arc<RegionLife>,
}

impl SimRegion {
    /// Maps `path` for `process`; the caller holds the state lock and has
    /// checked power, process and space.
    pub(super) fn map(
        state: &Arc<Mutex<State>>,
        s: &mut State,
        path: PathBuf,
        process: u64,
        mem: Arc<RegionMem>,
    ) -> SimRegion {
        let id = s.next_region;
        s.next_region += 1;
        let life = Arc::new(RegionLife::new(mem.words.len()));
        s.open_regions.push(super::state::OpenRegion {
            id,
            process,
            mem: Arc::clone(&mem),
            life: Arc::clone(&life),
        });
        SimRegion {
            state: Arc::clone(state),
            id,
            path,
            mem,
            life,
        }
    }

    fn conflicts(&self, s: &State, byte: u64, exclusive: bool) -> bool {
        s.region_locks.iter().any(|l| {
            l.path == self.path
                && l.byte == byte
                && l.region != self.id
                && (exclusive || l.exclusive)
        })
    }
}

impl SharedRegion for SimRegion {
    fn words(&self) -> &[AtomicU64] {
        if self.life.is_dead() {
            &self.life.frozen
        } else {
            &self.mem.words
        }
    }

    fn try_lock(&self, byte: u64, exclusive: bool) -> io::Result<bool> {
        let mut s = self.state.lock();
        if self.life.is_dead() || !s.powered {
            return Err(eio());
        }
        if self.conflicts(&s, byte, exclusive) {
            return Ok(false);
        }
        let (path, id) = (&self.path, self.id);
        s.region_locks
            .retain(|l| !(l.region == id && l.byte == byte && &l.path == path));
        s.region_locks.push(RegionLock {
            path: self.path.clone(),
            byte,
            region: self.id,
            exclusive,
        });
        Ok(true)
    }

    fn unlock(&self, byte: u64) -> io::Result<()> {
        let mut s = self.state.lock();
        // A dead mapping's locks went with it.
        let (path, id) = (&self.path, self.id);
        s.region_locks
            .retain(|l| !(l.region == id && l.byte == byte && &l.path == path));
        Ok(())
    }

    fn locked_by_other(&self, byte: u64) -> io::Result<bool> {
        let s = self.state.lock();
        if self.life.is_dead() || !s.powered {
            return Err(eio());
        }
        Ok(self.conflicts(&s, byte, true))
    }

    fn wait(&self, word: usize, expected: u32, timeout: Duration) {
        if self.life.is_dead() {
            std::thread::sleep(timeout.min(DEAD_WAIT_MAX));
            return;
        }
        let mut g = self.mem.futex.lock();
        if self.mem.words[word].load(Ordering::SeqCst) as u32 == expected {
            self.mem.cv.wait_for(&mut g, timeout);
        }
    }

    fn wake(&self, _word: usize) {
        if self.life.is_dead() {
            return;
        }
        let _g = self.mem.futex.lock();
        self.mem.cv.notify_all();
    }
}

impl Drop for SimRegion {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        let id = self.id;
        s.region_locks.retain(|l| l.region != id);
        s.open_regions.retain(|r| r.id != id);
    }
}
