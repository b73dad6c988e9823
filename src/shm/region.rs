//! The mapped file: opening and attaching, the exclusive stretch of a
//! process alone with the database, and the checksummed identity.

use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::layout::{
    ATTACH_RETRY, OPEN_LOCK_BYTE, SHM_BYTES, SHM_MAGIC, SHM_SLOTS, SHM_VERSION, W_DB_ID,
    W_IDENTITY_CRC, W_MAGIC, W_SLOT_COUNT, W_VERSION_PAGE_SIZE, W_WRITER_PID,
};
use crate::error::{Error, Result};
use crate::storage::{SharedRegion, Storage};

/// The mapped `{path}-shm` of one database.
pub struct Shm {
    pub(super) region: Box<dyn SharedRegion>,
    pub(super) path: PathBuf,
    /// This process's id (getpid is a system call; the lease asks often).
    pub(super) pid: u32,
}

/// `{path}-shm`.
pub fn shm_path(db_path: &Path) -> PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push("-shm");
    PathBuf::from(p)
}

/// Milliseconds since the Unix epoch: the clock of slot heartbeats.
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

    /// True while this process holds the writer lease (the holder's pid
    /// word is set only by the holder, so no other process can make it
    /// read true for us).
    pub(super) fn holds_lease(&self) -> bool {
        self.w(W_WRITER_PID).load(Ordering::Acquire) == u64::from(self.pid)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn w(&self, i: usize) -> &AtomicU64 {
        &self.region.words()[i]
    }

    pub(super) fn lock_err(&self, what: &str, e: std::io::Error) -> Error {
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

    pub(super) fn identity_crc(&self) -> u32 {
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

    /// Detaches this process (clean close): the open byte goes, so that a
    /// later first opener knows it is alone.
    pub fn detach(&self) {
        let _ = self.region.unlock(OPEN_LOCK_BYTE);
    }

    /// The identity a first opener finds, before it resets the file: the
    /// database id if the old content is a valid header of this format.
    pub fn previous_db_id(&self) -> Option<u64> {
        let valid = self.w(W_MAGIC).load(Ordering::Acquire) == SHM_MAGIC
            && self.w(W_IDENTITY_CRC).load(Ordering::Relaxed) == u64::from(self.identity_crc())
            && self.w(W_VERSION_PAGE_SIZE).load(Ordering::Relaxed) as u32 == SHM_VERSION;
        valid.then(|| self.w(W_DB_ID).load(Ordering::Relaxed))
    }
}
