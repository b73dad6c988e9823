//! The writer lease as the shared file carries it: the lease byte, the
//! holder-dirty flag, and the generation word waiters sleep on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::layout::{LEASE_LOCK_BYTE, LEASE_POLL_MAX, W_HOLDER_DIRTY, W_LEASE_GEN, W_WRITER_PID};
use super::region::Shm;
use crate::error::Result;

impl Shm {
    /// Takes the lease without waiting.
    pub fn try_lease(&self) -> Result<bool> {
        let got = self
            .region
            .try_lock(LEASE_LOCK_BYTE, true)
            .map_err(|e| self.lock_err("lock writer lease", e))?;
        if got {
            self.w(W_WRITER_PID)
                .store(u64::from(self.pid), Ordering::Release);
            self.w(W_LEASE_GEN).fetch_add(1, Ordering::AcqRel);
        }
        Ok(got)
    }

    /// Marks the log as being written by this holder; true when the
    /// previous holder never gave the lease up cleanly.
    pub fn mark_holder_dirty(&self) -> bool {
        self.w(W_HOLDER_DIRTY).swap(1, Ordering::AcqRel) != 0
    }

    /// Gives the lease up and wakes the processes waiting for it; `clean`
    /// when every frame this holder started is whole.
    pub fn release_lease(&self, clean: bool) -> Result<()> {
        if clean {
            self.w(W_HOLDER_DIRTY).store(0, Ordering::Release);
        }
        self.w(W_WRITER_PID).store(0, Ordering::Release);
        self.region
            .unlock(LEASE_LOCK_BYTE)
            .map_err(|e| self.lock_err("unlock writer lease", e))?;
        self.w(W_LEASE_GEN).fetch_add(1, Ordering::SeqCst);
        // A waiter announces itself before it looks at the generation: it
        // either sees this bump or is seen here and woken (SeqCst both).
        if self.any_waiter() {
            self.region.wake(W_LEASE_GEN);
        }
        Ok(())
    }

    pub fn lease_generation(&self) -> u64 {
        self.w(W_LEASE_GEN).load(Ordering::Acquire)
    }

    /// Sleeps until the lease changes hands (or `timeout`, capped so that
    /// a dead holder's silently freed lock is noticed soon).
    pub fn wait_lease_change(&self, seen: u64, timeout: Duration) {
        self.region
            .wait(W_LEASE_GEN, seen as u32, timeout.min(LEASE_POLL_MAX));
    }
}
