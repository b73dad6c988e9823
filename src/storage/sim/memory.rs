//! The memory behind simulated shared regions: the words of one shared
//! path, which outlive its mappings, and each mapping's life (a dead
//! process's mapping sees a frozen copy).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::mutex::{Condvar, Mutex};

/// The memory behind one shared path, outliving its mappings.
pub(super) struct RegionMem {
    pub(super) words: Box<[AtomicU64]>,
    pub(super) futex: Mutex<()>,
    pub(super) cv: Condvar,
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
    pub(super) frozen: Box<[AtomicU64]>,
}

impl RegionLife {
    pub(super) fn new(words: usize) -> RegionLife {
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

    pub(super) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}
