//! Fail-stop across processes: the first failed sync of the log is
//! recorded here, so no process builds on bytes that may not be on disk.

use std::path::Path;
use std::sync::atomic::{fence, Ordering};

use super::layout::{W_FAILED_DURABLE_END, W_FAILED_PID_BOOT};
use super::region::Shm;
use crate::error::Error;

/// A failure to make the log durable, as one process recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncFailure {
    /// Everything in the log before this offset was durable.
    pub durable_end: u64,
    pub pid: u32,
    /// The boot it happened in: only then can the page cache still hold
    /// bytes that are not on disk.
    pub boot_tag: u32,
}

impl SyncFailure {
    /// The error every process sharing the database gets from now on.
    pub fn error(&self, shm_path: &Path) -> Error {
        Error::Io {
            context: format!(
                "{}: making the log durable failed in process {} (only the log before offset {} is known durable); every process must close the database, and the next open recovers that prefix",
                shm_path.display(),
                self.pid,
                self.durable_end
            ),
            source: std::io::Error::other("log sync failed in a process sharing the database"),
        }
    }
}

/// The log offset a recovery in this boot must not replay past: a sync
/// failed there, recorded by a process of database `db_id` in the boot
/// `boot_tag`. After a reboot the page cache is gone, and with it every
/// byte a failed write-back left readable but not on disk - recovery then
/// sees the disk as it is.
pub fn failure_limit(shm: &Shm, db_id: u64, boot_tag: u32) -> Option<u64> {
    let f = shm.failure()?;
    (shm.previous_db_id() == Some(db_id) && boot_tag != 0 && f.boot_tag == boot_tag)
        .then_some(f.durable_end)
}

impl Shm {
    /// Records that this process failed to make log bytes durable (a
    /// failed sync or write): after an error the kernel may drop the dirty
    /// pages yet mark them clean, so another process's later sync
    /// "succeeds" over them. Everything before `durable_end` was durable
    /// when it happened. The first record stands: later ones (from
    /// processes stopping because of it) know less.
    pub fn record_failure(&self, durable_end: u64, boot_tag: u32) {
        // The pid and boot first: whoever sees the offset sees them too.
        let pid_boot = u64::from(self.pid) | u64::from(boot_tag) << 32;
        if self.w(W_FAILED_DURABLE_END).load(Ordering::Acquire) != 0 {
            return;
        }
        self.w(W_FAILED_PID_BOOT).store(pid_boot, Ordering::Release);
        let _ = self.w(W_FAILED_DURABLE_END).compare_exchange(
            0,
            durable_end.saturating_add(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        fence(Ordering::SeqCst);
    }

    /// The failure some process recorded, if any.
    pub fn failure(&self) -> Option<SyncFailure> {
        fence(Ordering::SeqCst);
        let encoded = self.w(W_FAILED_DURABLE_END).load(Ordering::Acquire);
        let pid_boot = self.w(W_FAILED_PID_BOOT).load(Ordering::Acquire);
        (encoded != 0).then_some(SyncFailure {
            durable_end: encoded - 1,
            pid: pid_boot as u32,
            boot_tag: (pid_boot >> 32) as u32,
        })
    }

    /// Records `f` again (a first opener keeps it across its reset until
    /// its recovery has acted on it).
    pub fn restore_failure(&self, f: SyncFailure) {
        self.w(W_FAILED_PID_BOOT).store(
            u64::from(f.pid) | u64::from(f.boot_tag) << 32,
            Ordering::Release,
        );
        self.w(W_FAILED_DURABLE_END)
            .store(f.durable_end.saturating_add(1), Ordering::Release);
    }

    /// Forgets the failure (the log was restarted past it).
    pub fn clear_failure(&self) {
        self.w(W_FAILED_DURABLE_END).store(0, Ordering::Release);
        self.w(W_FAILED_PID_BOOT).store(0, Ordering::Release);
    }
}
