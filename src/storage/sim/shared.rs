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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::mutex::Mutex;

use super::super::SharedRegion;
use super::config::eio;
use super::memory::{RegionLife, RegionMem};
use super::state::{RegionLock, State};

/// How long a wait on a dead mapping sleeps (nobody will ever wake it).
const DEAD_WAIT_MAX: Duration = Duration::from_millis(1);

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
