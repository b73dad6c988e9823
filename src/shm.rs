//! `{path}-shm`: what the processes sharing a database tell each other.
//!
//! A small file every process maps (see docs/FORMAT.md for the layout):
//! a header - checksummed identity (magic, version, page size, db id) and
//! the published state (commit tip, durable tip, checkpoint) - and a table
//! of slots, one cache line per attached process (pid, the oldest snapshot
//! it reads at, its reader count, heartbeat, whether it waits for the
//! writer lease; see `slots`).
//!
//! Locks on single bytes of the file (never on its content) carry what
//! must die with a process: every attached process holds the open byte
//! shared (the first opener holds it exclusively while it recovers), the
//! writer lease is the lease byte held exclusively, and each slot's owner
//! holds that slot's byte - so a slot whose byte nobody holds belongs to a
//! dead process, whatever its pid field says.

use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::storage::{SharedRegion, Storage};
use crate::types::CommitSeq;

mod slots;

pub use slots::SlotInfo;

/// "LCSHM001" little-endian.
pub const SHM_MAGIC: u64 = u64::from_le_bytes(*b"LCSHM001");
pub const SHM_VERSION: u32 = 3;
/// Processes that can attach to one database at once.
pub const SHM_SLOTS: usize = 125;
/// Words of the header: identity in the first cache line, published state
/// in the second, the shared group sync in the third.
const HEADER_WORDS: usize = 24;
/// Words of one slot: one cache line, so processes do not share lines.
const SLOT_WORDS: usize = 8;
/// Size of the file.
pub const SHM_BYTES: usize = (HEADER_WORDS + SHM_SLOTS * SLOT_WORDS) * 8;

// Header words.
const W_MAGIC: usize = 0;
const W_VERSION_PAGE_SIZE: usize = 1;
const W_DB_ID: usize = 2;
const W_SLOT_COUNT: usize = 3;
const W_IDENTITY_CRC: usize = 4;
const W_COMMIT_TIP: usize = 8;
const W_DURABLE_TIP: usize = 9;
const W_CHECKPOINT_SEQ: usize = 10;
const W_CHECKPOINT_GEN: usize = 11;
const W_CHECKPOINT_TARGET: usize = 12;
const W_WRITER_PID: usize = 13;
/// Bumped whenever the lease changes hands; waiters sleep on it (futex).
const W_LEASE_GEN: usize = 14;
/// One past the highest slot ever claimed: scans stop there.
const W_SLOT_HIGH: usize = 15;
/// Bumped whenever a process adds a log segment, so others know to look.
const W_SEGMENT_GEN: usize = 5;
/// Highest commit_seq whose frames are all written, published by a holder
/// as it gives the lease up (its commits may still be syncing): the next
/// holder has nothing to read when it knows this far already.
const W_WRITTEN_TIP: usize = 7;
/// 1 while a holder of the lease may have frames half-written; cleared
/// when it gives the lease up cleanly. Found set by the next holder: the
/// last one died (or failed) holding it.
const W_HOLDER_DIRTY: usize = 6;
/// Log offset just past the commits of [`W_WRITTEN_TIP`]: everything
/// before it is whole in the log.
const W_WRITTEN_END: usize = 16;
/// Log offset before which everything is durable: advanced only after a
/// sync that covered it (see `groupsync`).
const W_SYNC_DONE: usize = 17;
/// Slot + 1 of the process whose log sync is in flight for everyone; 0
/// when none.
const W_SYNC_LEADER: usize = 18;
/// Bumped when a shared sync ends; followers sleep on it (futex).
const W_SYNC_GEN: usize = 19;
/// Followers asleep on [`W_SYNC_GEN`]: a leader wakes them only if any.
const W_SYNC_WAITERS: usize = 20;
/// When the current shared sync's leader took the lead (ms since the
/// epoch): a follower stops waiting on one that has led too long.
const W_SYNC_SINCE_MS: usize = 21;
/// Set when a process failed to make the log durable (see
/// [`Shm::record_failure`]): the log offset before which everything was
/// durable then, plus one (0: no failure).
const W_FAILED_DURABLE_END: usize = 22;
/// The failing process's pid (low half) and its boot tag (high half).
const W_FAILED_PID_BOOT: usize = 23;

