//! The writer lease, as one process uses it: whichever thread needs it
//! first takes it from the OS (waiting up to busy_timeout for another
//! process to let go) and catches up; threads that come while it is held
//! join; the last one out gives it back. A process that sees another one
//! waiting stops letting threads join, so a busy process cannot starve the
//! others, and after giving the lease up it lets a waiter take it first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mutex::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::options::Options;
use crate::shm::Shm;
use crate::storage::{OpenMode, StorageFile};

/// How often a waiter for `{path}-lock` retries.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(2);

/// How long a process that gave the lease up for a waiting process lets
/// that process go first before it competes again.
const YIELD_MAX: Duration = Duration::from_millis(2);

#[derive(Default)]
struct State {
    held: bool,
    /// Threads inside the lease.
    users: usize,
    /// A thread is taking the lease from the OS (and catching up).
    acquiring: bool,
    /// Another process waits: no new thread joins until the lease is given up.
    draining: bool,
    /// Set when the lease was given up to a waiting process: its
    /// generation then, and when.
    yielded: Option<(u64, Instant)>,
    /// Times this process has taken the lease. A thread that waited while
    /// it was taken joins even when another process waits too: threads
    /// queued for a turn share it (and its group sync).
    turns: u64,
}

/// One process's side of the writer lease of one database.
pub struct Lease {
    pub shm: Arc<Shm>,
    /// This process's slot in the shm.
    pub slot: usize,
    busy: Duration,
    state: Mutex<State>,
    cv: Condvar,
}

/// Whether [`Lease::enter`] may wait for the lease.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Up to busy_timeout, then Busy.
    Busy,
    /// Not at all: Ok(false) when another process holds it.
    No,
}

