//! The shared group sync: processes that write into the same log let
//! one of them sync for all (docs/FORMAT.md, words 16-21).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::layout::{
    W_SYNC_DONE, W_SYNC_GEN, W_SYNC_LEADER, W_SYNC_SINCE_MS, W_SYNC_WAITERS, W_WRITTEN_END,
};
use super::region::{now_ms, Shm};

impl Shm {
    /// Log offset before which every byte is whole (see
    /// [`Shm::publish_written`]).
    pub fn written_end(&self) -> u64 {
        self.w(W_WRITTEN_END).load(Ordering::Acquire)
    }

    /// Log offset before which everything is durable.
    pub fn sync_done(&self) -> u64 {
        self.w(W_SYNC_DONE).load(Ordering::Acquire)
    }

    /// Records that a sync which started after everything before `end` was
    /// written has completed.
    pub fn advance_sync_done(&self, end: u64) {
        self.w(W_SYNC_DONE).fetch_max(end, Ordering::AcqRel);
    }

    /// The slot of the process leading a shared sync now, if any.
    pub fn sync_leader(&self) -> Option<usize> {
        match self.w(W_SYNC_LEADER).load(Ordering::Acquire) {
            0 => None,
            s => Some(s as usize - 1),
        }
    }

    /// Becomes the shared sync's leader if nobody is.
    pub fn try_lead_sync(&self, slot: usize) -> bool {
        let led = self
            .w(W_SYNC_LEADER)
            .compare_exchange(0, slot as u64 + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if led {
            self.w(W_SYNC_SINCE_MS).store(now_ms(), Ordering::Release);
        }
        led
    }

    /// How long the current leader has led (it may have just taken the
    /// lead and not stamped it yet: then this errs long, which only makes
    /// a follower sync for itself).
    pub fn sync_leader_age(&self) -> Duration {
        let since = self.w(W_SYNC_SINCE_MS).load(Ordering::Acquire);
        Duration::from_millis(now_ms().saturating_sub(since))
    }

    /// Makes the current leader look as if it took the lead `by` earlier.
    #[cfg(test)]
    pub fn backdate_sync_leader(&self, by: Duration) {
        self.w(W_SYNC_SINCE_MS)
            .fetch_sub(by.as_millis() as u64, Ordering::AcqRel);
    }

    /// Ends `slot`'s leadership (its own, or a dead or stale leader's) and
    /// wakes the followers.
    pub fn end_sync(&self, slot: usize) {
        if self
            .w(W_SYNC_LEADER)
            .compare_exchange(slot as u64 + 1, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SeqCst with `wait_sync`: either we see its waiter, or it
            // sees the new generation and does not sleep.
            self.w(W_SYNC_GEN).fetch_add(1, Ordering::SeqCst);
            if self.w(W_SYNC_WAITERS).load(Ordering::SeqCst) > 0 {
                self.region.wake(W_SYNC_GEN);
            }
        }
    }

    pub fn sync_generation(&self) -> u64 {
        self.w(W_SYNC_GEN).load(Ordering::Acquire)
    }

    /// Sleeps until a shared sync that was running at generation `seen`
    /// ends (or `timeout`).
    pub fn wait_sync(&self, seen: u64, timeout: Duration) {
        self.w(W_SYNC_WAITERS).fetch_add(1, Ordering::SeqCst);
        if self.w(W_SYNC_GEN).load(Ordering::SeqCst) == seen {
            self.region.wait(W_SYNC_GEN, seen as u32, timeout);
        }
        self.w(W_SYNC_WAITERS).fetch_sub(1, Ordering::SeqCst);
    }
}