// Lock bytes.
const OPEN_LOCK_BYTE: u64 = 0;
const LEASE_LOCK_BYTE: u64 = 1;

/// How often a process waiting to attach retries.
const ATTACH_RETRY: Duration = Duration::from_millis(1);
/// Longest sleep between looks at the lease: a holder that dies frees the
/// lock without waking anyone.
const LEASE_POLL_MAX: Duration = Duration::from_millis(2);

/// The published state, as `lcctl info` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShmState {
    pub commit_tip: CommitSeq,
    pub durable_tip: CommitSeq,
    pub checkpoint_seq: CommitSeq,
    pub checkpoint_generation: u64,
    pub writer_pid: u32,
}

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

/// The mapped `{path}-shm` of one database.
pub struct Shm {
    region: Box<dyn SharedRegion>,
    path: PathBuf,
    /// This process's id (getpid is a system call; the lease asks often).
    pid: u32,
}

/// `{path}-shm`.
pub fn shm_path(db_path: &Path) -> PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push("-shm");
    PathBuf::from(p)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Shm {
    /// Maps the shm file of `db_path`; `None` when `storage` cannot share
    /// memory between processes.
    pub fn open(storage: &Arc<dyn Storage>, db_path: &Path) -> Result<Option<Shm>> {
        let path = shm_path(db_path);
        let region = storage
            .open_shared(&path, SHM_BYTES)
            .map_err(|e| Error::io("open shared-memory file", &path, e))?;
        Ok(region.map(|region| Shm {
            region,
            path,
            pid: std::process::id(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn w(&self, i: usize) -> &AtomicU64 {
        &self.region.words()[i]
    }

    fn lock_err(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(what, &self.path, e)
    }

    /// Joins the processes using the database, waiting up to `busy` while
    /// a first opener recovers. True when this process is alone: it holds
    /// the open byte exclusively and must [`Shm::initialize`] and then
    /// [`Shm::share`].
    pub fn attach(&self, busy: Duration) -> Result<bool> {
        let deadline = Instant::now() + busy;
        loop {
            if self
                .region
                .try_lock(OPEN_LOCK_BYTE, true)
                .map_err(|e| self.lock_err("lock shared-memory file", e))?
            {
                return Ok(true);
            }
            if self
                .region
                .try_lock(OPEN_LOCK_BYTE, false)
                .map_err(|e| self.lock_err("lock shared-memory file", e))?
            {
                return Ok(false);
            }
            if Instant::now() >= deadline {
                return Err(Error::Busy(format!(
                    "{}: another process is opening or recovering the database (waited {} ms)",
                    self.path.display(),
                    busy.as_millis()
                )));
            }
            std::thread::sleep(ATTACH_RETRY);
        }
    }

    /// True when no other process is attached (takes the open byte
    /// exclusively; [`Shm::share`] gives it back).
    pub fn try_alone(&self) -> Result<bool> {
        self.region
            .try_lock(OPEN_LOCK_BYTE, true)
            .map_err(|e| self.lock_err("lock shared-memory file", e))
    }

    /// Turns this process's exclusive hold of the open byte into a shared
    /// one, letting other processes attach.
    pub fn share(&self) -> Result<()> {
        let ok = self
            .region
            .try_lock(OPEN_LOCK_BYTE, false)
            .map_err(|e| self.lock_err("lock shared-memory file", e))?;
        assert!(ok, "downgrading a held lock cannot conflict");
        Ok(())
    }

    /// The first opener's reset: published state and every slot (of
    /// processes that are all gone) cleared, identity invalid until
    /// [`Shm::set_identity`].
    ///
    /// A failure to sync recorded in this boot (`boot_tag`) outlives the
    /// reset, with the identity it belongs to, until a recovery has acted
    /// on it ([`Shm::clear_failure`]): a first opener that dies before
    /// that leaves it to the next one.
    pub fn clear(&self, boot_tag: u32) {
        let keep = self
            .failure()
            .filter(|f| boot_tag != 0 && f.boot_tag == boot_tag)
            .zip(self.previous_db_id());
        let identity = [
            W_MAGIC,
            W_VERSION_PAGE_SIZE,
            W_DB_ID,
            W_SLOT_COUNT,
            W_IDENTITY_CRC,
        ]
        .map(|i| self.w(i).load(Ordering::Relaxed));
        for i in 0..SHM_BYTES / 8 {
            self.w(i).store(0, Ordering::Relaxed);
        }
        if let Some((failure, _)) = keep {
            for (i, v) in [
                W_MAGIC,
                W_VERSION_PAGE_SIZE,
                W_DB_ID,
                W_SLOT_COUNT,
                W_IDENTITY_CRC,
            ]
            .into_iter()
            .zip(identity)
            {
                self.w(i).store(v, Ordering::Relaxed);
            }
            self.restore_failure(failure);
        }
        self.clear_slots();
        fence(Ordering::SeqCst);
    }

    /// The first opener, once it knows the database: writes the identity.
    pub fn set_identity(&self, page_size: u32, db_id: u64) {
        self.w(W_VERSION_PAGE_SIZE).store(
            u64::from(SHM_VERSION) | u64::from(page_size) << 32,
            Ordering::Relaxed,
        );
        self.w(W_DB_ID).store(db_id, Ordering::Relaxed);
        self.w(W_SLOT_COUNT)
            .store(SHM_SLOTS as u64, Ordering::Relaxed);
        self.w(W_IDENTITY_CRC)
            .store(u64::from(self.identity_crc()), Ordering::Relaxed);
        // The magic last: a reader that sees it sees the rest.
        self.w(W_MAGIC).store(SHM_MAGIC, Ordering::Release);
    }

    fn identity_crc(&self) -> u32 {
        let mut bytes = Vec::with_capacity(4 * 8);
        for i in [W_MAGIC, W_VERSION_PAGE_SIZE, W_DB_ID, W_SLOT_COUNT] {
            let v = if i == W_MAGIC {
                SHM_MAGIC
            } else {
                self.w(i).load(Ordering::Relaxed)
            };
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        crate::format::crc32c(&bytes)
    }

    /// Checks the identity a first opener wrote against this database.
    pub fn check(&self, page_size: u32, db_id: u64) -> Result<()> {
        let bad = |why: String| Err(Error::corrupt(format!("{}: {why}", self.path.display())));
        if self.w(W_MAGIC).load(Ordering::Acquire) != SHM_MAGIC {
            return bad("not a libcommit shared-memory file".into());
        }
        if self.w(W_IDENTITY_CRC).load(Ordering::Relaxed) != u64::from(self.identity_crc()) {
            return bad("header checksum mismatch".into());
        }
        let vp = self.w(W_VERSION_PAGE_SIZE).load(Ordering::Relaxed);
        if vp as u32 != SHM_VERSION {
            return bad(format!("version {} (expected {SHM_VERSION})", vp as u32));
        }
        if (vp >> 32) as u32 != page_size || self.w(W_DB_ID).load(Ordering::Relaxed) != db_id {
            return bad("belongs to another database".into());
        }
        Ok(())
    }

    pub fn state(&self) -> ShmState {
        ShmState {
            commit_tip: self.commit_tip(),
            durable_tip: self.w(W_DURABLE_TIP).load(Ordering::Acquire),
            checkpoint_seq: self.w(W_CHECKPOINT_SEQ).load(Ordering::Acquire),
            checkpoint_generation: self.checkpoint_generation(),
            writer_pid: self.w(W_WRITER_PID).load(Ordering::Acquire) as u32,
        }
    }

    // --- the writer lease ---

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

    // --- published state ---

    pub fn commit_tip(&self) -> CommitSeq {
        self.w(W_COMMIT_TIP).load(Ordering::Acquire)
    }

    /// Publishes commits up to `visible` as visible and `durable` as
    /// durable (never moving either back).
    pub fn publish(&self, visible: CommitSeq, durable: CommitSeq) {
        self.w(W_DURABLE_TIP).fetch_max(durable, Ordering::AcqRel);
        self.w(W_COMMIT_TIP).fetch_max(visible, Ordering::AcqRel);
    }

    /// Publishes commits up to `seq`, ending at log offset `end`, as
    /// written (by the holder, at release). The offset first: whoever sees
    /// the tip sees an end at least that far.
    pub fn publish_written(&self, seq: CommitSeq, end: u64) {
        self.w(W_WRITTEN_END).fetch_max(end, Ordering::AcqRel);
        self.w(W_WRITTEN_TIP).fetch_max(seq, Ordering::AcqRel);
    }

    /// Log offset before which every byte is whole (see
    /// [`Shm::publish_written`]).
    pub fn written_end(&self) -> u64 {
        self.w(W_WRITTEN_END).load(Ordering::Acquire)
    }

    // --- the shared group sync (see groupsync.rs) ---

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

    // --- fail-stop across processes ---

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

    /// The identity a first opener finds, before it resets the file: the
    /// database id if the old content is a valid header of this format.
    pub fn previous_db_id(&self) -> Option<u64> {
        let valid = self.w(W_MAGIC).load(Ordering::Acquire) == SHM_MAGIC
            && self.w(W_IDENTITY_CRC).load(Ordering::Relaxed) == u64::from(self.identity_crc())
            && self.w(W_VERSION_PAGE_SIZE).load(Ordering::Relaxed) as u32 == SHM_VERSION;
        valid.then(|| self.w(W_DB_ID).load(Ordering::Relaxed))
    }

    pub fn written_tip(&self) -> CommitSeq {
        self.w(W_WRITTEN_TIP).load(Ordering::Acquire)
    }

    /// Resets the published tips (first opener, after recovery, which left
    /// the log durable up to `end`).
    pub fn reset_tips(
        &self,
        last: CommitSeq,
        end: u64,
        checkpoint_seq: CommitSeq,
        generation: u64,
    ) {
        self.w(W_COMMIT_TIP).store(last, Ordering::Release);
        self.w(W_DURABLE_TIP).store(last, Ordering::Release);
        self.w(W_WRITTEN_END).store(end, Ordering::Release);
        self.w(W_WRITTEN_TIP).store(last, Ordering::Release);
        self.w(W_SYNC_DONE).store(end, Ordering::Release);
        self.w(W_SYNC_LEADER).store(0, Ordering::Release);
        self.publish_checkpoint(checkpoint_seq, generation);
    }

    pub fn segment_generation(&self) -> u64 {
        self.w(W_SEGMENT_GEN).load(Ordering::Acquire)
    }

    /// Announces a new segment (after it is in place under its name).
    pub fn bump_segment_generation(&self) {
        self.w(W_SEGMENT_GEN).fetch_add(1, Ordering::AcqRel);
    }

    /// Detaches this process (clean close): the open byte goes, so that a
    /// later first opener knows it is alone.
    pub fn detach(&self) {
        let _ = self.region.unlock(OPEN_LOCK_BYTE);
    }

    pub fn checkpoint_generation(&self) -> u64 {
        self.w(W_CHECKPOINT_GEN).load(Ordering::Acquire)
    }

    pub fn publish_checkpoint(&self, seq: CommitSeq, generation: u64) {
        self.w(W_CHECKPOINT_SEQ).store(seq, Ordering::Release);
        self.w(W_CHECKPOINT_GEN)
            .store(generation, Ordering::Release);
    }

    /// What a checkpoint in progress (or the last one) may reach. SeqCst,
    /// paired with the slots' snapshots: a reader publishes its snapshot
    /// and then reads this; a checkpointer stores this and then reads the
    /// snapshots - so at least one of them sees the other.
    pub fn checkpoint_target(&self) -> CommitSeq {
        self.w(W_CHECKPOINT_TARGET).load(Ordering::SeqCst)
    }

    pub fn set_checkpoint_target(&self, target: CommitSeq) {
        self.w(W_CHECKPOINT_TARGET).store(target, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}