impl Lease {
    pub fn new(shm: Arc<Shm>, slot: usize, busy: Duration) -> Lease {
        Lease {
            shm,
            slot,
            busy,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    /// Enters the lease, taking it from the OS when this process does not
    /// hold it; `caught_up` runs right after taking it, before any thread
    /// enters, told whether the previous holder died holding it (an error
    /// there gives the lease back). Every Ok(true) must be paired with
    /// [`Lease::exit`].
    pub fn enter(&self, wait: Wait, caught_up: impl FnOnce(bool) -> Result<()>) -> Result<bool> {
        let deadline = Instant::now() + self.busy;
        let mut st = self.state.lock();
        let mut queued_at: Option<u64> = None;
        loop {
            if st.held && queued_at.is_some_and(|t| st.turns > t) {
                st.users += 1;
                return Ok(true);
            }
            if st.held && !st.draining {
                if self.shm.others_want_lease(self.slot) {
                    st.draining = true;
                } else {
                    st.users += 1;
                    return Ok(true);
                }
            }
            if !st.held && !st.acquiring {
                st.acquiring = true;
                let yielded = st.yielded.take();
                let got = crate::mutex::MutexGuard::unlocked(&mut st, || {
                    self.take(deadline, wait, yielded)
                });
                let got = got.and_then(|got| {
                    if !got {
                        return Ok(false);
                    }
                    match caught_up(self.shm.mark_holder_dirty()) {
                        Ok(()) => Ok(true),
                        Err(e) => {
                            let _ = self.shm.release_lease(false);
                            Err(e)
                        }
                    }
                });
                st.acquiring = false;
                self.cv.notify_all();
                if let Ok(true) = got {
                    st.held = true;
                    st.draining = false;
                    st.turns += 1;
                    st.users += 1;
                }
                return got;
            }
            if wait == Wait::No {
                return Ok(false);
            }
            queued_at.get_or_insert(st.turns);
            if self.cv.wait_until(&mut st, deadline).timed_out() {
                return Err(self.busy_error());
            }
        }
    }

    /// Leaves the lease; the last thread out gives it back to the OS.
    /// `clean`: this process has not failed (its frames are whole).
    pub fn exit(&self, clean: bool) {
        let mut st = self.state.lock();
        assert!(st.held && st.users > 0, "lease exit without enter");
        st.users -= 1;
        if st.users > 0 {
            return;
        }
        let wanted = st.draining || self.shm.others_want_lease(self.slot);
        st.held = false;
        st.draining = false;
        if let Err(e) = self.shm.release_lease(clean) {
            // The kernel frees it when the process exits; nothing else to do.
            tracing::error!("giving up the writer lease failed: {e}");
        }
        st.yielded = wanted.then(|| (self.shm.lease_generation(), Instant::now()));
        self.cv.notify_all();
    }

    /// Takes the lease from the OS.
    fn take(&self, deadline: Instant, wait: Wait, yielded: Option<(u64, Instant)>) -> Result<bool> {
        if let Some((generation, since)) = yielded {
            // Let the process we gave way to take it first.
            while self.shm.lease_generation() == generation
                && since.elapsed() < YIELD_MAX
                && self.shm.others_want_lease(self.slot)
            {
                self.shm
                    .wait_lease_change(generation, YIELD_MAX.saturating_sub(since.elapsed()));
            }
        }
        if wait == Wait::No {
            return self.shm.try_lease();
        }
        self.shm.set_wants_lease(self.slot, true);
        let r = loop {
            let seen = self.shm.lease_generation();
            match self.shm.try_lease() {
                Ok(true) => break Ok(true),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(self.busy_error());
            }
            self.shm.wait_lease_change(seen, deadline - now);
        };
        self.shm.set_wants_lease(self.slot, false);
        r
    }

    fn busy_error(&self) -> Error {
        let holder = match self.shm.state().writer_pid {
            0 => String::new(),
            pid => format!(" (pid {pid})"),
        };
        Error::Busy(format!(
            "{}: another process holds the writer lease{holder}; waited {} ms",
            self.shm.path().display(),
            self.busy.as_millis()
        ))
    }
}

// Storage that cannot be shared between processes has no lease: one
// engine at a time holds `{path}-lock` instead, for its whole life.

/// Takes `{path}-lock` exclusively, waiting up to the busy timeout.
pub fn take_writer_lock(opts: &Options, path: &Path) -> Result<Box<dyn StorageFile>> {
    take_lock(opts, path, false)?.ok_or_else(|| Error::Internal("lock file vanished".into()))
}

/// Takes `{path}-lock`, waiting up to the busy timeout: exclusively for a
/// writer; shared for a read-only handle, so that read-only processes run
/// side by side but never beside a writer whose checkpoints would reuse
/// the space they read. A read-only opener that cannot create the lock
/// file (read-only media) goes without; `None` then. The caller has
/// checked that the directory exists.
pub fn take_lock(
    opts: &Options,
    path: &Path,
    shared: bool,
) -> Result<Option<Box<dyn StorageFile>>> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push("-lock");
    let lock_path = PathBuf::from(lock_path);
    let file = match opts.storage.open_for_locks(&lock_path, OpenMode::Create) {
        Ok(f) => f,
        Err(e) if shared => {
            if let Ok(f) = opts.storage.open_for_locks(&lock_path, OpenMode::ReadOnly) {
                f
            } else {
                tracing::debug!("read-only open of {} without a lock: {e}", path.display());
                return Ok(None);
            }
        }
        Err(e) => return Err(Error::io("open lock file", &lock_path, e)),
    };
    let deadline = Instant::now() + Duration::from_millis(u64::from(opts.busy_timeout_ms));
    loop {
        let got = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock_exclusive()
        }
        .map_err(|e| Error::io("lock", &lock_path, e))?;
        if got {
            return Ok(Some(file));
        }
        if Instant::now() >= deadline {
            let holder = if shared {
                "a writer"
            } else {
                "another process"
            };
            return Err(Error::Busy(format!(
                "{}: {holder} holds the database lock (waited {} ms)",
                path.display(),
                opts.busy_timeout_ms
            )));
        }
        std::thread::sleep(LOCK_RETRY_INTERVAL);
    }
}
